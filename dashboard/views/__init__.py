"""The dashboard's pages and actions: thin views over the audit log and the DLQ service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..security import ROUTE_PREFIX
from . import deadletters, failures, health, jobs, overview

if TYPE_CHECKING:
    from pyramid.config import Configurator

    from ..settings import DashboardSettings


def add_views(config: Configurator, settings: DashboardSettings) -> None:
    """Every page requires the view permission; every action is a CSRF-checked POST requiring
    the manage permission, and is not even routed in read-only mode."""
    look = {"permission": settings.view_permission, "request_method": "GET"}
    act = {
        "permission": settings.manage_permission,
        "request_method": "POST",
        "require_csrf": True,
    }
    pages = (
        ("overview", overview.overview),
        ("live", overview.live),
        ("jobs", jobs.job_list),
        ("job", jobs.job_detail),
        ("health", health.health),
        ("failures", failures.failures),
        ("dead_letters", deadletters.dead_letters),
        ("dead_letter_queue", deadletters.dead_letter_queue),
    )
    for name, view in pages:
        config.add_view(view, route_name=ROUTE_PREFIX + name, **look)
    if settings.read_only:
        return
    config.add_view(jobs.enqueue_again, route_name=ROUTE_PREFIX + "enqueue_again", **act)
    # One view per action name; any other name matches no view: 404.
    for action, bulk_view in (("retry", failures.retry), ("discard", failures.discard)):
        config.add_view(
            bulk_view,
            route_name=ROUTE_PREFIX + "failures_action",
            match_param=f"action={action}",
            **act,
        )
    for action, letter_view in deadletters.ACTIONS.items():
        config.add_view(
            letter_view,
            route_name=ROUTE_PREFIX + "dead_letter_action",
            match_param=f"action={action}",
            **act,
        )
    # The edit form is shown to those who may act, and only where actions exist.
    config.add_view(
        deadletters.edit_form,
        route_name=ROUTE_PREFIX + "dead_letter_action",
        match_param="action=edit",
        permission=settings.manage_permission,
        request_method="GET",
    )
