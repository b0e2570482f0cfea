"""Every job event is recorded as designed: the job's row, its attempts and the hour's counts."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from webtest import TestApp

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.audit.models import (
    ActionRecord,
    AttemptRecord,
    DeadLetterRecord,
    JobRecord,
    JobState,
    Outcome,
)
from pyramid_elasticjobs.audit.store import (
    MAX_TRACEBACK_CHARS,
    AttemptFacts,
    AuditStore,
    JobFacts,
)
from pyramid_elasticjobs.audit.writer import flush_all
from tests.support import make_envelope, receive

from .support import (
    attempts_per_job,
    count_rows,
    daemon_delivers,
    rollup_totals,
    signed_delivery,
)


def _only_attempt(store: AuditStore, job_id: str) -> AttemptRecord:
    [attempt] = store.attempts(job_id)
    return attempt


def _job(store: AuditStore, job_id: str) -> JobRecord:
    job = store.job(job_id)
    assert job is not None, f"job {job_id} was not recorded"
    return job


def test_enqueue_is_recorded(audit_app: Any, store: AuditStore) -> None:
    """An enqueue records the job (name, queue, arguments, message id, time) as enqueued."""
    before = datetime.now(UTC)
    handle = get_client(audit_app.registry).enqueue("resize_image", image_id=7)
    job = _job(store, handle.job_id)
    assert (job.name, job.queue, job.state) == ("resize_image", "images", "enqueued")
    assert job.arguments == {"image_id": 7, "width": 800}
    assert job.message_id == handle.message_id
    assert job.attempts == 0
    assert job.enqueued_at is not None
    assert job.enqueued_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= job.enqueued_at <= datetime.now(UTC)
    assert job.finished_at is None
    assert store.attempts(handle.job_id) == []
    assert store.counts(before) == {"enqueued": 1}


def test_success_is_recorded(
    audit_app: Any, store: AuditStore, make_queue: Callable[..., str], deliver: Any
) -> None:
    """A run that returns is an attempt answered 200 and a succeeded job with its times."""
    handle = get_client(audit_app.registry).enqueue("noop")
    response = deliver(audit_app, make_queue("default"), status=200)
    assert response.json["status"] == "succeeded"
    job = _job(store, handle.job_id)
    assert (job.state, job.attempts) == ("succeeded", 1)
    assert job.finished_at is not None
    assert job.finished_at.tzinfo is not None
    assert job.last_error is None
    attempt = _only_attempt(store, handle.job_id)
    assert (attempt.outcome, attempt.status, attempt.receive_count) == ("succeeded", 200, 1)
    assert attempt.message_id == handle.message_id
    assert attempt.exception_class is None
    assert attempt.duration is not None
    assert attempt.duration >= 0
    assert attempt.started_at <= attempt.finished_at
    assert attempt.pid > 0
    assert attempt.host


def test_start_is_recorded_before_the_job_runs(
    audit_app: Any,
    make_queue: Callable[..., str],
    deliver: Any,
    audit_runs: list[str],
) -> None:
    """While a job runs, its row already says running and counts the attempt."""
    handle = get_client(audit_app.registry).enqueue("look_at_own_row")
    deliver(audit_app, make_queue("default"), status=200)
    assert audit_runs == [f"{handle.job_id} running 1"]


def test_failure_is_recorded_with_its_exception(
    audit_app: Any, store: AuditStore, make_queue: Callable[..., str], deliver: Any
) -> None:
    """A job that raises: attempt answered 500 with class, message and traceback; job failed."""
    handle = get_client(audit_app.registry).enqueue("explode")
    deliver(audit_app, make_queue("default"), status=500)
    job = _job(store, handle.job_id)
    assert (job.state, job.attempts) == ("failed", 1)
    assert job.finished_at is None  # it will be retried
    assert (job.last_error_class, job.last_error) == ("RuntimeError", "RuntimeError: boom")
    attempt = _only_attempt(store, handle.job_id)
    assert (attempt.outcome, attempt.status) == ("failed", 500)
    assert (attempt.exception_class, attempt.exception_message) == ("RuntimeError", "boom")
    assert attempt.traceback is not None
    assert "in explode_job" in attempt.traceback
    assert attempt.traceback.rstrip().endswith("RuntimeError: boom")


def test_discard_is_recorded(
    audit_app: Any, store: AuditStore, make_queue: Callable[..., str], deliver: Any
) -> None:
    """A job discarded by its discard_on exception: answered 200, recorded as discarded."""
    handle = get_client(audit_app.registry).enqueue("vanish")
    deliver(audit_app, make_queue("default"), status=200)
    job = _job(store, handle.job_id)
    assert job.state == "discarded"
    assert job.finished_at is not None
    assert job.last_error_class == "tests.sample_jobs.PermanentError"
    attempt = _only_attempt(store, handle.job_id)
    assert (attempt.outcome, attempt.status) == ("discarded", 200)
    assert attempt.exception_message == "record 7 was deleted"


def test_rejection_is_recorded_with_reason_and_status(
    audit_app: Any,
    store: AuditStore,
    make_queue: Callable[..., str],
    deliver: Any,
    send_envelope: Callable[..., str],
) -> None:
    """A job this app does not know is refused 422: recorded rejected, with the reason,
    and without its arguments (which of them are sensitive is unknown)."""
    url = make_queue("default")
    envelope = make_envelope("no_such_job", {"card_number": "4111111111111111"})
    message_id = send_envelope(audit_app, url, envelope)
    deliver(audit_app, url, status=422)
    job = _job(store, envelope.job_id)
    assert (job.name, job.state, job.message_id) == ("no_such_job", "rejected", message_id)
    assert job.arguments is None
    assert job.attempts == 0  # it never ran
    assert job.finished_at is not None
    attempt = _only_attempt(store, envelope.job_id)
    assert (attempt.outcome, attempt.status) == ("rejected", 422)
    assert attempt.exception_class is None
    assert attempt.exception_message is not None
    assert "no_such_job" in attempt.exception_message
    assert "4111111111111111" not in json.dumps(
        [job.arguments, job.last_error, attempt.exception_message]
    )


def test_expired_message_is_recorded_as_rejected_410(
    audit_app: Any,
    store: AuditStore,
    make_queue: Callable[..., str],
    deliver: Any,
    send_envelope: Callable[..., str],
) -> None:
    """A replayed message past its expiry: the rejection records status 410 and why."""
    url = make_queue("default")
    past = datetime.now(UTC) - timedelta(days=20)
    envelope = make_envelope("noop", enqueued_at=past, expires_at=past + timedelta(days=14))
    send_envelope(audit_app, url, envelope)
    deliver(audit_app, url, status=410)
    attempt = _only_attempt(store, envelope.job_id)
    assert (attempt.outcome, attempt.status) == ("rejected", 410)
    assert "expired" in (attempt.exception_message or "")
    assert _job(store, envelope.job_id).arguments == {}


def test_arguments_are_stored_redacted(
    audit_app: Any, store: AuditStore, make_queue: Callable[..., str], deliver: Any
) -> None:
    """Fields a job marks sensitive (redact=) are never stored, at enqueue nor at delivery."""
    handle = get_client(audit_app.registry).enqueue("sign_in", user="ada", password="hunter2")
    assert _job(store, handle.job_id).arguments == {"user": "ada", "password": "[redacted]"}
    deliver(audit_app, make_queue("default"), status=200)
    job = _job(store, handle.job_id)
    assert job.state == "succeeded"
    assert job.arguments == {"user": "ada", "password": "[redacted]"}


def test_delivery_of_an_unrecorded_job_records_it(
    audit_app: Any,
    store: AuditStore,
    make_queue: Callable[..., str],
    deliver: Any,
    send_envelope: Callable[..., str],
) -> None:
    """A job enqueued elsewhere (no enqueue record) is recorded from its delivery, redacted."""
    url = make_queue("default")
    envelope = make_envelope("sign_in", {"user": "ada", "password": "hunter2"})
    send_envelope(audit_app, url, envelope)
    deliver(audit_app, url, status=200)
    job = _job(store, envelope.job_id)
    assert (job.state, job.attempts) == ("succeeded", 1)
    assert job.arguments == {"user": "ada", "password": "[redacted]"}
    assert job.enqueued_at == envelope.enqueued_at


def test_reschedule_is_recorded(
    audit_app: Any,
    store: AuditStore,
    make_queue: Callable[..., str],
    deliver: Any,
    send_envelope: Callable[..., str],
) -> None:
    """A job that came back before its run_at is re-sent: enqueued again, with the new message."""
    url = make_queue("default")
    run_at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    envelope = make_envelope("noop", run_at=run_at)
    first = send_envelope(audit_app, url, envelope)
    deliver(audit_app, url, status=200)
    job = _job(store, envelope.job_id)
    assert job.state == "enqueued"
    assert job.run_at == run_at
    assert job.message_id is not None
    assert job.message_id != first
    assert store.attempts(envelope.job_id) == []


def test_retries_count_attempts(
    audit_app: Any,
    store: AuditStore,
    sqs: Any,
    make_queue: Callable[..., str],
    deliver: Any,
) -> None:
    """Each delivery is one attempt row; the job counts them and keeps the last state."""
    url = make_queue("default")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    handle = get_client(audit_app.registry).enqueue("charge", succeed_on_attempt=3)
    deliver(audit_app, url, status=500)
    deliver(audit_app, url, status=500)
    deliver(audit_app, url, status=200)
    job = _job(store, handle.job_id)
    assert (job.state, job.attempts) == ("succeeded", 3)
    assert [a.receive_count for a in store.attempts(handle.job_id)] == [1, 2, 3]
    assert [a.outcome for a in store.attempts(handle.job_id)] == ["failed", "failed", "succeeded"]
    assert job.last_error_class == "ConnectionError"


def test_last_failure_at_max_receive_count_marks_the_job_dead(
    audit_app: Any,
    store: AuditStore,
    sqs: Any,
    make_queue: Callable[..., str],
    deliver: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure at the queue's maxReceiveCount marks the job dead (SQS dead-letters it)."""
    dead_letters = make_queue("default-dead")
    dead_letters_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    url = make_queue("default")
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_letters_arn, "maxReceiveCount": "3"}
            ),
        },
    )
    before = datetime.now(UTC)
    handle = get_client(audit_app.registry).enqueue("explode")
    for _ in range(2):
        deliver(audit_app, url, status=500)
        assert _job(store, handle.job_id).state == "failed"
    with caplog.at_level(logging.WARNING):
        deliver(audit_app, url, status=500)
    job = _job(store, handle.job_id)
    assert (job.state, job.attempts) == ("dead", 3)
    assert job.finished_at is not None
    assert [a.outcome for a in store.attempts(handle.job_id)] == ["failed"] * 3
    assert store.counts(before) == {"enqueued": 1, "failed": 3, "dead": 1}
    assert any("dead-letter queue" in r.getMessage() for r in caplog.records)
    # SQS agrees: the next receive moves the message into the dead-letter queue.
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert receive(sqs, dead_letters)["MessageId"] == handle.message_id


