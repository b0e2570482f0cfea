"""What the dashboard reads from the audit log, sized for millions of rows.

No query counts the log: totals come from the rollups, lists are keyset pages (no OFFSET),
and every list query filters and orders along an index.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, func, literal, or_, select, tuple_

from .models import (
    ActionRecord,
    AttemptRecord,
    DeadLetterRecord,
    JobRecord,
    JobState,
    RollupRecord,
)

#: States that mean "this job needs an operator's look".
FAILED_STATES = (JobState.FAILED.value, JobState.DEAD.value, JobState.REJECTED.value)


@dataclass(frozen=True, slots=True)
class JobFilter:
    """The jobs list's filters; every field comes from a bookmarkable GET parameter."""

    state: str | None = None
    name: str | None = None
    queue: str | None = None
    error_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None  # a job id or an SQS message id


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a keyset page starts: the last row of the previous page (newest first)."""

    created_at: datetime
    job_id: str

    def encode(self) -> str:
        text = f"{self.created_at.isoformat()}|{self.job_id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor | None:
        """The cursor in ``token``, or None for anything that is not one (a stale bookmark)."""
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            moment, job_id = text.split("|", 1)
            created_at = datetime.fromisoformat(moment)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        if created_at.tzinfo is None:
            return None
        return cls(created_at.astimezone(UTC), job_id)


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: Sequence[JobRecord]
    next_cursor: Cursor | None  # None on the last page


@dataclass(frozen=True, slots=True)
class Counts:
    """Outcomes per job name over a period, and per hour for the chart."""

    by_name: dict[str, dict[str, int]] = field(default_factory=dict)
    by_hour: dict[datetime, dict[str, int]] = field(default_factory=dict)

    def total(self, outcome: str) -> int:
        return sum(outcomes.get(outcome, 0) for outcomes in self.by_name.values())


@dataclass(frozen=True, slots=True)
class FailureBreakdown:
    """Failed jobs of one name with one exception class, counted per state."""

    name: str
    error_class: str | None
    by_state: dict[str, int]
    first_at: datetime
    last_at: datetime

    @property
    def jobs(self) -> int:
        return sum(self.by_state.values())


class AuditQueries:
    """Read-only queries over the audit log's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def jobs(self, filters: JobFilter, cursor: Cursor | None, limit: int) -> JobPage:
        """One page of jobs, newest first, after ``cursor``."""
        return self._page(_filtered(select(JobRecord), filters), cursor, limit)

    def job(self, job_id: str) -> tuple[JobRecord | None, list[AttemptRecord]]:
        with self.engine.connect() as connection:
            row = connection.execute(select(JobRecord).where(JobRecord.job_id == job_id)).first()
            attempts = connection.execute(
                select(AttemptRecord)
                .where(AttemptRecord.job_id == job_id)
                .order_by(AttemptRecord.started_at, AttemptRecord.id)
            ).all()
        job = JobRecord(**row._asdict()) if row is not None else None
        return job, [AttemptRecord(**attempt._asdict()) for attempt in attempts]

    def counts(self, since: datetime) -> Counts:
        """Outcomes since ``since`` (to the hour), from the rollups alone."""
        start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        query = (
            select(
                RollupRecord.hour,
                RollupRecord.name,
                RollupRecord.outcome,
                func.sum(RollupRecord.count),
            )
            .where(RollupRecord.hour >= start)
            .group_by(RollupRecord.hour, RollupRecord.name, RollupRecord.outcome)
        )
        counts = Counts()
        with self.engine.connect() as connection:
            for hour, name, outcome, total in connection.execute(query):
                by_name = counts.by_name.setdefault(name, {})
                by_name[outcome] = by_name.get(outcome, 0) + int(total)
                by_hour = counts.by_hour.setdefault(hour, {})
                by_hour[outcome] = by_hour.get(outcome, 0) + int(total)
        return counts

    def failure_breakdown(self, filters: JobFilter, limit: int = 100) -> list[FailureBreakdown]:
        """Failed, dead and rejected jobs grouped by name and exception class, each group's
        jobs counted per state (for links to the jobs list, whose state filter takes one)."""
        states = (filters.state,) if filters.state in FAILED_STATES else FAILED_STATES
        query = (
            _filtered(
                select(
                    JobRecord.name,
                    JobRecord.last_error_class,
                    JobRecord.state,
                    func.count(),
                    func.min(JobRecord.created_at),
                    func.max(JobRecord.created_at),
                ),
                _without_state(filters),
            )
            .where(JobRecord.state.in_(states))
            .group_by(JobRecord.name, JobRecord.last_error_class, JobRecord.state)
            .order_by(func.count().desc())
            .limit(limit * len(states))
        )
        groups: dict[tuple[str, str | None], FailureBreakdown] = {}
        with self.engine.connect() as connection:
            for name, error_class, state, jobs, first_at, last_at in connection.execute(query):
                known = groups.get((name, error_class))
                by_state = {**(known.by_state if known else {}), state: int(jobs)}
                groups[name, error_class] = FailureBreakdown(
                    name,
                    error_class,
                    by_state,
                    min(known.first_at, first_at) if known else first_at,
                    max(known.last_at, last_at) if known else last_at,
                )
        ordered = sorted(groups.values(), key=lambda group: (-group.jobs, group.name))
        return ordered[:limit]

    def failing_jobs(
        self, filters: JobFilter, states: Sequence[str], cursor: Cursor | None, limit: int
    ) -> JobPage:
        """A keyset page of the jobs in ``states`` that ``filters`` select (a bulk action's
        selection), newest first."""
        query = _filtered(select(JobRecord), _without_state(filters)).where(
            JobRecord.state.in_(states)
        )
        return self._page(query, cursor, limit)

    def _page(self, query: Select[Any], cursor: Cursor | None, limit: int) -> JobPage:
        """``limit`` jobs of ``query`` after ``cursor``, newest first, and the next cursor."""
        if cursor is not None:
            # A row-value comparison: both databases read it as an index range, where the
            # equivalent OR of two conditions walks the index from the newest row.
            query = query.where(
                tuple_(JobRecord.created_at, JobRecord.job_id)
                < tuple_(
                    literal(cursor.created_at, JobRecord.created_at.type),
                    literal(cursor.job_id, JobRecord.job_id.type),
                )
            )
        query = query.order_by(JobRecord.created_at.desc(), JobRecord.job_id.desc()).limit(
            limit + 1
        )
        with self.engine.connect() as connection:
            rows = [JobRecord(**row._asdict()) for row in connection.execute(query)]
        last = rows[limit - 1] if len(rows) > limit else None
        return JobPage(rows[:limit], Cursor(last.created_at, last.job_id) if last else None)

    def jobs_by_id(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        """The jobs with these ids that the log knows (for dead letters: why they died)."""
        wanted = sorted(set(job_ids))
        if not wanted:
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(select(JobRecord).where(JobRecord.job_id.in_(wanted)))
            return {row.job_id: JobRecord(**row._asdict()) for row in rows}

    def dead_letter(self, dead_letter_queue: str, message_id: str) -> DeadLetterRecord | None:
        """The snapshot of a dead letter as last sampled (sensitive arguments redacted)."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(DeadLetterRecord).where(
                    DeadLetterRecord.dead_letter_queue == dead_letter_queue,
                    DeadLetterRecord.message_id == message_id,
                )
            ).first()
        return DeadLetterRecord(**row._asdict()) if row is not None else None

    def actions(self, queue: str | None = None, limit: int = 20) -> list[ActionRecord]:
        """Operators' latest actions, newest first; only those on ``queue`` if given."""
        query = select(ActionRecord)
        if queue is not None:
            query = query.where(ActionRecord.queue == queue)
        query = query.order_by(ActionRecord.at.desc(), ActionRecord.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [ActionRecord(**row._asdict()) for row in connection.execute(query)]


def _without_state(filters: JobFilter) -> JobFilter:
    """The filters but their state (a failure query chooses the states itself)."""
    return JobFilter(
        name=filters.name,
        queue=filters.queue,
        error_class=filters.error_class,
        since=filters.since,
        until=filters.until,
    )


SelectT = TypeVar("SelectT", bound="Select[*tuple[Any, ...]]")


def _filtered(query: SelectT, filters: JobFilter) -> SelectT:
    if filters.search:
        term = filters.search.strip()
        return query.where(or_(JobRecord.job_id == term, JobRecord.message_id == term))
    if filters.state:
        query = query.where(JobRecord.state == filters.state)
    if filters.name:
        query = query.where(JobRecord.name == filters.name)
    if filters.queue:
        query = query.where(JobRecord.queue == filters.queue)
    if filters.error_class:
        query = query.where(JobRecord.last_error_class == filters.error_class)
    if filters.since is not None:
        query = query.where(JobRecord.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(JobRecord.created_at < filters.until)
    return query
