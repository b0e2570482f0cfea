"""Lifecycle events: what the audit log will be built on, and listeners that cannot hurt jobs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyramid.config import Configurator
from webtest import TestApp

from pyramid_elasticjobs import (
    JobDiscarded,
    JobEnqueued,
    JobEvent,
    JobFailed,
    JobRejected,
    JobRescheduled,
    JobStarted,
    JobSucceeded,
    get_client,
)

from .support import make_envelope


@pytest.fixture
def seen() -> list[JobEvent]:
    return []


@pytest.fixture
def listening_app(
    make_app: Callable[..., Any], make_queue: Callable[..., str], seen: list[JobEvent]
) -> Any:
    """An app whose subscriber records every job event (subscribed to the JobEvent base)."""
    make_queue("default")
    make_queue("images")

    def configure(config: Configurator) -> None:
        config.add_subscriber(seen.append, JobEvent)

    return make_app(configure)


def kinds(events: list[JobEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


def test_success_announces_enqueued_started_succeeded(
    listening_app: Any, make_queue: Any, deliver: Any, seen: list[JobEvent]
) -> None:
    """Enqueue and a successful run give JobEnqueued, JobStarted, JobSucceeded, in order."""
    enqueued = get_client(listening_app.registry).enqueue("resize_image", image_id=3)
    deliver(listening_app, make_queue("images"), status=200)
    assert kinds(seen) == ["JobEnqueued", "JobStarted", "JobSucceeded"]
    announced, started, succeeded = seen
    assert isinstance(announced, JobEnqueued)
    assert announced.message_id == enqueued.message_id
    assert announced.queue_url.endswith("images")
    assert announced.delivery is None
    assert all(event.envelope.job_id == enqueued.job_id for event in seen)
    assert isinstance(started, JobStarted)
    assert started.delivery is not None
    assert started.delivery.headers["X-Aws-Sqsd-Msgid"] == enqueued.message_id
    assert isinstance(succeeded, JobSucceeded)
    assert succeeded.duration >= 0
    assert succeeded.envelope.arguments == {"image_id": 3, "width": 800}


def test_failure_carries_the_exception(
    listening_app: Any, make_queue: Any, deliver: Any, seen: list[JobEvent]
) -> None:
    """A job that raises is announced with JobFailed and the exception."""
    get_client(listening_app.registry).enqueue("explode")
    deliver(listening_app, make_queue("default"), status=500)
    failed = seen[-1]
    assert isinstance(failed, JobFailed)
    assert str(failed.exception) == "boom"


def test_discard_is_announced(
    listening_app: Any, make_queue: Any, deliver: Any, seen: list[JobEvent]
) -> None:
    """A discard_on exception is announced with JobDiscarded."""
    get_client(listening_app.registry).enqueue("vanish")
    deliver(listening_app, make_queue("default"), status=200)
    assert isinstance(seen[-1], JobDiscarded)
    assert type(seen[-1].exception).__name__ == "PermanentError"


def test_rejection_is_announced(
    listening_app: Any, make_queue: Any, send_envelope: Any, deliver: Any, seen: list[JobEvent]
) -> None:
    """A signed message that cannot run is announced with JobRejected and the reason."""
    url = make_queue("default")
    send_envelope(listening_app, url, make_envelope("ghost"))
    deliver(listening_app, url, status=422)
    [rejected] = seen
    assert isinstance(rejected, JobRejected)
    assert rejected.status == 422
    assert "no job named 'ghost'" in rejected.reason


def test_reschedule_is_announced(
    listening_app: Any, make_queue: Any, send_envelope: Any, deliver: Any, seen: list[JobEvent]
) -> None:
    """A message re-sent for a long delay is announced with the new message and its delay."""
    url = make_queue("default")
    send_envelope(listening_app, url, make_envelope(run_at=datetime.now(UTC) + timedelta(hours=2)))
    deliver(listening_app, url, status=200)
    [rescheduled] = seen
    assert isinstance(rescheduled, JobRescheduled)
    assert rescheduled.delay_seconds == 900
    assert rescheduled.message_id


def test_specific_subscription_gets_only_its_event(
    make_app: Callable[..., Any], make_queue: Any, deliver: Any
) -> None:
    """Subscribing to JobFailed does not receive the other events."""
    failures: list[JobEvent] = []
    make_queue("default")
    app = make_app(lambda config: config.add_subscriber(failures.append, JobFailed))
    get_client(app.registry).enqueue("noop")
    get_client(app.registry).enqueue("explode")
    for _ in range(2):
        deliver(app, make_queue("default"))
    assert kinds(failures) == ["JobFailed"]


@pytest.mark.parametrize(("job", "status"), [("noop", 200), ("explode", 500)])
def test_failing_listener_changes_nothing(
    make_app: Callable[..., Any],
    make_queue: Any,
    deliver: Any,
    ran: list[Any],
    caplog: pytest.LogCaptureFixture,
    job: str,
    status: int,
) -> None:
    """A listener that raises is logged; the job's status and later listeners are unaffected."""
    later: list[JobEvent] = []

    def broken(event: JobEvent) -> None:
        raise ValueError("listener bug")

    def configure(config: Configurator) -> None:
        config.add_subscriber(broken, JobEvent)
        config.add_subscriber(later.append, JobEvent)

    make_queue("default")
    app = make_app(configure)
    get_client(app.registry).enqueue(job)
    deliver(app, make_queue("default"), status=status)
    assert len(ran) == 1
    assert len(later) == 3
    failures = [r for r in caplog.records if "subscriber" in r.getMessage()]
    assert len(failures) == 3
    assert all(r.levelno == logging.ERROR and r.exc_info for r in failures)


