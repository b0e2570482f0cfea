"""The audit log's tables, all prefixed ``elasticjobs_`` so they sit beside the app's own.

Writes never join: each event touches a job row, at most one attempt row and one rollup
row, so recording stays cheap. Rollups hold counts per hour, job, queue and outcome, so
that no page ever counts the log itself.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Constraint names alembic can find again on every database (the cookiecutter's convention).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: SQLite only makes INTEGER PRIMARY KEY columns auto-increment.
Identifier = BigInteger().with_variant(Integer(), "sqlite")


class Moment(TypeDecorator[datetime]):
    """A UTC instant: aware on the way in and out, on every database.

    SQLite has no time zones: it stores the UTC wall time, and gets its zone back on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone; the audit log stores UTC instants")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JobState(enum.StrEnum):
    """Where a job stands, as the last event about it said."""

    ENQUEUED = "enqueued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # will be retried
    DISCARDED = "discarded"
    DEAD = "dead"  # failed its last attempt: SQS moved it to the dead-letter queue
    REJECTED = "rejected"  # could not run (unknown job, invalid arguments, expired...)
    RETRIED = "retried"  # an operator enqueued it again: the new job carries on


class Outcome(enum.StrEnum):
    """What came of one attempt, or of an enqueue (counted in the rollups)."""

    ENQUEUED = "enqueued"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DISCARDED = "discarded"
    DEAD = "dead"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # none_as_null: None is SQL NULL ("not stored"), not the JSON text 'null'.
    type_annotation_map = {datetime: Moment(), dict[str, Any]: JSON(none_as_null=True)}


class JobRecord(Base):
    """One row per job id: its latest state."""

    __tablename__ = "elasticjobs_jobs"

    job_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(16))
    arguments: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]  # first recorded: enqueue, or first delivery
    updated_at: Mapped[datetime]
    enqueued_at: Mapped[datetime | None]
    run_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error_class: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_elasticjobs_jobs_created", "created_at", "job_id"),
        # The jobs list's filters, each ending in its keyset order (created_at, job_id) so
        # that a page is an index range, however deep.
        Index("ix_elasticjobs_jobs_state_created", "state", "created_at", "job_id"),
        Index("ix_elasticjobs_jobs_name_created", "name", "created_at", "job_id"),
        Index("ix_elasticjobs_jobs_name_state_created", "name", "state", "created_at", "job_id"),
        Index("ix_elasticjobs_jobs_error_created", "last_error_class", "created_at", "job_id"),
        Index("ix_elasticjobs_jobs_message_id", "message_id"),
        Index("ix_elasticjobs_jobs_finished", "finished_at"),
    )


class AttemptRecord(Base):
    """One row per execution (or refusal) of a delivered job."""

    __tablename__ = "elasticjobs_attempts"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(String(128))
    receive_count: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    duration: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(Integer)  # what the daemon was answered
    exception_class: Mapped[str | None] = mapped_column(String(200))
    exception_message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_elasticjobs_attempts_job", "job_id", "started_at"),
        Index("ix_elasticjobs_attempts_finished", "finished_at"),
    )


class DeadLetterRecord(Base):
    """A snapshot of a message seen in a dead-letter queue, and what an operator did to it."""

    __tablename__ = "elasticjobs_dead_letters"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    dead_letter_queue: Mapped[str] = mapped_column(String(80))
    message_id: Mapped[str] = mapped_column(String(128))
    source_queue: Mapped[str | None] = mapped_column(String(80))
    job_id: Mapped[str | None] = mapped_column(String(128))  # from the signed body, if any
    body: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any] | None]
    receive_count: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    action: Mapped[str | None] = mapped_column(String(16))  # redriven, deleted, purged, edited
    action_at: Mapped[datetime | None]
    action_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("dead_letter_queue", "message_id"),
        Index("ix_elasticjobs_dead_letters_job", "job_id"),
    )


class ActionRecord(Base):
    """An operator's action (redrive, delete, purge, edit): who, when, on what."""

    __tablename__ = "elasticjobs_actions"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str | None] = mapped_column(String(80))
    job_id: Mapped[str | None] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_elasticjobs_actions_at", "at"),)


class RollupRecord(Base):
    """How many jobs of one name on one queue had one outcome in one hour."""

    __tablename__ = "elasticjobs_rollups"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    queue: Mapped[str] = mapped_column(String(80), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class PeriodicRunRecord(Base):
    """A periodic task that succeeded for one scheduled time (deduplicates the leader's sends)."""

    __tablename__ = "elasticjobs_periodic_runs"

    task: Mapped[str] = mapped_column(String(128), primary_key=True)
    scheduled_at: Mapped[datetime] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(128))
    succeeded_at: Mapped[datetime]

    __table_args__ = (Index("ix_elasticjobs_periodic_runs_succeeded", "succeeded_at"),)
