"""The demo page: buttons that enqueue jobs (the dashboard shows what became of them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther

from pyramid_elasticjobs import EnqueueError, InvalidJobArguments

from .actions import ACTIONS

if TYPE_CHECKING:
    from pyramid.config import Configurator
    from pyramid.request import Request

TEMPLATES = "elasticjobs_demo:templates/"


def home(request: Request) -> dict[str, Any]:
    """The buttons; what became of the jobs is the dashboard's to show."""
    return {
        "actions": ACTIONS,
        "flashes": request.session.pop_flash(),
        "csrf_token": request.session.get_csrf_token(),
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
            {
                "kind": "success",
                "text": f"Enqueued {job.name} as {job.job_id}{due}",
                "errors": {},
                "job_id": job.job_id,
            }
        )
    return HTTPSeeOther(request.route_url("home"))


def includeme(config: Configurator) -> None:
    config.add_route("home", "/")
    config.add_view(
        home, route_name="home", request_method="GET", renderer=TEMPLATES + "home.jinja2"
    )
    config.add_route("enqueue", "/jobs/{action}")
    config.add_view(enqueue, route_name="enqueue", request_method="POST")
