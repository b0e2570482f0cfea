"""Jinja2 templates of the dashboard, always autoescaped.

The dashboard keeps its own environment rather than registering a pyramid_jinja2 renderer:
an application's ``.jinja2`` renderer (and its ``jinja2.*`` settings, autoescape included)
would take precedence over one an add-on registers, and everything shown here is
attacker-influenced (message bodies, job names, error messages).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pyramid.csrf import get_csrf_token
from pyramid.response import Response

if TYPE_CHECKING:
    from pyramid.request import Request


def create_environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("pyramid_elasticjobs.dashboard", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["moment"] = moment
    environment.filters["ago"] = ago
    environment.filters["duration"] = duration
    environment.filters["pretty_json"] = pretty_json
    environment.globals["csrf_token"] = get_csrf_token
    return environment


def render(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    """The page ``template`` with ``values`` and what every page needs (urls, csrf, banner)."""
    environment: Environment = request.registry["elasticjobs.dashboard.templates"]
    dashboard = request.registry["elasticjobs.dashboard.context"]
    # Action forms only for those who may use them (and never in read-only mode).
    may_act = dashboard.can_act and bool(
        request.has_permission(dashboard.settings.manage_permission)
    )
    page = environment.get_template(template).render(
        request=request, dashboard=dashboard, may_act=may_act, **values
    )
    return Response(page, status=status, content_type="text/html", charset="utf-8")


def moment(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "—"
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
