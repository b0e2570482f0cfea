"""Writes and reads of the audit log, each in a short transaction on the log's own engine.

The store never raises into a job: a failed write is logged once per burst (not once per
job), recording pauses for a few seconds so that no job waits on a dead database, and the
next write after the pause tries again. A failed read answers as if nothing were recorded.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, String, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from .models import (
    ActionRecord,
    AttemptRecord,
    Base,
    DeadLetterRecord,
    JobRecord,
    JobState,
    Outcome,
    PeriodicRunRecord,
    RollupRecord,
)
from .statements import WriteStatements
from .writer import Write, WriteBehind, batches

if TYPE_CHECKING:
    from pyramid.registry import Registry

log = logging.getLogger(__name__)

T = TypeVar("T")

STORE_KEY = "elasticjobs.audit.store"

#: Tracebacks longer than this are cut (from the middle: the top and the raise are kept).
MAX_TRACEBACK_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class JobFacts:
    """What an event says about a job, ready to record (arguments already redacted)."""

    job_id: str
    name: str
    queue: str
    arguments: Mapping[str, Any] | None
    enqueued_at: datetime | None
    run_at: datetime | None
    message_id: str | None


@dataclass(frozen=True, slots=True)
class AttemptFacts:
    """How one delivery of a job ended."""

    receive_count: int
    started_at: datetime
    finished_at: datetime
    duration: float | None
    outcome: Outcome
    status: int
    error: BaseException | None = None
    reason: str | None = None  # why a delivery was refused, when there is no exception


#: Outcomes of an attempt that ran the job (the others refused it or skipped it).
_RUNS = {Outcome.SUCCEEDED, Outcome.FAILED, Outcome.DISCARDED}

_TERMINAL = {
    JobState.SUCCEEDED,
    JobState.DISCARDED,
    JobState.DEAD,
    JobState.REJECTED,
}


class AuditStore:
    """The audit log: recording (never raising) and reading."""

    def __init__(self, engine: Engine, *, pause_seconds: float = 5.0) -> None:
        self.engine = engine
        self._pause_seconds = pause_seconds
        self._paused_until = 0.0
        self._lost = 0
        self._lock = threading.Lock()
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._statements = WriteStatements.for_dialect(engine.dialect.name)
        # Job events are written behind, in batches; operator actions and reads are not.
        self._writer = WriteBehind(self._write_batch)

    # -- recording ------------------------------------------------------------------

    def job_enqueued(self, job: JobFacts) -> None:
        now = _now()
        row = {**_job_row(job, JobState.ENQUEUED, now), **_NO_END, "attempts": 0}
        statements = self._statements
        self._submit(
            [
                Write(statements.enqueue_job, _ENQUEUE, job.job_id, row),
                Write(statements.count, _COUNT, job.job_id, _rollup(now, job, Outcome.ENQUEUED)),
            ]
        )

    def attempt_started(self, job: JobFacts) -> None:
        now = _now()
        row = {**_job_row(job, JobState.RUNNING, now), **_NO_END, "attempts": 1}
        self._submit([Write(self._statements.start_job, _START, job.job_id, row)])

    def attempt_ended(
        self,
        job: JobFacts,
        attempt: AttemptFacts,
        state: JobState,
        periodic_run: tuple[str, datetime] | None = None,
    ) -> None:
        """The attempt's row, the job's new state and the hour's count, in one transaction."""
        now = attempt.finished_at
        error = attempt.error
        error_class = _qualified_name(error) if error is not None else None
        error_text = f"{error_class}: {error}" if error is not None else attempt.reason
        attempt_row = _fitted(
            AttemptRecord,
            {
                "job_id": job.job_id,
                "message_id": job.message_id,
                "receive_count": attempt.receive_count,
                "started_at": attempt.started_at,
                "finished_at": now,
                "duration": attempt.duration,
                "outcome": attempt.outcome.value,
                "status": attempt.status,
                "exception_class": error_class,
                "exception_message": str(error) if error is not None else attempt.reason,
                "traceback": _traceback(error),
                "host": _HOST,
                "pid": os.getpid(),
            },
        )
        job_row = {
            **_job_row(job, state, now),
            # A job first seen here: its start went unrecorded (a run counts one attempt),
            # or it never ran (a refusal or a duplicate counts none).
            "attempts": 1 if attempt.outcome in _RUNS else 0,
            **_fitted(
                JobRecord,
                {
                    "finished_at": now if state in _TERMINAL else None,
                    "last_error_class": (
                        (error_class or attempt.outcome.value) if error_text else None
                    ),
                    "last_error": error_text,
                },
            ),
        }
        statements, job_id = self._statements, job.job_id
        writes = [
            Write(statements.add_attempt, _ATTEMPT, job_id, attempt_row),
            Write(statements.end_job, _END, job_id, job_row),
            Write(statements.count, _COUNT, job_id, _rollup(now, job, attempt.outcome)),
        ]
        if state is JobState.DEAD:
            writes.append(Write(statements.count, _COUNT, job_id, _rollup(now, job, Outcome.DEAD)))
        if periodic_run is not None:
            task, scheduled_at = periodic_run
            run = {
                "task": task,
                "scheduled_at": scheduled_at,
                "job_id": job_id,
                "succeeded_at": now,
            }
            writes.append(
                Write(statements.periodic_run, _PERIODIC, job_id, _fitted(PeriodicRunRecord, run))
            )
        self._submit(writes)

    def job_rescheduled(self, job: JobFacts) -> None:
        """An early job went back to SQS as a new message (``job.message_id``).

        Recorded even when its enqueue was not (enqueued by another app, or before the
        audit log was on).
        """
        row = {**_job_row(job, JobState.ENQUEUED, _now()), **_NO_END, "attempts": 0}
        self._submit([Write(self._statements.reschedule_job, _RESCHEDULE, job.job_id, row)])

    def flush(self) -> None:
        """Wait until every job event recorded so far is written (or has failed to be)."""
        self._writer.flush()

    def dead_letter_seen(
        self,
        *,
        dead_letter_queue: str,
        message_id: str,
        source_queue: str | None,
        job_id: str | None,
        body: str,
        attributes: Mapping[str, Any],
        receive_count: int,
    ) -> None:
        """Snapshot a message sampled from a dead-letter queue (first and last seen)."""
        now = _now()

        def write(connection: Connection) -> None:
            statement = self._insert(DeadLetterRecord).values(
                dead_letter_queue=dead_letter_queue,
                message_id=message_id,
                source_queue=source_queue,
                job_id=job_id,
                body=body,
                attributes=dict(attributes),
                receive_count=receive_count,
                first_seen_at=now,
                last_seen_at=now,
            )
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["dead_letter_queue", "message_id"],
                    set_={"last_seen_at": now, "receive_count": receive_count},
                )
            )

        self._write(write)

    def action_taken(
        self,
        *,
        actor: str,
        action: str,
        queue: str | None = None,
        job_id: str | None = None,
        message_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """An operator's action; on a dead letter, also marks its snapshot."""
        now = _now()

        def write(connection: Connection) -> None:
            connection.execute(
                self._insert(ActionRecord).values(
                    at=now,
                    actor=actor,
                    action=action,
                    queue=queue,
                    job_id=job_id,
                    message_id=message_id,
                    detail=dict(detail) if detail is not None else None,
                )
            )
            if queue is not None and message_id is not None:
                connection.execute(
                    update(DeadLetterRecord)
                    .where(
                        DeadLetterRecord.dead_letter_queue == queue,
                        DeadLetterRecord.message_id == message_id,
                    )
                    .values(action=action, action_at=now, action_by=actor)
                )

        self._write(write)

    def jobs_marked(
        self,
        job_ids: Sequence[str],
        *,
        state: JobState,
        from_states: Sequence[str],
        actor: str,
        action: str,
        details: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """An operator moved these jobs to ``state`` (discarded, retried): the jobs still
        in ``from_states`` change, each with an action record naming ``actor``; their ids.

        Unlike recording, this raises: the operator must learn that it did not happen.
        """
        self.flush()
        now = _now()
        with self.engine.begin() as connection:
            # Only jobs still failing: one that succeeded meanwhile is left alone.
            found = connection.execute(
                select(JobRecord.job_id, JobRecord.queue).where(
                    JobRecord.job_id.in_(list(job_ids)), JobRecord.state.in_(from_states)
                )
            )
            queues: dict[str, str] = dict(found.all())
            marked = sorted(queues)
            if not marked:
                return []
            connection.execute(
                update(JobRecord)
                .where(JobRecord.job_id.in_(marked), JobRecord.state.in_(from_states))
                .values(
                    state=state.value,
                    updated_at=now,
                    finished_at=func.coalesce(JobRecord.finished_at, now),
                )
            )
            connection.execute(
                self._insert(ActionRecord),
                [
                    {
                        "at": now,
                        "actor": actor,
                        "action": action,
                        "queue": queues.get(job_id),
                        "job_id": job_id,
                        "message_id": None,
                        "detail": dict((details or {}).get(job_id, {})) or None,
                    }
                    for job_id in marked
                ],
            )
        return marked

    # -- the ledger (pyramid_elasticjobs.ledger.Ledger) -----------------------------

    def has_succeeded(self, job_id: str) -> bool:
        self.flush()
        state = self._read(
            lambda connection: connection.scalar(
                select(JobRecord.state).where(JobRecord.job_id == job_id)
            ),
            None,
        )
        return state == JobState.SUCCEEDED.value

    def periodic_run_succeeded(self, task: str, scheduled_at: datetime) -> bool:
        self.flush()
        found = self._read(
            lambda connection: connection.scalar(
                select(PeriodicRunRecord.job_id).where(
                    PeriodicRunRecord.task == task, PeriodicRunRecord.scheduled_at == scheduled_at
                )
            ),
            None,
        )
        return found is not None

    # -- reading --------------------------------------------------------------------

    def job(self, job_id: str) -> JobRecord | None:
        self.flush()
        with self.engine.connect() as connection:
            row = connection.execute(select(JobRecord).where(JobRecord.job_id == job_id)).first()
        return JobRecord(**row._asdict()) if row is not None else None

    def attempts(self, job_id: str) -> list[AttemptRecord]:
        self.flush()
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(AttemptRecord)
                .where(AttemptRecord.job_id == job_id)
                .order_by(AttemptRecord.started_at, AttemptRecord.id)
            ).all()
        return [AttemptRecord(**row._asdict()) for row in rows]

    def recent_jobs(self, limit: int = 20) -> list[JobRecord]:
        """The most recently recorded jobs, newest first."""
        self.flush()
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(JobRecord)
                .order_by(JobRecord.created_at.desc(), JobRecord.job_id.desc())
                .limit(limit)
            ).all()
        return [JobRecord(**row._asdict()) for row in rows]

    def counts(self, since: datetime) -> dict[str, int]:
        """Outcomes since ``since`` (rounded down to the hour), from the rollups alone."""
        self.flush()
        start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(RollupRecord.outcome, func.sum(RollupRecord.count))
                .where(RollupRecord.hour >= start)
                .group_by(RollupRecord.outcome)
            ).all()
        return {outcome: int(total) for outcome, total in rows}

    # -- retention ------------------------------------------------------------------

    def prune(self, before: datetime, batch: int) -> Iterator[int]:
        """Delete records older than ``before``, ``batch`` rows per short transaction.

        Yields the number of rows each batch deleted, so a caller can show progress;
        finished jobs go with their attempts, unfinished ones are kept.
        """
        self.flush()
        for table, moment, keys in _PRUNABLE:
            # A composite key is compared as a row value against a select of its columns
            # (a select of tuple_() would be one column, which SQLite refuses).
            key = keys[0] if len(keys) == 1 else tuple_(*keys)
            while True:
                with self.engine.begin() as connection:
                    oldest = select(*keys).where(moment < before).order_by(moment).limit(batch)
                    deleted = connection.execute(delete(table).where(key.in_(oldest))).rowcount
                if not deleted:
                    break
                yield deleted

    def prunable(self, before: datetime) -> int:
        """How many rows :meth:`prune` would delete (for a progress bar's total)."""
        self.flush()
        with self.engine.connect() as connection:
            return sum(
                connection.scalar(select(func.count()).select_from(table).where(moment < before))
                or 0
                for table, moment, _ in _PRUNABLE
            )

    # -- the guard around every write -----------------------------------------------

    def _submit(self, writes: list[Write]) -> None:
        if time.monotonic() < self._paused_until:
            with self._lock:
                self._lost += 1
            return
        self._writer.submit(writes)

    def _write_batch(self, writes: Sequence[Write]) -> None:
        """Many events in one transaction: one multi-row statement per kind of row."""

        def write(connection: Connection) -> None:
            for part in batches(writes):
                for statement, rows in _grouped(part):
                    connection.execute(statement, rows)

        self._write(write, events=len(writes))

    def _write(self, operation: Callable[[Connection], Any], events: int = 1) -> None:
        if time.monotonic() < self._paused_until:
            with self._lock:
                self._lost += events
            return
        try:
            with self.engine.begin() as connection:
                operation(connection)
        except SQLAlchemyError as error:
            self._failed(error, events)
            return
        if self._lost:
            self._resumed()

    def _read(self, operation: Callable[[Connection], T], fallback: T) -> T:
        if time.monotonic() < self._paused_until:
            return fallback
        try:
            with self.engine.connect() as connection:
                return operation(connection)
        except SQLAlchemyError as error:
            self._failed(error)
            return fallback

    def _failed(self, error: SQLAlchemyError, events: int = 1) -> None:
        with self._lock:
            first = self._lost == 0
            self._lost += events
            self._paused_until = time.monotonic() + self._pause_seconds
        if first:
            # Once per burst: a dead database would otherwise log once per job.
            log.error(
                "the audit log cannot be written (%s: %s); jobs run as usual, recording pauses "
                "for %.0fs at a time and resumes when the database answers",
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
                self._pause_seconds,
            )

    def _resumed(self) -> None:
        with self._lock:
            lost, self._lost = self._lost, 0
        if lost:
            log.warning("the audit log is recording again; %d record(s) were lost meanwhile", lost)


