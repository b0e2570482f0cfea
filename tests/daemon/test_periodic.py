"""Periodic tasks end to end: the scheduler's message in the queue, and the POST it becomes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pyramid_elasticjobs.daemon.daemon import SqsDaemon
from pyramid_elasticjobs.daemon.options import DaemonOptions
from pyramid_elasticjobs.exceptions import ConfigurationError

from .support import RecordingApp, queue_counts, receive_all, wait_until

CRON = """\
version: 1
cron:
  - name: nightly_report
    url: /periodic_tasks
    schedule: "0 23 * * *"
  - name: hourly
    url: /hourly
    schedule: "0 * * * *"
"""
ELEVEN_PM = datetime(2024, 5, 1, 23, 0, 30, tzinfo=UTC)


@pytest.fixture
def cron_path(tmp_path: Path) -> str:
    path = tmp_path / "cron.yaml"
    path.write_text(CRON, encoding="utf-8")
    return str(path)


class Clock:
    """A settable clock for the scheduler (``now`` of SqsDaemon)."""

    def __init__(self, start: datetime) -> None:
        self.current = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.current

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.current += timedelta(seconds=seconds)


def test_firing_sends_one_message_per_due_task(
    sqs: Any, queue_url: str, make_options: Callable[..., DaemonOptions], cron_path: str
) -> None:
    """At 23:00 both tasks are due: each gets Elastic Beanstalk's message in the queue."""
    daemon = SqsDaemon(make_options(cron_path=cron_path))

    assert daemon.fire_periodic_tasks(ELEVEN_PM) == ["nightly_report", "hourly"]
    assert daemon.fire_periodic_tasks(ELEVEN_PM + timedelta(minutes=1)) == []

    messages = receive_all(sqs, queue_url, 2)
    assert {message["Body"] for message in messages} == {"elasticbeanstalk scheduled job"}
    attributes = {
        message["MessageAttributes"]["beanstalk.sqsd.task_name"]["StringValue"]: {
            name: (value["DataType"], value["StringValue"])
            for name, value in message["MessageAttributes"].items()
        }
        for message in messages
    }
    assert attributes["nightly_report"] == {
        "beanstalk.sqsd.path": ("String", "/periodic_tasks"),
        "beanstalk.sqsd.task_name": ("String", "nightly_report"),
        "beanstalk.sqsd.scheduled_time": ("String", "2024-05-01T23:00:00Z"),
    }
    assert attributes["hourly"]["beanstalk.sqsd.path"] == ("String", "/hourly")
    assert daemon.stats.periodic_sent == 2


def test_a_periodic_message_is_posted_to_its_url_with_an_empty_body(
    sqs: Any,
    queue_url: str,
    recording_app: RecordingApp,
    start_daemon: Callable[..., SqsDaemon],
    cron_path: str,
) -> None:
    """The POST goes to the task's url with the task headers, no body, and is deleted on 200."""
    daemon = start_daemon(cron_path=cron_path)

    daemon.fire_periodic_tasks(ELEVEN_PM.replace(hour=22))  # only "hourly" is due

    [request] = recording_app.wait_for_requests(1)
    wait_until(lambda: daemon.stats.deleted == 1, what="the delete")
    assert (request.method, request.path, request.body) == ("POST", "/hourly", b"")
    headers = request.headers
    assert headers["X-Aws-Sqsd-Taskname"] == "hourly"
    assert headers["X-Aws-Sqsd-Scheduled-At"] == "2024-05-01T22:00:00Z"
    assert headers["X-Aws-Sqsd-Sender-Id"]
    assert headers["X-Aws-Sqsd-Msgid"]
    assert headers["X-Aws-Sqsd-Queue"] == queue_url.rsplit("/", 1)[-1]
    assert headers["X-Aws-Sqsd-Receive-Count"] == "1"
    assert headers["User-Agent"] == "aws-sqsd/3.0.4"
    assert not [name for name in headers if "-Attr-" in name]
    assert queue_counts(sqs, queue_url) == (0, 0)


def test_a_failing_periodic_task_is_retried_like_any_message(
    recording_app: RecordingApp, start_daemon: Callable[..., SqsDaemon], cron_path: str
) -> None:
    """A non-200 answer to a task's POST makes it come back after ErrorVisibilityTimeout."""
    recording_app.status = lambda request: 500 if len(recording_app.requests) == 1 else 200
    daemon = start_daemon(cron_path=cron_path, error_visibility_timeout=0)

    daemon.fire_periodic_tasks(ELEVEN_PM.replace(hour=22))

    first, second = recording_app.wait_for_requests(2)
    wait_until(lambda: daemon.stats.deleted == 1, what="the delete after the retry")
    assert first.headers["X-Aws-Sqsd-Scheduled-At"] == second.headers["X-Aws-Sqsd-Scheduled-At"]
    assert second.headers["X-Aws-Sqsd-Receive-Count"] == "2"


def test_the_scheduler_fires_when_the_clock_reaches_a_due_minute(
    recording_app: RecordingApp, start_daemon: Callable[..., SqsDaemon], cron_path: str
) -> None:
    """With an injected clock: nothing for the start minute, one run when 23:00 comes."""
    clock = Clock(datetime(2024, 5, 1, 22, 59, 58, tzinfo=UTC))
    daemon = start_daemon(cron_path=cron_path, now=clock)

    clock.advance(2)
    requests = recording_app.wait_for_requests(2)

    assert sorted(request.path for request in requests) == ["/hourly", "/periodic_tasks"]
    assert {request.headers["X-Aws-Sqsd-Scheduled-At"] for request in requests} == {
        "2024-05-01T23:00:00Z"
    }
    assert daemon.stats.periodic_sent == 2


def test_periodic_tasks_on_a_fifo_queue_are_refused(
    make_options: Callable[..., DaemonOptions], make_queue: Callable[..., str], cron_path: str
) -> None:
    """Elastic Beanstalk does not support periodic tasks on FIFO queues; neither do we."""
    options = make_options(queue=make_queue("work.fifo"), cron_path=cron_path)

    with pytest.raises(ConfigurationError, match="FIFO queue"):
        SqsDaemon(options)


def test_a_bad_cron_file_stops_the_daemon_from_being_created(
    make_options: Callable[..., DaemonOptions], tmp_path: Path
) -> None:
    """cron.yaml is validated before anything starts."""
    path = tmp_path / "cron.yaml"
    path.write_text("version: 1\ncron:\n  - name: x\n    url: /x\n    schedule: nope\n")

    with pytest.raises(ConfigurationError, match=r"cron entry #0 \('x'\): schedule 'nope'"):
        SqsDaemon(make_options(cron_path=str(path)))
