"""The WSGI apps compared: with and without the include, and the bare floor of the worker side."""

from __future__ import annotations

import json
from collections.abc import Callable

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.router import Router

from . import jobs
from .common import UNUSED_ENDPOINT, app_settings


def _home(request: Request) -> Response:
    # A plain Response, no renderer: the smaller the view, the more any overhead shows.
    return Response("home")


def _decode_only(request: Request) -> Response:
    """The floor a worker endpoint cannot go below: read the body, parse the JSON, answer 200."""
    json.loads(request.body)
    return Response()


def _configured(configure: Callable[[Configurator], None], endpoint_url: str) -> Router:
    with Configurator(settings=app_settings(endpoint_url)) as config:
        configure(config)
    return config.make_wsgi_app()


def with_include(endpoint_url: str = UNUSED_ENDPOINT, *, tm: bool = False) -> Router:
    """A site with pyramid_elasticjobs included, jobs registered and job processing on."""

    def configure(config: Configurator) -> None:
        if tm:
            config.include("pyramid_tm")
        config.include("pyramid_elasticjobs")
        config.scan(jobs)
        config.add_route("home", "/")
        config.add_view(_home, route_name="home")

    return _configured(configure, endpoint_url)


def without_include(endpoint_url: str = UNUSED_ENDPOINT, *, tm: bool = False) -> Router:
    """The same site without pyramid_elasticjobs."""

    def configure(config: Configurator) -> None:
        if tm:
            config.include("pyramid_tm")
        config.add_route("home", "/")
        config.add_view(_home, route_name="home")

    return _configured(configure, endpoint_url)


def bare_decode(endpoint_url: str = UNUSED_ENDPOINT) -> Router:
    """A bare Pyramid view on the daemon's path that only decodes the JSON body."""

    def configure(config: Configurator) -> None:
        config.add_route("worker", "/")
        config.add_view(_decode_only, route_name="worker")

    return _configured(configure, endpoint_url)


#: By name, for ``python -m bench.serve NAME``.
APPS: dict[str, Callable[[], Router]] = {
    "with-include": with_include,
    "without-include": without_include,
    "bare-decode": bare_decode,
}