#: (table, its timestamp, its primary key columns), in the order prune() empties them.
_PRUNABLE: Sequence[tuple[Any, Any, tuple[Any, ...]]] = (
    (AttemptRecord, AttemptRecord.finished_at, (AttemptRecord.id,)),
    (JobRecord, JobRecord.finished_at, (JobRecord.job_id,)),
    (
        PeriodicRunRecord,
        PeriodicRunRecord.succeeded_at,
        (PeriodicRunRecord.task, PeriodicRunRecord.scheduled_at),
    ),
    (ActionRecord, ActionRecord.at, (ActionRecord.id,)),
    (DeadLetterRecord, DeadLetterRecord.last_seen_at, (DeadLetterRecord.id,)),
)

_HOST = socket.gethostname()[:255]


def _now() -> datetime:
    return datetime.now(UTC)


#: The order in which one batch writes each kind of row (a job's enqueue before its start,
#: its start before its end).
_ENQUEUE, _RESCHEDULE, _START, _ATTEMPT, _END, _COUNT, _PERIODIC = range(7)


def _grouped(writes: Sequence[Write]) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Consecutive rows of one statement together; an hour's counts summed into one row."""
    groups: list[tuple[Any, list[dict[str, Any]]]] = []
    counts: dict[tuple[Any, ...], dict[str, Any]] = {}
    for write in writes:
        if write.rank == _COUNT:
            row = write.params
            key = (row["hour"], row["name"], row["queue"], row["outcome"])
            if key in counts:
                counts[key]["count"] += row["count"]
                continue
            row = counts[key] = dict(row)
            params = row
        else:
            params = write.params
        if groups and groups[-1][0] is write.statement:
            groups[-1][1].append(params)
        else:
            groups.append((write.statement, [params]))
    return groups


