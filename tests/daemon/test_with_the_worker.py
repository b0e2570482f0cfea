"""The daemon against a real pyramid_elasticjobs application: jobs and periodic tasks run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.daemon.daemon import SqsDaemon
from pyramid_elasticjobs.daemon.options import DaemonOptions

from .support import queue_counts, serve, wait_until


@pytest.fixture
def app_url(make_app: Callable[..., Any], make_queue: Callable[..., str]) -> Iterator[str]:
    """The sample application (jobs scanned, processing on), served by waitress.

    The daemon connects straight to waitress, with no proxy in between, so REMOTE_ADDR
    is the daemon's own address and the application may say so.
    """
    make_queue("default")
    make_queue("images")
    app = make_app(**{"elasticjobs.remote_addr_is_client": "true"})
    with serve(app) as url:
        yield url


@pytest.fixture
def daemon_for_app(
    make_options: Callable[..., DaemonOptions], app_url: str, queue_prefix: str
) -> Iterator[Callable[..., SqsDaemon]]:
    """Start a daemon on the app's default queue, posting to the app."""
    daemons: list[SqsDaemon] = []

    def start(**overrides: Any) -> SqsDaemon:
        options = make_options(queue=f"{queue_prefix}default", worker_url=app_url, **overrides)
        daemon = SqsDaemon(options)
        daemons.append(daemon)
        daemon.start()
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop(timeout=5)


def test_an_enqueued_job_runs_and_its_message_is_deleted(
    app: Any,
    sqs: Any,
    queue_prefix: str,
    daemon_for_app: Callable[..., SqsDaemon],
    ran: list[Any],
) -> None:
    """The signed message passes the worker's checks, the job runs, the 200 deletes it."""
    enqueued = get_client(app.registry).enqueue("noop")
    daemon = daemon_for_app()

    wait_until(lambda: daemon.stats.deleted == 1, what="the delete")

    [(name, ctx, _)] = ran
    assert (name, ctx.job_id, ctx.message_id, ctx.attempt) == (
        "noop",
        enqueued.job_id,
        enqueued.message_id,
        1,
    )
    default_queue = sqs.get_queue_url(QueueName=f"{queue_prefix}default")["QueueUrl"]
    assert queue_counts(sqs, default_queue) == (0, 0)


def test_a_periodic_task_runs_its_job(
    daemon_for_app: Callable[..., SqsDaemon], ran: list[Any], tmp_path: Path
) -> None:
    """cron.yaml's task reaches the app's periodic route and runs the job of that name."""
    cron = tmp_path / "cron.yaml"
    cron.write_text(
        "version: 1\ncron:\n  - name: nightly_report\n    url: /periodic_tasks\n"
        '    schedule: "0 23 * * *"\n'
    )
    daemon = daemon_for_app(cron_path=str(cron))

    daemon.fire_periodic_tasks(datetime(2024, 5, 1, 23, 0, tzinfo=UTC))
    wait_until(lambda: daemon.stats.deleted == 1, what="the delete")

    [(name, ctx, arguments)] = ran
    assert name == "nightly_report"
    assert ctx.scheduled_at == datetime(2024, 5, 1, 23, 0, tzinfo=UTC)
    assert arguments == {"day": None, "title": "nightly"}


def test_a_failing_job_keeps_its_message_for_a_retry(
    app: Any, daemon_for_app: Callable[..., SqsDaemon], ran: list[Any]
) -> None:
    """The worker answers 500 for an exception: the daemon retries instead of deleting."""
    get_client(app.registry).enqueue("explode")
    daemon = daemon_for_app(error_visibility_timeout=0)

    wait_until(lambda: len(ran) >= 2, what="a retry")

    assert [name for name, _, _ in ran[:2]] == ["explode", "explode"]
    assert [ctx.attempt for _, ctx, _ in ran[:2]] == [1, 2]
    assert daemon.stats.deleted == 0
