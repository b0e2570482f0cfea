"""Values survive the round trip on every database: UTC instants, JSON arguments, SQL NULLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import StatementError
from webtest import TestApp

from pyramid_elasticjobs.audit.models import JobRecord
from pyramid_elasticjobs.audit.store import AuditStore, JobFacts
from pyramid_elasticjobs.audit.writer import flush_all

from .support import SERVER_ZONE, periodic_headers

INDIA = timezone(timedelta(hours=5, minutes=30))


def _facts(job_id: str, **fields: Any) -> JobFacts:
    values: dict[str, Any] = {
        "job_id": job_id,
        "name": "noop",
        "queue": "default",
        "arguments": {},
        "enqueued_at": None,
        "run_at": None,
        "message_id": None,
    }
    values.update(fields)
    return JobFacts(**values)


def test_instants_come_back_as_aware_utc(store: AuditStore, database: Engine) -> None:
    """An instant given in any zone comes back as the same instant, in UTC (on PostgreSQL,
    with the session in another zone)."""
    if database.dialect.name == "postgresql":
        flush_all()  # job events are written behind
        with database.connect() as connection:
            assert connection.scalar(text("SHOW timezone")) == SERVER_ZONE
    enqueued = datetime(2026, 3, 1, 0, 15, 30, 123456, tzinfo=INDIA)
    run_at = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    store.job_enqueued(_facts("zones", enqueued_at=enqueued, run_at=run_at))
    job = store.job("zones")
    assert job is not None
    assert job.enqueued_at == enqueued
    assert job.run_at == run_at
    for moment in (job.enqueued_at, job.run_at, job.created_at, job.updated_at):
        assert moment is not None
        assert moment.utcoffset() == timedelta(0)


def test_rollup_hours_are_utc_hours(store: AuditStore, database: Engine) -> None:
    """Counts fall into the UTC hour of the event, whatever the session's zone."""
    store.job_enqueued(_facts("hourly"))
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert store.counts(hour) == {"enqueued": 1}
    assert store.counts(hour + timedelta(hours=1)) == {}
    flush_all()  # job events are written behind
    with database.connect() as connection:
        [stored] = connection.scalars(text("SELECT hour FROM elasticjobs_rollups")).all()
    if isinstance(stored, str):  # SQLite keeps the UTC wall time as text
        stored = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    assert stored == hour


def test_naive_datetimes_are_refused(database: Engine) -> None:
    """A datetime without a zone cannot be stored: it would be read back as some other instant."""
    naive = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(StatementError, match="has no time zone"), database.begin() as connection:
        connection.execute(
            insert(JobRecord).values(
                job_id="naive",
                name="noop",
                queue="default",
                state="enqueued",
                created_at=naive,
                updated_at=naive,
                attempts=0,
            )
        )


def test_arguments_round_trip_as_json(store: AuditStore) -> None:
    """Nested arguments, non-ASCII text and numbers come back equal."""
    arguments = {"ids": [1, 2, 3], "title": "Zürich ☕", "ratio": 0.25, "meta": {"ok": True}}
    store.job_enqueued(_facts("json", arguments=arguments))
    job = store.job("json")
    assert job is not None
    assert job.arguments == arguments


def test_arguments_not_stored_are_sql_null(store: AuditStore, database: Engine) -> None:
    """Arguments of a job the app does not know are SQL NULL, not the JSON text 'null'."""
    store.job_enqueued(_facts("unknown", name="no_such_job", arguments=None))
    store.job_enqueued(_facts("known", arguments={}))
    flush_all()  # job events are written behind
    with database.connect() as connection:
        missing = connection.scalars(
            select(JobRecord.job_id).where(JobRecord.arguments.is_(None))
        ).all()
    assert missing == ["unknown"]


def test_periodic_run_is_one_instant_in_any_spelling(audit_app: Any, ran: list[Any]) -> None:
    """The same scheduled instant written with another UTC offset is the same run."""
    app = TestApp(audit_app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    first = periodic_headers("nightly_report", datetime(2026, 11, 28, 23, 0, tzinfo=UTC))
    again = {**periodic_headers("nightly_report", datetime(2026, 11, 28, 23, 0, tzinfo=UTC))}
    again["X-Aws-Sqsd-Scheduled-At"] = "2026-11-29T04:30:00+05:30"
    assert app.post("/periodic_tasks", headers=first).json["status"] == "succeeded"
    assert app.post("/periodic_tasks", headers=again).json["status"] == "duplicate"
    assert len(ran) == 1


def test_overlong_names_from_a_request_are_recorded_clipped(
    audit_app: Any, store: AuditStore
) -> None:
    """An unsigned periodic request naming a 300-character task is refused and recorded
    (clipped to the column), instead of failing the write and pausing the log."""
    app = TestApp(audit_app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    headers = periodic_headers("x" * 300, datetime(2026, 11, 28, 23, 0, tzinfo=UTC))
    headers["X-Aws-Sqsd-Queue"] = "q" * 300
    answer = app.post("/periodic_tasks", headers=headers, status=422).json
    job = store.job(answer["job_id"])
    assert job is not None
    assert (job.name, job.state) == ("x" * 128, "rejected")
    assert job.queue == "q" * 80
    # and the log goes on recording: nothing paused it
    store.job_enqueued(_facts("after"))
    assert store.job("after") is not None
