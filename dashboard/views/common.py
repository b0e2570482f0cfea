"""What the views share: the audit log's queries, who is acting, and redirects that keep filters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyramid.httpexceptions import HTTPSeeOther

from pyramid_elasticjobs.audit import get_audit_store
from pyramid_elasticjobs.audit.queries import AuditQueries
from pyramid_elasticjobs.runtime import get_runtime

from ..security import ROUTE_PREFIX

if TYPE_CHECKING:
    from pyramid.request import Request


def queries(request: Request) -> AuditQueries:
    """The audit log's queries, once every job event recorded so far is written."""
    store = get_audit_store(request.registry)
    store.flush()
    return AuditQueries(store.engine)


def actor(request: Request) -> str:
    """Who acts, as the audit log records it."""
    userid = request.authenticated_userid
    return str(userid) if userid is not None else f"anonymous ({request.client_addr})"


def url(request: Request, name: str, **parts: object) -> str:
    return str(request.route_url(ROUTE_PREFIX + name, **parts))


def see_other(request: Request, name: str, notice: str, **parts: object) -> HTTPSeeOther:
    """Back to a page after an action (303: the browser GETs it), with a notice code."""
    query = dict(parts.pop("_query", {}) or {})  # type: ignore[call-overload]
    query["notice"] = notice
    return HTTPSeeOther(location=url(request, name, _query=query, **parts))


def filter_choices(request: Request) -> tuple[list[str], list[str]]:
    """The job names and queues the filters offer: this application's own.

    From the registry and the settings, not the log: a DISTINCT over millions of rows (or
    even over the rollups) on every page would cost more than the page itself.
    """
    runtime = get_runtime(request.registry)
    context = request.registry["elasticjobs.dashboard.context"]
    queue_names = {runtime.settings.default_queue, *context.settings.queues}
    queue_names.update(definition.queue for definition in runtime.jobs if definition.queue)
    return runtime.jobs.names(), sorted(queue_names)