#: The end-of-job columns of a row that does not end the job (every row of one statement
#: must have the same keys).
_NO_END = {"finished_at": None, "last_error_class": None, "last_error": None}


def _rollup(now: datetime, job: JobFacts, outcome: Outcome) -> dict[str, Any]:
    return _fitted(
        RollupRecord,
        {
            "hour": now.replace(minute=0, second=0, microsecond=0),
            "name": job.name,
            "queue": job.queue,
            "outcome": outcome.value,
            "count": 1,
        },
    )


def _job_row(job: JobFacts, state: JobState, now: datetime) -> dict[str, Any]:
    return _fitted(
        JobRecord,
        {
            "job_id": job.job_id,
            "name": job.name,
            "queue": job.queue,
            "state": state.value,
            "arguments": dict(job.arguments) if job.arguments is not None else None,
            "created_at": now,
            "updated_at": now,
            "enqueued_at": job.enqueued_at,
            "run_at": job.run_at,
            "message_id": job.message_id,
        },
    )


#: The length of every bounded text column, per table.
_LIMITS: dict[type[Base], dict[str, int]] = {
    model: {
        column.key: column.type.length
        for column in model.__table__.columns
        if isinstance(column.type, String) and column.type.length is not None
    }
    for model in (JobRecord, AttemptRecord, RollupRecord, PeriodicRunRecord)
}


def _fitted(model: type[Base], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each text cut to its column's length.

    Names, queues and ids can come from a request (an unsigned periodic task names its own
    task): PostgreSQL refuses a longer value, and one refused write pauses the whole log.
    """
    limits = _LIMITS[model]
    return {
        key: value[: limits[key]] if isinstance(value, str) and key in limits else value
        for key, value in values.items()
    }


def _qualified_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _traceback(error: BaseException | None) -> str | None:
    if error is None:
        return None
    text = "".join(traceback.format_exception(error))
    if len(text) <= MAX_TRACEBACK_CHARS:
        return text
    half = MAX_TRACEBACK_CHARS // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def get_audit_store(registry: Registry) -> AuditStore:
    """The application's audit log; raises if the audit log is not configured."""
    store: AuditStore | None = registry.get(STORE_KEY)
    if store is None:
        from pyramid_elasticjobs.exceptions import ConfigurationError

        raise ConfigurationError(
            "the audit log is not configured: set elasticjobs.audit.url (or include "
            "pyramid_elasticjobs.audit) and commit the configuration first"
        )
    return store