def test_rollups_count_every_outcome(
    audit_app: Any,
    store: AuditStore,
    database: Engine,
    make_queue: Callable[..., str],
    deliver: Any,
    send_envelope: Callable[..., str],
) -> None:
    """The hour's counts per outcome equal the events: one per enqueue and per attempt."""
    url = make_queue("default")
    client = get_client(audit_app.registry)
    before = datetime.now(UTC)
    for name in ("noop", "noop", "explode", "vanish"):
        client.enqueue(name)
    send_envelope(audit_app, url, make_envelope("no_such_job"))
    statuses = sorted(deliver(audit_app, url).status_int for _ in range(5))
    assert statuses == [200, 200, 200, 422, 500]
    expected = {"enqueued": 4, "succeeded": 2, "failed": 1, "discarded": 1, "rejected": 1}
    assert store.counts(before) == expected
    assert rollup_totals(database) == expected
    assert store.counts(datetime.now(UTC) + timedelta(hours=1)) == {}


def test_counts_read_only_the_rollups(
    audit_app: Any,
    store: AuditStore,
    database: Engine,
    make_queue: Callable[..., str],
    deliver: Any,
) -> None:
    """counts() never touches the log itself: one query, on the rollups table alone."""
    client = get_client(audit_app.registry)
    client.enqueue("noop")
    deliver(audit_app, make_queue("default"), status=200)
    store.flush()  # the job events, written behind, are not what is measured here
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        counts = store.counts(datetime.now(UTC) - timedelta(hours=1))
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert counts == {"enqueued": 1, "succeeded": 1}
    assert len(statements) == 1
    assert "elasticjobs_rollups" in statements[0]
    for table in ("elasticjobs_jobs", "elasticjobs_attempts"):
        assert table not in statements[0]


