"""Failures grouped by job and exception class, and bulk retry/discard of the selection.

The selection is the page's GET filters; each action posts them back and redirects to
the same filtered URL, so the list keeps its filters after acting (Mission Control's
users asked for exactly that).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from pyramid_elasticjobs.audit import get_audit_store
from pyramid_elasticjobs.audit.queries import FAILED_STATES, JobFilter

from .. import bulk
from ..filters import PERIODS, job_filter, period, query_of
from ..rendering import render
from .common import actor, filter_choices, queries, see_other

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyramid.request import Request
    from pyramid.response import Response

#: How many of the selection's jobs the page lists (newest first).
LISTED_JOBS = 50
#: The result counts a redirect after an action carries, by name.
RESULT_KEYS = ("done", "skipped", "failed", "more")


@dataclass(frozen=True, slots=True)
class Selection:
    """The failures the page shows and the actions act on."""

    filters: JobFilter  # its ``since`` resolved from the period when none was given
    query: dict[str, str]  # the GET parameters that reproduce it (a period stays relative)
    period: str | None

    @property
    def states(self) -> tuple[str, ...]:
        return (self.filters.state,) if self.filters.state else FAILED_STATES


def selection(params: Mapping[str, str], now: datetime | None = None) -> Selection:
    """The selection from GET (or an action's POST) parameters; anything else is dropped."""
    given = job_filter(params)
    filters = replace(
        given, state=given.state if given.state in FAILED_STATES else None, search=None
    )
    query = query_of(filters)
    chosen = None
    if filters.since is None:
        chosen, since = period(params, now)
        query["period"] = chosen
        filters = replace(filters, since=since)
    return Selection(filters, query, chosen)


def failures(request: Request) -> Response:
    chosen = selection(request.GET)
    audit = queries(request)
    names, queue_names = filter_choices(request)
    jobs = audit.failing_jobs(chosen.filters, chosen.states, None, LISTED_JOBS).jobs
    return render(
        request,
        "failures.jinja2",
        selection=chosen,
        groups=audit.failure_breakdown(chosen.filters),
        jobs=[(job, bulk.retry_refusal(job)) for job in jobs],
        failed_states=FAILED_STATES,
        retry_states=bulk.RETRY_STATES,
        periods=list(PERIODS),
        period_queries={choice: _period_query(chosen, choice) for choice in PERIODS},
        names=names,
        queues=queue_names,
        notice=request.GET.get("notice"),
        result=_result(request.GET),
        jobs_query=_jobs_query,
    )


def retry(request: Request) -> Response:
    """Enqueue the selection's dead and rejected jobs again (skipping what cannot be)."""
    chosen = selection(request.POST)
    result = bulk.retry(
        request.registry,
        queries(request),
        get_audit_store(request.registry),
        chosen.filters,
        chosen.states,
        actor=actor(request),
    )
    return see_other(request, "failures", "retried", _query={**chosen.query, **result.counts()})


def discard(request: Request) -> Response:
    """Mark the selection's jobs discarded in the audit log."""
    chosen = selection(request.POST)
    result = bulk.discard(
        queries(request),
        get_audit_store(request.registry),
        chosen.filters,
        chosen.states,
        actor=actor(request),
    )
    return see_other(request, "failures", "discarded", _query={**chosen.query, **result.counts()})


def _period_query(chosen: Selection, choice: str) -> dict[str, str]:
    """The selection over another period (an explicit start gives way to the period)."""
    kept = {key: value for key, value in chosen.query.items() if key not in ("since", "period")}
    return {**kept, "period": choice}


def _jobs_query(
    filters: JobFilter, name: str, error_class: str | None, state: str
) -> dict[str, str]:
    """The jobs list's query for one group's jobs in one state (its time range kept)."""
    return query_of(replace(filters, name=name, error_class=error_class, state=state))


def _result(params: Mapping[str, str]) -> dict[str, int]:
    """An action's counts from the redirect's query (numbers only: the URL can be edited)."""
    result = {}
    for key in RESULT_KEYS:
        value = params.get(key, "")
        if value.isdigit() and len(value) < 10:
            result[key] = int(value)
    return result