def test_listener_failing_on_enqueue_does_not_fail_the_enqueue(
    make_app: Callable[..., Any], make_queue: Any
) -> None:
    """A broken JobEnqueued subscriber cannot make a confirmed send look failed."""

    def broken(event: JobEvent) -> None:
        raise ValueError("listener bug")

    make_queue("default")
    app = make_app(lambda config: config.add_subscriber(broken, JobEnqueued))
    assert get_client(app.registry).enqueue("noop").message_id
    assert TestApp(app).get("/").json == {"app": "home"}


# -- under pyramid_tm: announced only once the transaction has ended ----------------

ORDER: list[str] = []


def _committing_job(ctx: Any, refuse_commit: bool, discard: bool) -> None:
    """Notes its transaction's commit; can make the commit fail, or be discarded."""
    transaction = ctx.request.tm.get()
    transaction.addAfterCommitHook(lambda ok: ORDER.append("committed" if ok else "failed"))
    transaction.addAfterAbortHook(lambda: ORDER.append("aborted"))
    if refuse_commit:

        def refuse() -> None:
            raise RuntimeError("commit refused")

        transaction.addBeforeCommitHook(refuse)
    if discard:
        raise LookupError("gone")


@pytest.fixture
def tm_listening_app(
    make_app: Callable[..., Any], make_queue: Callable[..., str], seen: list[JobEvent]
) -> Any:
    from marshmallow import Schema, fields

    class Options(Schema):
        refuse_commit = fields.Bool(load_default=False)
        discard = fields.Bool(load_default=False)

    def configure(config: Configurator) -> None:
        config.include("pyramid_tm")
        config.add_job(_committing_job, schema=Options, name="commit", discard_on=(LookupError,))
        config.add_subscriber(lambda event: ORDER.append(type(event).__name__), JobEvent)
        config.add_subscriber(seen.append, JobEvent)

    make_queue("default")
    ORDER.clear()
    return make_app(configure)


def test_under_pyramid_tm_success_is_announced_after_the_commit(
    tm_listening_app: Any, make_queue: Any, deliver: Any
) -> None:
    """JobSucceeded comes once the job's transaction has committed, not before."""
    get_client(tm_listening_app.registry).enqueue("commit")
    deliver(tm_listening_app, make_queue("default"), status=200)
    assert ORDER == ["JobEnqueued", "JobStarted", "committed", "JobSucceeded"]


def test_under_pyramid_tm_a_failed_commit_is_a_failed_attempt(
    tm_listening_app: Any, make_queue: Any, deliver: Any, seen: list[JobEvent]
) -> None:
    """A job that returns but whose commit fails: JobFailed with the commit's error, never 200."""
    get_client(tm_listening_app.registry).enqueue("commit", refuse_commit=True)
    with pytest.raises(RuntimeError, match="commit refused"):
        deliver(tm_listening_app, make_queue("default"))
    assert ORDER == ["JobEnqueued", "JobStarted", "aborted", "JobFailed"]
    assert isinstance(seen[-1], JobFailed)
    assert str(seen[-1].exception) == "commit refused"


def test_under_pyramid_tm_discard_is_announced_after_the_abort(
    tm_listening_app: Any, make_queue: Any, deliver: Any
) -> None:
    """A discarded job's transaction is aborted first; then JobDiscarded is announced."""
    get_client(tm_listening_app.registry).enqueue("commit", discard=True)
    deliver(tm_listening_app, make_queue("default"), status=200)
    assert ORDER == ["JobEnqueued", "JobStarted", "aborted", "JobDiscarded"]


def test_without_pyramid_tm_the_commit_tween_adds_no_layer(listening_app: Any) -> None:
    """Without pyramid_tm the outermost layer is the worker tween itself: nothing waits."""
    assert listening_app.handle_request.__name__ == "elasticjobs_worker_tween"


def test_failure_at_max_receive_count_is_the_last_attempt(
    listening_app: Any,
    sqs: Any,
    make_queue: Any,
    deliver: Any,
    seen: list[JobEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At the redrive policy's maxReceiveCount a failure says SQS dead-letters the message."""
    dead = make_queue("default-dead-letters")
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]
    url = make_queue("default")
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": "2"}
            ),
        },
    )
    get_client(listening_app.registry).enqueue("explode")
    deliver(listening_app, url, status=500)
    deliver(listening_app, url, status=500)
    failures = [event for event in seen if isinstance(event, JobFailed)]
    assert [event.last_attempt for event in failures] == [False, True]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "failed its last attempt (2 of the queue's maxReceiveCount 2)" in warning
    assert "dead-letter queue" in warning


def test_unique_job_without_a_ledger_refuses_to_start(make_app: Callable[..., Any]) -> None:
    """unique=True needs the audit log; a worker without it fails at start-up, saying so."""
    from pyramid_elasticjobs import ConfigurationError

    def configure(config: Configurator) -> None:
        config.add_job(lambda ctx: None, name="once", unique=True)

    with pytest.raises(ConfigurationError, match=r"once are declared unique=True.*audit log"):
        make_app(configure)