def test_recent_jobs_are_newest_first(audit_app: Any, store: AuditStore) -> None:
    """recent_jobs lists the latest recorded jobs first, up to the limit."""
    client = get_client(audit_app.registry)
    ids = [client.enqueue("noop").job_id for _ in range(3)]
    assert [job.job_id for job in store.recent_jobs(limit=2)] == ids[:0:-1]


def test_attempts_column_matches_attempt_rows(
    audit_app: Any,
    database: Engine,
    sqs: Any,
    make_queue: Callable[..., str],
    deliver: Any,
) -> None:
    """Runs counted on the job row equal the attempt rows of runs, for every job."""
    url = make_queue("default")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    client = get_client(audit_app.registry)
    ids = [client.enqueue("charge", succeed_on_attempt=2).job_id for _ in range(2)]
    statuses = [daemon_delivers(sqs, audit_app, url).json["status"] for _ in range(4)]
    assert statuses == ["failed", "succeeded", "failed", "succeeded"]
    assert attempts_per_job(database) == dict.fromkeys(ids, 2)
    assert count_rows(database, AttemptRecord) == 4
    assert count_rows(database, JobRecord) == 2


def test_delivery_through_the_real_protocol_headers(audit_app: Any, store: AuditStore) -> None:
    """A POST built like the daemon's (receive count 4) records that receive count."""
    envelope = make_envelope("noop")
    body, headers = signed_delivery(audit_app.registry, envelope, receive_count=4)
    TestApp(audit_app).post(
        "/", body, headers=headers, extra_environ={"REMOTE_ADDR": "127.0.0.1"}, status=200
    )
    assert _only_attempt(store, envelope.job_id).receive_count == 4


