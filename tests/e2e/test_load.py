"""5,000 jobs through the whole local stack at 50 connections; every one accounted for."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import boto3
import pytest

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.devstack import DevStack
from tests.support import REGION

from .app import ledger as ledger_of
from .jobs import ALWAYS, FIRST_ATTEMPT, NEVER, work
from .support import MAX_RECEIVE_COUNT, depth, drain, job_numbers

JOBS = 5_000
CONNECTIONS = 50
#: moto does work in proportion to a queue's length on every call (each SendMessage
#: recounts the queue), so a backlog of 5,000 would make moto the subject of the
#: test: jobs are enqueued in waves, keeping at most about this many in the queue.
WAVE = 100
#: Generous, for a loaded 2-core CI machine; it bounds the test, it does not judge its speed.
DEADLINE_SECONDS = 8 * 60


def planned_failure(n: int) -> str:
    """1% of the jobs always fail, another 10% fail on their first attempt only."""
    if n % 100 == 0:
        return ALWAYS
    if n % 10 == 5:
        return FIRST_ATTEMPT
    return NEVER


@pytest.mark.load
def test_five_thousand_jobs_each_run_or_reach_the_dead_letter_queue(
    make_stack: Callable[..., DevStack], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each job runs; retried ones succeed on attempt 2; only the always-failing are dead."""
    stack = make_stack({"http_connections": CONNECTIONS})
    ledger = ledger_of(stack.registry)
    jobs = get_client(stack.registry)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=stack.sqs_endpoint)
    queue = stack.queues[0]
    plan = {n: planned_failure(n) for n in range(JOBS)}
    permanent = {n for n, fails in plan.items() if fails == ALWAYS}
    started = time.monotonic()
    deadline = started + DEADLINE_SECONDS
    enqueued = 0
    while True:
        waiting = sum(depth(sqs, queue.url).values())
        if enqueued < JOBS and waiting <= WAVE // 2:
            wave = range(enqueued, min(JOBS, enqueued + WAVE))
            jobs.enqueue_many(work, [{"n": n, "fails": plan[n]} for n in wave])
            enqueued = wave.stop
            continue
        succeeded = {run.n for run in ledger.runs("work") if run.succeeded}
        dead = depth(sqs, queue.dead_letter_url)["ApproximateNumberOfMessages"]
        if enqueued == JOBS and not waiting and dead == len(permanent):
            break
        if time.monotonic() > deadline:
            pytest.fail(
                f"the stack did not converge within {DEADLINE_SECONDS}s: {enqueued} jobs "
                f"enqueued, {len(succeeded)}/{JOBS - len(permanent)} succeeded, "
                f"{dead}/{len(permanent)} dead letters, {waiting} messages still in the queue"
            )
        time.sleep(0.1)
    elapsed = time.monotonic() - started

    attempts = Counter(run.n for run in ledger.runs("work"))
    expected_attempts = {
        n: {NEVER: 1, FIRST_ATTEMPT: 2, ALWAYS: MAX_RECEIVE_COUNT}[fails]
        for n, fails in plan.items()
    }
    assert succeeded == set(plan) - permanent
    assert set(job_numbers(drain(sqs, queue.dead_letter_url))) == permanent
    assert attempts == expected_attempts
    with capsys.disabled():
        print(
            f"\n{JOBS} jobs ({sum(attempts.values())} deliveries) at {CONNECTIONS} "
            f"connections: {elapsed:.1f}s, {sum(attempts.values()) / elapsed:.0f} deliveries/s"
        )
