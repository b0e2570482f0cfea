"""Graceful stop: in-flight requests finish, undispatched messages go back, nothing is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from pyramid_elasticjobs.daemon.daemon import SqsDaemon

from .support import PATIENCE, RecordingApp, queue_counts, receive_all, send, wait_until

StartDaemon = Callable[..., SqsDaemon]


def _stop_in_background(daemon: SqsDaemon, timeout: float | None = None) -> threading.Thread:
    stopper = threading.Thread(target=daemon.stop, args=(timeout,))
    stopper.start()
    wait_until(lambda: daemon.stopping, what="stop to begin")
    return stopper


def test_stop_lets_in_flight_requests_finish_and_releases_what_arrives_meanwhile(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """Running requests end with their delete; a message received during stop is released."""
    send(sqs, queue_url, "first")
    send(sqs, queue_url, "second")
    recording_app.gate.clear()
    # The third connection is idle: its poller is inside a 5 s long poll when stop begins.
    daemon = start_daemon(http_connections=3, wait_time_seconds=5)
    wait_until(lambda: recording_app.active == 2, what="2 requests in flight")
    wait_until(lambda: daemon.stats.receiving == 1, what="a long poll for the third connection")

    stopper = _stop_in_background(daemon)
    send(sqs, queue_url, "late")
    wait_until(lambda: daemon.stats.released == 1, what="the late message to be released")
    recording_app.gate.set()
    stopper.join(PATIENCE)

    assert not stopper.is_alive()
    assert sorted(request.body for request in recording_app.requests) == [b"first", b"second"]
    assert daemon.stats.deleted == 2
    assert queue_counts(sqs, queue_url) == (1, 0)  # released: visible again at once
    [message] = receive_all(sqs, queue_url, 1)
    assert message["Body"] == "late"


def test_stop_does_not_wait_for_a_long_poll_and_that_poll_releases_what_it_gets(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """stop() returns while a 20 s long poll is open; a message it then receives goes back."""
    daemon = start_daemon(wait_time_seconds=20)
    wait_until(lambda: daemon.stats.receiving >= 1, what="a long poll")

    daemon.stop()

    assert daemon.stats.receiving >= 1  # returned without waiting for the poll
    send(sqs, queue_url, "late")
    wait_until(lambda: daemon.stats.released == 1, what="the late message to be released")
    # SQS's approximate counts follow the release a moment later.
    wait_until(lambda: queue_counts(sqs, queue_url) == (1, 0), what="the late message visible")
    assert recording_app.requests == []


def test_stop_under_load_loses_nothing(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """Every message is either deleted after a 200 or visible in the queue again; none in limbo."""
    bodies = {str(number) for number in range(30)}
    for body in bodies:
        send(sqs, queue_url, body)
    hold = threading.Event()

    def answer(request: Any) -> int:
        if len(recording_app.requests) > 8:  # from the 9th on, requests are still running at stop
            hold.wait(PATIENCE)
        return 200

    recording_app.status = answer
    daemon = start_daemon(http_connections=4, visibility_timeout=60)
    wait_until(
        lambda: len(recording_app.requests) == 12 and recording_app.active == 4,
        what="8 requests answered and 4 held in flight",
    )
    stopper = _stop_in_background(daemon)
    hold.set()
    stopper.join(PATIENCE)

    answered = {request.body.decode() for request in recording_app.requests}
    assert len(answered) == len(recording_app.requests) == 12
    assert daemon.stats.deleted == 12
    assert queue_counts(sqs, queue_url) == (len(bodies) - 12, 0)
    remaining = {message["Body"] for message in receive_all(sqs, queue_url, len(bodies) - 12)}
    assert remaining | answered == bodies
    assert not remaining & answered


def test_a_request_outliving_the_stop_timeout_still_gets_its_delete(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """stop(timeout) returns on time; the late 200 is still acted on, so no delete is lost."""
    send(sqs, queue_url, "{}")
    recording_app.gate.clear()
    daemon = start_daemon()
    wait_until(lambda: recording_app.active == 1, what="a request in flight")

    daemon.stop(timeout=0.2)

    assert queue_counts(sqs, queue_url) == (0, 1)  # still hidden, by its visibility timeout
    recording_app.gate.set()
    wait_until(lambda: daemon.stats.deleted == 1, what="the late delete")
    assert queue_counts(sqs, queue_url) == (0, 0)


def test_run_blocks_until_stop_is_called_from_another_thread(
    sqs: Any, queue_url: str, recording_app: RecordingApp, make_options: Callable[..., Any]
) -> None:
    """run() starts the daemon and returns once stop() has finished."""
    daemon = SqsDaemon(make_options())
    runner = threading.Thread(target=daemon.run)
    runner.start()
    send(sqs, queue_url, "{}")
    wait_until(lambda: daemon.stats.deleted == 1, what="a delivery")
    assert runner.is_alive()

    daemon.stop()
    runner.join(PATIENCE)

    assert not runner.is_alive()


def test_a_daemon_starts_only_once(start_daemon: StartDaemon) -> None:
    """A second start() is refused: threads and counters belong to one run."""
    daemon = start_daemon()

    with pytest.raises(RuntimeError, match="already started"):
        daemon.start()