def test_dead_letter_snapshots_keep_first_seen_and_take_the_action(
    store: AuditStore, database: Engine
) -> None:
    """A dead letter seen twice is one row (first seen kept, last seen and count updated); an
    operator's action on it is recorded and marks the snapshot."""
    seen = {
        "dead_letter_queue": "default-dead",
        "message_id": "m-1",
        "source_queue": "default",
        "job_id": "j-1",
        "body": '{"name": "explode"}',
        "attributes": {"ElasticJobs-Name": "explode"},
    }
    store.dead_letter_seen(**seen, receive_count=10)
    store.dead_letter_seen(**seen, receive_count=11)
    store.action_taken(
        actor="ops@example.com",
        action="redriven",
        queue="default-dead",
        job_id="j-1",
        message_id="m-1",
        detail={"to": "default"},
    )
    flush_all()  # job events are written behind
    with database.connect() as connection:
        [letter] = connection.execute(select(DeadLetterRecord)).all()
        [action] = connection.execute(select(ActionRecord)).all()
    assert letter.receive_count == 11
    assert letter.first_seen_at < letter.last_seen_at
    assert letter.attributes == {"ElasticJobs-Name": "explode"}
    assert (letter.action, letter.action_by) == ("redriven", "ops@example.com")
    assert letter.action_at == action.at
    assert (action.actor, action.action, action.job_id) == ("ops@example.com", "redriven", "j-1")
    assert action.detail == {"to": "default"}


def test_long_tracebacks_are_cut_in_the_middle(
    audit_app: Any, store: AuditStore, make_queue: Callable[..., str], deliver: Any
) -> None:
    """A huge traceback keeps its start and its end (the raise), and says how much was cut."""
    handle = get_client(audit_app.registry).enqueue("sign_in", user="x" * 60_000, password="p")
    deliver(audit_app, make_queue("default"), status=200)
    job = store.job(handle.job_id)
    assert job is not None
    assert job.state == "succeeded"  # the long argument itself is stored whole
    error = RuntimeError("y" * 60_000)
    facts = JobFacts(handle.job_id, "sign_in", "default", None, None, None, None)
    now = datetime.now(UTC)
    store.attempt_ended(
        facts, AttemptFacts(2, now, now, 0.0, Outcome.FAILED, 500, error), JobState.FAILED
    )
    attempt = store.attempts(handle.job_id)[-1]
    assert attempt.traceback is not None
    assert len(attempt.traceback) < MAX_TRACEBACK_CHARS + 100
    assert "characters cut" in attempt.traceback
    assert attempt.traceback.startswith("RuntimeError: yyy")
    assert attempt.traceback.rstrip().endswith("yyy")
