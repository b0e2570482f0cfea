"""Recent job activity, read from pyramid_elasticjobs's audit log.

The audit log records every enqueue and every attempt (development.ini keeps it in a
SQLite file), so the page survives restarts and shows what the worker threads did. The
demo doubles as an example of reading the log: :func:`get_audit_store` gives the
application's store, whose ``recent_jobs``, ``attempts`` and ``counts`` are the reads a
page needs; ``counts`` comes from hourly rollups, never from counting the log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from pyramid_elasticjobs.audit import get_audit_store
from pyramid_elasticjobs.runtime import get_runtime

if TYPE_CHECKING:
    from pyramid.registry import Registry

    from pyramid_elasticjobs.audit.models import AttemptRecord, JobRecord

#: Jobs read per refresh (one query, then one indexed query per job for its attempts).
RECENT_JOBS = 20
#: Rows the table shows at most: enqueues and attempts of those jobs, newest first.
DEFAULT_SIZE = 50
#: The window of the totals line.
COUNTS_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Entry:
    """One enqueue or one attempt, as the page shows it."""

    at: datetime
    kind: str
    job: str
    job_id: str
    queue: str
    attempt: int | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


@dataclass(frozen=True, slots=True)
class Activity:
    """What the panel shows; ``error`` says why the log could not be read."""

    entries: list[Entry]
    counts: dict[str, int]
    error: str | None = None


def recent_activity(registry: Registry, size: int = DEFAULT_SIZE) -> Activity:
    """The latest enqueues and attempts, and the last 24 hours' totals per outcome."""
    store = get_audit_store(registry)
    limit = get_runtime(registry).settings.max_receive_count
    try:
        entries: list[Entry] = []
        for job in store.recent_jobs(RECENT_JOBS):
            entries += job_entries(job, store.attempts(job.job_id), limit)
        counts = store.counts(datetime.now(UTC) - COUNTS_WINDOW)
    except SQLAlchemyError as error:
        # The page still shows the queues: only this panel depends on the database.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return Activity([], {}, f"The audit log cannot be read: {reason}")
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return Activity(entries[:size], counts)


def job_entries(job: JobRecord, attempts: list[AttemptRecord], limit: int) -> list[Entry]:
    """The job's enqueue (when this app sent it) and each of its attempts."""

    def entry(at: datetime, kind: str, attempt: int | None, detail: str) -> Entry:
        return Entry(at, kind, job.name, job.job_id, job.queue, attempt, detail)

    entries = [
        entry(attempt.finished_at, attempt.outcome, attempt.receive_count, describe(attempt, limit))
        for attempt in attempts
    ]
    # Periodic tasks come from the daemon, not from an enqueue: they have no enqueue time.
    if job.enqueued_at is not None:
        message = f"message {job.message_id}" if job.message_id else "sent"
        due = f", due {job.run_at:%H:%M:%S} UTC" if job.run_at else ""
        entries.append(entry(job.enqueued_at, "enqueued", None, message + due))
    return entries


def describe(attempt: AttemptRecord, limit: int) -> str:
    """The one-line detail of an attempt, for the activity table."""
    error = f"{(attempt.exception_class or '').rpartition('.')[2]}: {attempt.exception_message}"
    match attempt.outcome:
        case "succeeded":
            return f"done in {attempt.duration or 0:.2f}s"
        case "failed":
            last = attempt.receive_count >= limit
            then = "SQS moves it to the dead-letter queue" if last else "the daemon retries it"
            return f"{error} ({then})"
        case "discarded":
            return f"{error} (not retried)"
        case "rejected":
            return f"HTTP {attempt.status}: {attempt.exception_message}"
        case "duplicate":
            return "already done: not run again"
    return attempt.exception_message or ""
