"""A dead or failing audit database never changes a job's outcome nor the daemon's answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from webtest import TestApp

from pyramid_elasticjobs.audit.models import JobRecord
from pyramid_elasticjobs.audit.store import get_audit_store
from tests.support import make_envelope

from .support import (
    Outage,
    count_rows,
    log_locked,
    periodic_headers,
    signed_delivery,
    unreachable_url,
)

STORE_LOGGER = "pyramid_elasticjobs.audit.store"
#: Not a limit on speed: how long a test waits before it stops waiting on a job that hangs.
HANG_GUARD_SECONDS = 120


def _burst(app: Any, names: list[str], sent: datetime | None = None) -> list[tuple[int, Any]]:
    """Deliver one job of each name (as the daemon would); the answers, in order."""
    client = TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    answers = []
    for name in names:
        envelope = make_envelope(name)
        body, headers = signed_delivery(app.registry, envelope)
        response = client.post("/", body, headers=headers, status="*")
        answers.append((response.status_int, response.json["status"]))
    return answers


def _script(app: Any) -> list[tuple[int, Any]]:
    """The same deliveries for every app: each outcome the worker can answer, and their bodies."""
    client = TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    answers = []
    past = datetime.now(UTC) - timedelta(days=20)
    envelopes = [
        make_envelope("noop", job_id="job-ok"),
        make_envelope("explode", job_id="job-fails"),
        make_envelope("vanish", job_id="job-discarded"),
        make_envelope("no_such_job", job_id="job-unknown"),
        make_envelope("noop", job_id="job-expired", enqueued_at=past, expires_at=past),
        make_envelope("resize_image", {"image_id": "x"}, job_id="job-invalid", queue="images"),
    ]
    for envelope in envelopes:
        body, headers = signed_delivery(app.registry, envelope, message_id=envelope.job_id)
        response = client.post("/", body, headers=headers, status="*")
        answers.append((response.status_int, response.json))
    moment = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    headers = {**periodic_headers("nightly_report", moment), "X-Aws-Sqsd-Msgid": "cron-1"}
    response = client.post("/periodic_tasks", headers=headers, status="*")
    answers.append((response.status_int, response.json))
    return answers


def _store_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == STORE_LOGGER and r.levelno >= logging.ERROR]


def _resumed(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == STORE_LOGGER and "recording again" in r.getMessage()
    ]


def _subscriber_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pyramid_elasticjobs.events"]


def test_unreachable_database_changes_no_answer(
    make_app: Callable[..., Any],
    make_audit_app: Callable[..., Any],
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    ran: list[Any],
) -> None:
    """With the database down from the start, every job runs and every answer is the same as
    with the audit log off; the error is logged once for the whole burst."""
    expected = _script(make_app())
    ran_without_log = [name for name, _, _ in ran]
    ran.clear()
    down = make_audit_app(
        unreachable_url(database_url, tmp_path), **{"elasticjobs.audit.pause_seconds": "0"}
    )
    with caplog.at_level(logging.INFO):
        answers = _script(down)
    assert answers == expected
    assert [status for status, _ in answers] == [200, 500, 200, 422, 410, 422, 200]
    assert (
        [name for name, _, _ in ran]
        == ran_without_log
        == ["noop", "explode", "vanish", "nightly_report"]
    )
    [error] = _store_errors(caplog)
    assert "the audit log cannot be written" in error.getMessage()
    assert _subscriber_failures(caplog) == []


def test_outage_before_and_during_bursts_is_logged_once_each_and_recording_resumes(
    make_audit_app: Callable[..., Any],
    outage: Outage,
    database: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Down before the first job, back, down in the middle of a burst, back: jobs answer as
    always, each outage is logged once, and recording resumes each time."""
    app = make_audit_app(outage.url, **{"elasticjobs.audit.pause_seconds": "0"})
    # Job events are written behind the jobs: flushing ends a burst's recording.
    flush = get_audit_store(app.registry).flush
    jobs = ["noop", "explode", "noop", "vanish", "noop"]
    answers = [(200, "succeeded"), (500, "failed"), (200, "succeeded"), (200, "discarded")]
    answers.append((200, "succeeded"))
    with caplog.at_level(logging.INFO):
        outage.cut()
        assert _burst(app, jobs) == answers
        flush()
        assert len(_store_errors(caplog)) == 1
        outage.restore()
        assert _burst(app, jobs) == answers
        flush()
        assert count_rows(database, JobRecord) == 5
        assert len(_resumed(caplog)) == 1
        outage.cut()
        assert _burst(app, jobs) == answers
        flush()
        assert len(_store_errors(caplog)) == 2
        outage.restore()
        assert _burst(app, jobs) == answers
        flush()
    assert count_rows(database, JobRecord) == 10
    assert len(_resumed(caplog)) == 2
    assert _subscriber_failures(caplog) == []
    # What was recorded is whole: every recorded job has its attempt and its final state.
    store = get_audit_store(app.registry)
    states = sorted(job.state for job in store.recent_jobs(limit=100))
    assert states == sorted(["succeeded"] * 6 + ["failed"] * 2 + ["discarded"] * 2)


def test_failed_write_pauses_recording(
    make_audit_app: Callable[..., Any],
    outage: Outage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After a failed write, jobs do not even try the database until the pause has passed."""
    app = make_audit_app(outage.url, **{"elasticjobs.audit.pause_seconds": "300"})
    engine = get_audit_store(app.registry).engine
    tries: list[str] = []
    event.listen(engine, "handle_error", lambda context: tries.append("error"))
    outage.cut()
    with caplog.at_level(logging.INFO):
        # unique jobs too: the ledger is not asked either, and answers "not run yet"
        answers = _burst(app, ["noop"] * 3 + ["charge"] * 3)
    assert answers == [(200, "succeeded")] * 6
    assert tries == ["error"]  # the first write (the first job's start) alone
    assert len(_store_errors(caplog)) == 1


def test_unreachable_database_does_not_block_unique_jobs(
    make_audit_app: Callable[..., Any],
    database_url: str,
    tmp_path: Path,
    audit_runs: list[str],
) -> None:
    """With the ledger unreachable, a unique job runs (at least once) instead of failing."""
    app = make_audit_app(
        unreachable_url(database_url, tmp_path), **{"elasticjobs.audit.pause_seconds": "0"}
    )
    assert _burst(app, ["charge", "charge"]) == [(200, "succeeded")] * 2
    assert len(audit_runs) == 2


def test_a_locked_log_does_not_hold_up_jobs(
    make_audit_app: Callable[..., Any],
    database: Engine,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The job answers while someone holds a lock on the log (its events wait in the writer,
    not in the job), and they are recorded once the lock goes."""
    app = make_audit_app(database_url, **{"elasticjobs.audit.pause_seconds": "0"})
    answered = threading.Event()
    answers: list[tuple[int, Any]] = []
    released_by_guard = threading.Event()

    def deliver() -> None:
        answers.extend(_burst(app, ["noop"]))
        answered.set()

    with caplog.at_level(logging.INFO), log_locked(database):
        worker = threading.Thread(target=deliver)
        worker.start()
        # Only a guard against hanging for ever: the lock goes when the job answered.
        if not answered.wait(HANG_GUARD_SECONDS):
            released_by_guard.set()
    worker.join()
    assert not released_by_guard.is_set(), "the job waited for the lock on the audit log"
    assert answers == [(200, "succeeded")]
    assert _burst(app, ["noop"]) == [(200, "succeeded")]
    assert count_rows(database, JobRecord) == 2
