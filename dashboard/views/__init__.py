"""The dashboard's pages and actions: thin views over the audit log and the DLQ service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..security import ROUTE_PREFIX
from . import health, jobs, overview

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
    )
    for name, view in pages:
        config.add_view(view, route_name=ROUTE_PREFIX + name, **look)
    if not settings.read_only:
        config.add_view(jobs.enqueue_again, route_name=ROUTE_PREFIX + "enqueue_again", **act)
