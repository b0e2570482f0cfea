"""The overview: counts per job from the rollups, and jobs per hour as a chart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyramid.response import Response

from ..charts import hourly_chart
from ..filters import PERIODS, period
from ..rendering import render
from .common import queries
from .queues import live_numbers, summary

if TYPE_CHECKING:
    from pyramid.request import Request

OUTCOMES = ("enqueued", "succeeded", "failed", "dead", "discarded", "rejected", "duplicate")


def overview(request: Request) -> Response:
    name, since = period(request.GET)
    now = datetime.now(UTC)
    counts = queries(request).counts(since)
    return render(
        request,
        "overview.jinja2",
        period=name,
        periods=list(PERIODS),
        outcomes=OUTCOMES,
        counts=counts,
        chart=hourly_chart(counts.by_hour, since, now),
        now=now,
        sqs=summary(request, oldest=True, tasks=True),
    )


def live(request: Request) -> Response:
    """The overview's numbers as JSON, for the page to update them in place."""
    name, since = period(request.GET)
    counts = queries(request).counts(since)
    body = {
        "period": name,
        "totals": {outcome: counts.total(outcome) for outcome in OUTCOMES},
        "jobs": counts.by_name,
        # Queue counts only: sampling dead letters on every refresh would hide them.
        "sqs": live_numbers(summary(request, oldest=False, tasks=False)),
        "at": datetime.now(UTC).isoformat(),
    }
    response = Response(json_body=body)
    return response
