"""The demo page: buttons that enqueue jobs, and what became of them."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther

from pyramid_elasticjobs import EnqueueError, InvalidJobArguments

from .actions import ACTIONS
from .activity import recent_activity
from .queues import queue_depths

if TYPE_CHECKING:
    from pyramid.config import Configurator
    from pyramid.request import Request

TEMPLATES = "elasticjobs_demo:templates/"


def status(request: Request) -> dict[str, Any]:
    """What the live panel shows: queue depths, and recent jobs from the audit log."""
    activity = recent_activity(request.registry)
    return {
        "depths": queue_depths(request.registry),
        "activity": activity.entries,
        "counts": activity.counts,
        "activity_error": activity.error,
    }


def home(request: Request) -> dict[str, Any]:
    return {
        "actions": ACTIONS,
        "flashes": request.session.pop_flash(),
        "csrf_token": request.session.get_csrf_token(),
        **status(request),
    }


def live(request: Request) -> dict[str, Any]:
    return status(request)


def activity_json(request: Request) -> dict[str, Any]:
    current = status(request)
    return {
        "activity": [entry.to_dict() for entry in current["activity"]],
        "counts": current["counts"],
        "queues": [asdict(depth) for depth in current["depths"]],
    }


def enqueue(request: Request) -> HTTPSeeOther:
    """Enqueue the button's job, then redirect so a reload does not enqueue it again."""
    action = ACTIONS.get(request.matchdict["action"])
    if action is None:
        raise HTTPNotFound("no such button")
    arguments = dict(action.arguments)
    if action.visitor_argument is not None:
        arguments[action.visitor_argument] = request.POST.get(action.visitor_argument, "")
    try:
        job = request.elasticjobs.enqueue(action.job, delay=action.delay, **arguments)
    except InvalidJobArguments as error:
        request.session.flash(
            {"kind": "error", "text": f"Refused: {error.job_name}", "errors": error.errors}
        )
    except EnqueueError as error:
        request.session.flash({"kind": "error", "text": f"Not enqueued: {error}", "errors": {}})
    else:
        due = f", due in {action.delay.total_seconds() / 60:.0f} minutes" if action.delay else ""
        request.session.flash(
            {"kind": "success", "text": f"Enqueued {job.name} as {job.job_id}{due}", "errors": {}}
        )
    return HTTPSeeOther(request.route_url("home"))


def includeme(config: Configurator) -> None:
    config.add_route("home", "/")
    config.add_view(
        home, route_name="home", request_method="GET", renderer=TEMPLATES + "home.jinja2"
    )
    config.add_route("live", "/live")
    config.add_view(
        live, route_name="live", request_method="GET", renderer=TEMPLATES + "live.jinja2"
    )
    config.add_route("activity_json", "/activity.json")
    config.add_view(
        activity_json, route_name="activity_json", request_method="GET", renderer="json"
    )
    config.add_route("enqueue", "/jobs/{action}")
    config.add_view(enqueue, route_name="enqueue", request_method="POST")
