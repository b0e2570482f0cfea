"""A minimal Pyramid application with pyramid_elasticjobs: the deployment kit's example."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.router import Router

from .jobs import send_welcome_email


def main(global_config: dict[str, Any], **settings: Any) -> Router:
    """The paste app factory (``use = call:myapp:main`` in production.ini)."""
    with Configurator(settings=settings) as config:
        config.include("pyramid_tm")  # jobs enqueued in a request are sent after it commits
        config.include("pyramid_elasticjobs")
        config.add_route("home", "/")
        config.add_view(home, route_name="home", renderer="json")
        config.add_route("signup", "/signup")
        config.add_view(signup, route_name="signup", request_method="POST", renderer="json")
        config.scan(".jobs")
    router: Router = config.make_wsgi_app()
    return router


def home(request: Request) -> dict[str, str]:
    """200 for the load balancer's health check."""
    return {"status": "ok"}


def signup(request: Request) -> dict[str, str]:
    """Enqueue a job from a view: checked against its contract, signed, sent after commit."""
    request.elasticjobs.enqueue(send_welcome_email, user_id=int(request.POST["user_id"]))
    return {"status": "queued"}
