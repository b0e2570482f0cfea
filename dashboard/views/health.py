"""Settings health: what this application is configured to do, checked where it can be."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyramid_elasticjobs.runtime import get_runtime

from ..rendering import render
from .queues import queue_health, summary

if TYPE_CHECKING:
    from pyramid.request import Request
    from pyramid.response import Response


def health(request: Request) -> Response:
    runtime = get_runtime(request.registry)
    settings = runtime.settings
    return render(
        request,
        "health.jinja2",
        settings=settings,
        jobs=sorted(runtime.jobs, key=lambda definition: definition.name),
        secrets=len(settings.secrets),
        queues=queue_health(summary(request, oldest=False, tasks=False), request.registry.settings),
    )
