"""The audit log has its own engine: a job's rollback or failed commit keeps the record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.audit.store import AuditStore, get_audit_store

from .support import AppDatabase


@pytest.fixture
def app_database_url(database_url: str, tmp_path: Path) -> str:
    """The app's own data: in the audit log's database on PostgreSQL; in a file of its own
    on SQLite, which lets one writer at a time into a file."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'app.sqlite'}"
    return database_url


@pytest.fixture
def app_database(app_database_url: str) -> Iterator[AppDatabase]:
    database = AppDatabase(app_database_url)
    database.create()
    yield database
    database.engine.dispose()


@pytest.fixture
def tm_audit_app(
    make_audit_app: Callable[..., Any],
    database: Engine,
    database_url: str,
    app_database_url: str,
) -> Any:
    return make_audit_app(database_url, **{"test.app_database": app_database_url})


def test_rolled_back_job_keeps_its_failure_recorded(
    tm_audit_app: Any,
    app_database: AppDatabase,
    make_queue: Callable[..., str],
    deliver: Any,
    audit_runs: list[str],
) -> None:
    """A job that raises under pyramid_tm: its own writes roll back, its failure is recorded."""
    store: AuditStore = get_audit_store(tm_audit_app.registry)
    handle = get_client(tm_audit_app.registry).enqueue("rolls_back", number=42)
    deliver(tm_audit_app, make_queue("default"), status=500)
    assert audit_runs == [handle.job_id]
    assert app_database.orders() == []  # the job's transaction was rolled back
    job = store.job(handle.job_id)
    assert job is not None
    assert (job.state, job.last_error) == ("failed", "ValueError: order 42 is out of stock")
    [attempt] = store.attempts(handle.job_id)
    assert (attempt.outcome, attempt.status, attempt.exception_class) == (
        "failed",
        500,
        "ValueError",
    )
    assert "in rolls_back" in (attempt.traceback or "")


def test_failed_commit_is_a_failed_attempt_never_a_success(
    tm_audit_app: Any,
    make_queue: Callable[..., str],
    deliver: Any,
    audit_runs: list[str],
) -> None:
    """A job whose transaction cannot commit is recorded failed with the commit's error."""
    store: AuditStore = get_audit_store(tm_audit_app.registry)
    before = datetime.now(UTC) - timedelta(seconds=1)
    handle = get_client(tm_audit_app.registry).enqueue("commit_fails")
    # The commit's error goes up to the server, which answers 500: the daemon retries it.
    with pytest.raises(RuntimeError, match="the database refused the commit"):
        deliver(tm_audit_app, make_queue("default"))
    assert audit_runs == [handle.job_id]
    job = store.job(handle.job_id)
    assert job is not None
    assert job.state == "failed"
    assert job.finished_at is None
    [attempt] = store.attempts(handle.job_id)
    assert (attempt.outcome, attempt.status) == ("failed", 500)
    assert (attempt.exception_class, attempt.exception_message) == (
        "RuntimeError",
        "the database refused the commit",
    )
    assert store.counts(before) == {"enqueued": 1, "failed": 1}


def test_committed_job_is_recorded_succeeded(
    tm_audit_app: Any, make_queue: Callable[..., str], deliver: Any
) -> None:
    """Under pyramid_tm, a job whose transaction commits is recorded as succeeded."""
    store: AuditStore = get_audit_store(tm_audit_app.registry)
    handle = get_client(tm_audit_app.registry).enqueue("noop")
    deliver(tm_audit_app, make_queue("default"), status=200)
    job = store.job(handle.job_id)
    assert job is not None
    assert job.state == "succeeded"
