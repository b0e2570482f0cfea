"""The jobs list's GET parameters, parsed into a JobFilter: bookmarkable, never trusted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from pyramid_elasticjobs.audit.models import JobState
from pyramid_elasticjobs.audit.queries import Cursor, JobFilter

#: The periods a person picks from, by their query value.
PERIODS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_PERIOD = "24h"
STATES = tuple(state.value for state in JobState)
#: Longest text accepted in a filter field: anything longer is no name or id of ours.
MAX_FIELD = 200


def period(params: Mapping[str, str], now: datetime | None = None) -> tuple[str, datetime]:
    """The chosen period's name and start (the default when the value is not one we offer)."""
    name = params.get("period", DEFAULT_PERIOD)
    if name not in PERIODS:
        name = DEFAULT_PERIOD
    return name, (now or datetime.now(UTC)) - PERIODS[name]


def job_filter(params: Mapping[str, str]) -> JobFilter:
    """Filters from the query string; unknown states and oversized values are dropped."""
    state = _field(params, "state")
    return JobFilter(
        state=state if state in STATES else None,
        name=_field(params, "name"),
        queue=_field(params, "queue"),
        error_class=_field(params, "error"),
        since=_moment(params.get("since")),
        until=_moment(params.get("until")),
        search=_field(params, "q"),
    )


def cursor(params: Mapping[str, str]) -> Cursor | None:
    token = params.get("after", "")
    return Cursor.decode(token) if token and len(token) <= 4 * MAX_FIELD else None


def query_of(filters: JobFilter) -> dict[str, str]:
    """The query string that reproduces ``filters`` (for links that keep them)."""
    values = {
        "state": filters.state,
        "name": filters.name,
        "queue": filters.queue,
        "error": filters.error_class,
        "since": filters.since.strftime("%Y-%m-%dT%H:%M") if filters.since else None,
        "until": filters.until.strftime("%Y-%m-%dT%H:%M") if filters.until else None,
        "q": filters.search,
    }
    return {key: value for key, value in values.items() if value}


def _field(params: Mapping[str, str], key: str) -> str | None:
    value = params.get(key, "").strip()
    return value if value and len(value) <= MAX_FIELD else None


def _moment(value: str | None) -> datetime | None:
    """A datetime-local input's value (``2026-12-02T10:30``), taken as UTC."""
    if not value or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
