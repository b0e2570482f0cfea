"""In-process measurements: the WSGI app called directly with a prepared environ."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from pyramid.router import Router
from webob import Request as WebObRequest

from . import apps
from .common import BenchmarkError, Goal, Result, timed_result
from .traffic import BROWSER_GET, Replay, daemon_delivery

Call = Callable[[], None]


def environ_for(replay: Replay) -> dict[str, Any]:
    """The environ a WSGI server would build for ``replay`` from 127.0.0.1 (the daemon's host)."""
    request = WebObRequest.blank(
        replay.path, headers=replay.headers, method=replay.method, body=replay.body
    )
    environ = {k: v for k, v in request.environ.items() if not k.startswith("webob.")}
    environ["REMOTE_ADDR"] = "127.0.0.1"
    return environ


def wsgi_call(app: Router, replay: Replay) -> Call:
    """One full request through ``app`` (body read, response iterated and closed), checked 200."""
    template = environ_for(replay)
    body = replay.body

    def call() -> None:
        environ = template.copy()
        environ["wsgi.input"] = io.BytesIO(body)
        statuses: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            statuses.append(status)

        result = app(environ, start_response)
        try:
            for _ in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if statuses != ["200 OK"]:
            raise BenchmarkError(f"{replay.method} {replay.path} answered {statuses}, not 200 OK")

    return call


def get_pair(*, tm: bool = False) -> tuple[Call, Call]:
    """(a) A browser's GET through the app with the include, and without it."""
    return (
        wsgi_call(apps.with_include(tm=tm), BROWSER_GET),
        wsgi_call(apps.without_include(tm=tm), BROWSER_GET),
    )


def job_pair() -> tuple[Call, Call]:
    """(b) The daemon's POST of a signed no-op job, and the same POST to a decode-only view."""
    delivery = daemon_delivery()
    return wsgi_call(apps.with_include(), delivery), wsgi_call(apps.bare_decode(), delivery)


def measure_get(rounds: int, seconds: float, *, tm: bool = False) -> Result:
    ours, baseline = get_pair(tm=tm)
    return timed_result(
        "get-tm" if tm else "get",
        f"(a) GET, include vs none, in-process{', both with pyramid_tm' if tm else ''}",
        ours,
        baseline,
        goal=Goal(1.03),
        rounds=rounds,
        seconds_per_round=seconds,
    )


def measure_job(rounds: int, seconds: float) -> Result:
    ours, baseline = job_pair()
    return timed_result(
        "job",
        "(b) no-op job vs decode-only view, in-process",
        ours,
        baseline,
        goal=Goal(1.5),
        rounds=rounds,
        seconds_per_round=seconds,
    )
