"""The jobs list (filters, keyset pages), a job's detail, and enqueueing it again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyramid.httpexceptions import HTTPNotFound

from pyramid_elasticjobs import ElasticJobsError, get_client
from pyramid_elasticjobs.audit import get_audit_store
from pyramid_elasticjobs.jobs import REDACTED

from ..filters import STATES, cursor, job_filter, query_of
from ..rendering import render
from .common import actor, filter_choices, queries, see_other

if TYPE_CHECKING:
    from pyramid.request import Request
    from pyramid.response import Response


def job_list(request: Request) -> Response:
    filters = job_filter(request.GET)
    settings = request.registry["elasticjobs.dashboard.context"].settings
    page = queries(request).jobs(filters, cursor(request.GET), settings.page_size)
    names, queue_names = filter_choices(request)
    return render(
        request,
        "jobs.jinja2",
        filters=filters,
        query=query_of(filters),
        page=page,
        states=STATES,
        names=names,
        queues=queue_names,
        first_page="after" not in request.GET,
    )


def job_detail(request: Request) -> Response:
    job, attempts = queries(request).job(request.matchdict["job_id"])
    if job is None:
        raise HTTPNotFound("no job with this id in the audit log")
    return render(
        request,
        "job.jinja2",
        job=job,
        attempts=list(reversed(attempts)),
        can_enqueue_again=_enqueue_again_refusal(job.arguments) is None,
        enqueue_again_refusal=_enqueue_again_refusal(job.arguments),
        notice=request.GET.get("notice"),
    )


def enqueue_again(request: Request) -> Response:
    """Send the job again with the arguments the audit log kept: a new job, linked to this one."""
    job, _ = queries(request).job(request.matchdict["job_id"])
    if job is None:
        raise HTTPNotFound("no job with this id in the audit log")
    if _enqueue_again_refusal(job.arguments) is not None:
        return see_other(request, "job", "cannot_enqueue_again", job_id=job.job_id)
    try:
        enqueued = get_client(request.registry).enqueue(job.name, **(job.arguments or {}))
    except ElasticJobsError:
        return see_other(request, "job", "enqueue_failed", job_id=job.job_id)
    get_audit_store(request.registry).action_taken(
        actor=actor(request),
        action="enqueue_again",
        queue=job.queue,
        job_id=job.job_id,
        detail={"new_job_id": enqueued.job_id, "message_id": enqueued.message_id},
    )
    return see_other(request, "job", "enqueued_again", job_id=enqueued.job_id)


def _enqueue_again_refusal(arguments: dict[str, object] | None) -> str | None:
    """Why this job cannot be sent again as recorded, or None if it can."""
    if arguments is None:
        return "its arguments were not recorded (a job this application does not declare)"
    if REDACTED in arguments.values():
        return "some of its arguments are redacted in the audit log"
    return None
