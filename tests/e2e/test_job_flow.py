"""Jobs through the real path: SQS (moto), the local daemon, HTTP, waitress, the worker tween."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pyramid_elasticjobs import JobRescheduled, JobSucceeded
from pyramid_elasticjobs.devstack import DevStack
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.signing import signed_message
from tests.support import make_envelope

from .app import Ledger, StatusRecorder
from .app import ledger as ledger_of
from .jobs import ALWAYS, elsewhere, work
from .support import MAX_RECEIVE_COUNT, depth, drain, job_numbers, wait_for

TIMEOUT = 60.0


def test_an_enqueued_job_runs_once_and_leaves_the_queue(
    stack: DevStack, jobs: Any, ledger: Ledger, stack_sqs: Any
) -> None:
    """A job sent with enqueue is POSTed by the daemon, runs on attempt 1 and is deleted."""
    enqueued = jobs.enqueue(work, n=7)

    runs = wait_for(lambda: ledger.runs("work"), TIMEOUT, "the job to run")
    wait_for(lambda: ledger.events(JobSucceeded), TIMEOUT, "the job to be reported as succeeded")
    assert [(run.job_id, run.n, run.attempt, run.succeeded) for run in runs] == [
        (enqueued.job_id, 7, 1, True)
    ]
    wait_for(
        lambda: not any(depth(stack_sqs, stack.queues[0].url).values()),
        TIMEOUT,
        "the message to be deleted",
    )


def test_a_job_of_another_queue_runs_through_that_queues_daemon(
    stack: DevStack, jobs: Any, ledger: Ledger
) -> None:
    """Each queue the app declares gets its own daemon, which delivers its jobs."""
    jobs.enqueue(elsewhere, n=3)

    runs = wait_for(lambda: ledger.runs("elsewhere"), TIMEOUT, "the job to run")
    assert [run.n for run in runs] == [3]
    assert sorted(stack.daemons) == ["default", "other"]


def test_a_failing_job_is_retried_then_moved_to_the_dead_letter_queue(
    stack: DevStack, jobs: Any, ledger: Ledger, stack_sqs: Any
) -> None:
    """Each failure is retried (receive count 1, 2, 3), then SQS moves it to the DLQ."""
    enqueued = jobs.enqueue(work, n=1, fails=ALWAYS)
    dead_letters = stack.queues[0].dead_letter_url

    wait_for(
        lambda: depth(stack_sqs, dead_letters)["ApproximateNumberOfMessages"],
        TIMEOUT,
        "the job to reach the dead-letter queue",
    )
    assert [run.attempt for run in ledger.runs("work")] == list(range(1, MAX_RECEIVE_COUNT + 1))
    [dead] = drain(stack_sqs, dead_letters)
    assert json.loads(dead["Body"])["id"] == enqueued.job_id


def test_a_delayed_job_does_not_run_before_its_delay(jobs: Any, ledger: Ledger) -> None:
    """A job enqueued with delay=3 runs, but no sooner than 3 seconds after it was sent."""
    sent = time.monotonic()
    jobs.enqueue(work, n=2, delay=3)

    [run] = wait_for(lambda: ledger.runs("work"), TIMEOUT, "the delayed job to run")
    assert run.at - sent >= 3.0


def test_a_job_due_beyond_sqs_longest_delay_is_sent_again_not_run(
    stack: DevStack, ledger: Ledger, stack_sqs: Any
) -> None:
    """A message that arrives long before its run_at is re-sent with a 900 s delay."""
    runtime = get_runtime(stack.registry)
    envelope = make_envelope("work", {"n": 5}, run_at=datetime.now(UTC) + timedelta(minutes=20))
    # Sent without its DelaySeconds, as if the 15 minutes SQS allows were over.
    runtime.transport.send("default", signed_message(runtime, envelope.to_json(), "work"))

    [event] = wait_for(lambda: ledger.events(JobRescheduled), TIMEOUT, "the job to be rescheduled")
    assert (event.envelope.job_id, event.delay_seconds) == (envelope.job_id, 900)
    assert depth(stack_sqs, stack.queues[0].url)["ApproximateNumberOfMessagesDelayed"] == 1
    assert ledger.runs("work") == []


def test_a_tampered_message_is_refused_until_it_reaches_the_dead_letter_queue(
    stack: DevStack, ledger: Ledger, stack_sqs: Any
) -> None:
    """A signed message whose body was changed gets 403 on each delivery, then goes to the DLQ."""
    runtime = get_runtime(stack.registry)
    original = make_envelope("work", {"n": 1})
    message = signed_message(runtime, original.to_json(), "work")
    tampered = original.to_json().replace(b'"n":1', b'"n":1000')
    message_id = stack_sqs.send_message(
        QueueUrl=stack.queues[0].url,
        MessageBody=tampered.decode(),
        MessageAttributes=message.sqs_attributes(),
    )["MessageId"]
    dead_letters = stack.queues[0].dead_letter_url

    wait_for(
        lambda: depth(stack_sqs, dead_letters)["ApproximateNumberOfMessages"],
        TIMEOUT,
        "the tampered message to reach the dead-letter queue",
    )
    recorder: StatusRecorder = stack.app  # type: ignore[assignment]
    assert recorder.statuses_of(message_id) == [403] * MAX_RECEIVE_COUNT
    assert job_numbers(drain(stack_sqs, dead_letters)) == [1000]
    assert ledger.runs() == []


def test_a_periodic_task_from_cron_yaml_runs_its_job(
    make_stack: Callable[..., DevStack], cron_file: Path
) -> None:
    """The daemon sends the due cron.yaml task into the queue; its job runs with scheduled_at."""
    stack = make_stack({"cron_path": str(cron_file)})
    due = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    assert stack.daemons["default"].fire_periodic_tasks(due) == ["tick"]

    ledger = ledger_of(stack.registry)
    runs = wait_for(lambda: ledger.runs("tick"), TIMEOUT, "the periodic task to run")
    assert due.isoformat() in [run.scheduled_at for run in runs]
