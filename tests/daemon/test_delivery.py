"""What the daemon POSTs, and what it does with the answer, against moto and a real HTTP app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from pyramid_elasticjobs.daemon.daemon import SqsDaemon

from .support import RecordingApp, closed_port, queue_counts, receive_all, send, wait_until

StartDaemon = Callable[..., SqsDaemon]


def test_posts_the_body_with_the_daemon_headers(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """The body goes to worker_url + http_path with aws-sqsd's headers, User-Agent and MIME type."""
    message_id = send(sqs, queue_url, '{"job": 1}', **{"elasticjobs-job": "resize_image"})
    start_daemon(http_path="/jobs", mime_type="application/json; charset=utf-8")

    [request] = recording_app.wait_for_requests(1)

    assert (request.method, request.path, request.body) == ("POST", "/jobs", b'{"job": 1}')
    headers = request.headers
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"] == "aws-sqsd/3.0.4"
    assert headers["X-Aws-Sqsd-Msgid"] == message_id
    assert headers["X-Aws-Sqsd-Queue"] == queue_url.rsplit("/", 1)[-1]
    assert headers["X-Aws-Sqsd-Receive-Count"] == "1"
    assert datetime.fromisoformat(headers["X-Aws-Sqsd-First-Received-At"]).tzinfo is not None
    assert headers["X-Aws-Sqsd-Attr-Elasticjobs-Job"] == "resize_image"


