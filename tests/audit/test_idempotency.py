"""Exactly once in effect: unique jobs and periodic tasks that succeeded do not run again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from webtest import TestApp

from pyramid_elasticjobs.audit.store import AuditStore
from tests.support import make_envelope

from .support import periodic_headers


def test_redelivery_of_a_succeeded_unique_job_is_a_duplicate(
    audit_app: Any,
    store: AuditStore,
    make_queue: Callable[..., str],
    deliver: Any,
    send_envelope: Callable[..., str],
    audit_runs: list[str],
) -> None:
    """A second copy of a unique job that succeeded answers 200 duplicate and does not run."""
    url = make_queue("default")
    envelope = make_envelope("charge")
    send_envelope(audit_app, url, envelope)
    send_envelope(audit_app, url, envelope)  # SQS delivers at least once
    assert deliver(audit_app, url, status=200).json["status"] == "succeeded"
    assert deliver(audit_app, url, status=200).json == {
        "status": "duplicate",
        "job_id": envelope.job_id,
    }
    assert audit_runs == [envelope.job_id]
    job = store.job(envelope.job_id)
    assert job is not None
    assert (job.state, job.attempts) == ("succeeded", 1)
    attempts = store.attempts(envelope.job_id)
    assert [(a.outcome, a.status) for a in attempts] == [("succeeded", 200), ("duplicate", 200)]
    assert store.counts(datetime.now(UTC) - timedelta(hours=1)) == {
        "succeeded": 1,
        "duplicate": 1,
    }


def test_failed_unique_job_is_retried_and_runs(
    audit_app: Any,
    store: AuditStore,
    make_queue: Callable[..., str],
    deliver: Any,
    send_envelope: Callable[..., str],
    audit_runs: list[str],
) -> None:
    """Only a success makes copies duplicates: a unique job that failed runs on its retry."""
    url = make_queue("default")
    envelope = make_envelope("charge", {"succeed_on_attempt": 2})
    for _ in range(3):
        send_envelope(audit_app, url, envelope)
    assert deliver(audit_app, url, status=500).json["status"] == "failed"
    retry = deliver(audit_app, url, status=200, **{"X-Aws-Sqsd-Receive-Count": "2"})
    assert retry.json["status"] == "succeeded"
    assert deliver(audit_app, url, status=200).json["status"] == "duplicate"
    assert audit_runs == [envelope.job_id, envelope.job_id]
    assert [a.outcome for a in store.attempts(envelope.job_id)] == [
        "failed",
        "succeeded",
        "duplicate",
    ]


def test_unique_is_per_job_id(
    audit_app: Any,
    make_queue: Callable[..., str],
    deliver: Any,
    send_envelope: Callable[..., str],
    audit_runs: list[str],
) -> None:
    """Two jobs of one unique job name with different ids both run."""
    url = make_queue("default")
    first, second = make_envelope("charge"), make_envelope("charge")
    send_envelope(audit_app, url, first)
    send_envelope(audit_app, url, second)
    deliver(audit_app, url, status=200)
    deliver(audit_app, url, status=200)
    assert sorted(audit_runs) == sorted([first.job_id, second.job_id])


def test_periodic_task_runs_once_per_scheduled_time(
    audit_app: Any, store: AuditStore, ran: list[Any]
) -> None:
    """The same (task, scheduled-at) sent twice runs once; another scheduled time runs again."""
    app = TestApp(audit_app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    eleven = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    answers = [
        app.post("/periodic_tasks", headers=periodic_headers("nightly_report", moment)).json
        for moment in (eleven, eleven, eleven + timedelta(days=1))
    ]
    assert [answer["status"] for answer in answers] == ["succeeded", "duplicate", "succeeded"]
    assert [name for name, _, _ in ran] == ["nightly_report", "nightly_report"]
    assert [ctx.scheduled_at for _, ctx, _ in ran] == [eleven, eleven + timedelta(days=1)]
    duplicate = store.job(answers[1]["job_id"])
    assert duplicate is not None
    assert (duplicate.name, duplicate.state, duplicate.attempts) == (
        "nightly_report",
        "discarded",
        0,
    )


def test_failed_periodic_run_runs_again(audit_app: Any, audit_runs: list[str]) -> None:
    """A periodic task that failed for a scheduled time runs again on the daemon's retry."""
    app = TestApp(audit_app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    headers = periodic_headers("flaky_report", datetime(2026, 11, 28, 23, 0, tzinfo=UTC))
    assert app.post("/periodic_tasks", headers=headers, status=500).json["status"] == "failed"
    retry = {**headers, "X-Aws-Sqsd-Receive-Count": "2"}
    assert app.post("/periodic_tasks", headers=retry, status=200).json["status"] == "succeeded"
    assert app.post("/periodic_tasks", headers=retry, status=200).json["status"] == "duplicate"
    assert len(audit_runs) == 2