def test_number_attributes_become_headers_and_binary_ones_are_dropped(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """A Number attribute is sent as X-Aws-Sqsd-Attr-<name>; a Binary one is not sent at all."""
    send(sqs, queue_url, "{}", priority=7, blob=b"\x00\x01", note="plain")
    start_daemon()

    [request] = recording_app.wait_for_requests(1)

    attribute_headers = {name: value for name, value in request.headers.items() if "-Attr-" in name}
    assert attribute_headers == {
        "X-Aws-Sqsd-Attr-Priority": "7",
        "X-Aws-Sqsd-Attr-Note": "plain",
    }


def test_a_unicode_attribute_is_sent_as_utf8(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """Attribute values outside Latin-1 reach the app (as UTF-8 bytes) instead of failing."""
    send(sqs, queue_url, "{}", city="Zürich 東京")
    start_daemon()

    [request] = recording_app.wait_for_requests(1)

    assert request.headers["X-Aws-Sqsd-Attr-City"].encode("latin-1").decode() == "Zürich 東京"


def test_an_attribute_with_a_line_break_is_not_sent(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """A value that would split the header (header injection) is dropped; the rest goes out."""
    send(sqs, queue_url, "{}", note="a\r\nX-Injected: 1", job="resize")
    start_daemon()

    [request] = recording_app.wait_for_requests(1)

    assert "X-Injected" not in request.headers
    assert "X-Aws-Sqsd-Attr-Note" not in request.headers
    assert request.headers["X-Aws-Sqsd-Attr-Job"] == "resize"


def test_only_exactly_200_deletes_the_message(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """201, 204, 302, 404 and 500 leave the message in the queue for a retry; 200 deletes it."""
    statuses = [200, 201, 204, 302, 404, 500]
    for status in statuses:
        send(sqs, queue_url, str(status))
    recording_app.status = lambda request: int(request.body)
    daemon = start_daemon(error_visibility_timeout=1)

    wait_until(lambda: daemon.stats.deleted == 1 and daemon.stats.failed >= 5, what="answers")
    daemon.stop()

    kept = receive_all(sqs, queue_url, 5)
    assert sorted(int(message["Body"]) for message in kept) == statuses[1:]
    assert all(int(message["Attributes"]["ApproximateReceiveCount"]) >= 2 for message in kept)
    assert queue_counts(sqs, queue_url) == (0, 5)  # nothing else is left: 200's is gone


def test_a_failed_message_is_retried_after_the_error_visibility_timeout(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """After a 500 the message comes back after ErrorVisibilityTimeout, not VisibilityTimeout."""
    send(sqs, queue_url, "{}")
    recording_app.status = lambda request: 500 if len(recording_app.requests) == 1 else 200
    daemon = start_daemon(visibility_timeout=300, error_visibility_timeout=1)

    first, second = recording_app.wait_for_requests(2)
    wait_until(lambda: daemon.stats.deleted == 1, what="the delete after the retry")

    assert first.headers["X-Aws-Sqsd-Msgid"] == second.headers["X-Aws-Sqsd-Msgid"]
    assert (
        first.headers["X-Aws-Sqsd-Receive-Count"],
        second.headers["X-Aws-Sqsd-Receive-Count"],
    ) == (
        "1",
        "2",
    )
    assert queue_counts(sqs, queue_url) == (0, 0)


def test_no_answer_within_the_inactivity_timeout_abandons_the_request(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """A silent app is given up on; the message stays hidden until its visibility timeout."""
    send(sqs, queue_url, "{}")
    recording_app.gate.clear()  # the first request hangs
    daemon = start_daemon(inactivity_timeout=0.5, visibility_timeout=3, error_visibility_timeout=0)

    wait_until(lambda: daemon.stats.timed_out == 1, what="the inactivity timeout")
    assert queue_counts(sqs, queue_url) == (0, 1)  # neither deleted nor released
    recording_app.gate.set()
    first, second = recording_app.wait_for_requests(2)
    wait_until(lambda: daemon.stats.deleted == 1, what="the delete of the redelivery")

    assert second.headers["X-Aws-Sqsd-Receive-Count"] == "2"
    # Back only once the visibility timeout (3 s) ran out, not after the error one (0 s).
    assert second.at - first.at > 2
    assert daemon.stats.failed == 0


def test_a_refused_connection_is_retried_like_a_failure(
    sqs: Any, queue_url: str, start_daemon: StartDaemon
) -> None:
    """With nothing listening, the message is made visible again after ErrorVisibilityTimeout."""
    send(sqs, queue_url, "{}")
    daemon = start_daemon(
        worker_url=f"http://127.0.0.1:{closed_port()}",
        visibility_timeout=300,
        error_visibility_timeout=0,
    )

    wait_until(lambda: daemon.stats.failed >= 2, what="two refused deliveries")
    daemon.stop()

    assert daemon.stats.received >= 2  # received again long before the 300 s visibility timeout
    assert daemon.stats.deleted == 0
    [message] = receive_all(sqs, queue_url, 1)
    assert int(message["Attributes"]["ApproximateReceiveCount"]) >= 3


def test_concurrent_requests_never_exceed_http_connections(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """10 messages, 3 connections: 3 requests run at once, and no more messages are received."""
    for number in range(10):
        send(sqs, queue_url, str(number))
    recording_app.gate.clear()
    daemon = start_daemon(http_connections=3)

    wait_until(lambda: recording_app.active == 3, what="3 concurrent requests")
    assert not wait_until(lambda: recording_app.active > 3, timeout=1.5)
    assert daemon.stats.received == 3  # never more than the free connections
    recording_app.gate.set()
    wait_until(lambda: daemon.stats.deleted == 10, what="all 10 deleted")

    assert recording_app.max_active == 3
    assert sorted(int(request.body) for request in recording_app.requests) == list(range(10))


def test_each_delivery_is_logged_with_job_status_and_duration(
    sqs: Any,
    queue_url: str,
    recording_app: RecordingApp,
    start_daemon: StartDaemon,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One INFO line per delivery: message id, job name, HTTP status and milliseconds."""
    caplog.set_level(logging.INFO, logger="pyramid_elasticjobs.daemon")
    message_id = send(sqs, queue_url, "{}", **{"elasticjobs-job": "resize_image"})
    recording_app.status = 202
    start_daemon(error_visibility_timeout=60)

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if message_id in r.getMessage()]

    [line] = wait_until(lines, what="the delivery's log line")
    assert "resize_image" in line
    assert "HTTP 202" in line
    assert line.endswith(" ms")


def test_a_summary_line_is_logged_every_summary_interval(
    sqs: Any,
    queue_url: str,
    recording_app: RecordingApp,
    start_daemon: StartDaemon,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The summary counts what happened and gives a rate."""
    caplog.set_level(logging.INFO, logger="pyramid_elasticjobs.daemon")
    send(sqs, queue_url, "{}")
    daemon = start_daemon(summary_interval=0.2)
    wait_until(lambda: daemon.stats.deleted == 1, what="the delivery")

    def summaries() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("sqsd summary")]

    wait_until(lambda: any("succeeded=1" in line for line in summaries()), what="a summary")
    assert all(" rate=" in line and line.endswith("/s") for line in summaries())


def test_stats_count_each_outcome(
    sqs: Any, queue_url: str, recording_app: RecordingApp, start_daemon: StartDaemon
) -> None:
    """received, delivered, succeeded and failed add up."""
    for body in ("200", "200", "503"):
        send(sqs, queue_url, body)
    recording_app.status = lambda request: int(request.body)
    daemon = start_daemon(error_visibility_timeout=60)

    wait_until(lambda: daemon.stats.delivered == 3, what="3 deliveries")
    wait_until(lambda: daemon.stats.deleted == 2, what="2 deletes")

    stats = daemon.stats
    assert (stats.received, stats.succeeded, stats.failed, stats.timed_out) == (3, 2, 1, 0)
    assert stats.in_flight == 0
