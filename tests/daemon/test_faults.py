"""Faults on either side: an app that drops connections or answers badly, an SQS that fails."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from pyramid_elasticjobs.daemon.daemon import SqsDaemon

from .support import (
    OK,
    Closing,
    FaultyProxy,
    Recorded,
    RecordingApp,
    Reply,
    ScriptedServer,
    queue_counts,
    send,
    wait_until,
)

StartDaemon = Callable[..., SqsDaemon]
ServeScript = Callable[[list[Reply]], ScriptedServer]


def test_a_connection_dropped_mid_request_is_a_failed_delivery_not_a_second_run(
    sqs: Any, queue_url: str, serve_script: ServeScript, start_daemon: StartDaemon
) -> None:
    """The app reads the request on a reused connection and dies: no resend, a later retry."""
    # One connection: the first message's 200 keeps it open, the second request kills it.
    app = serve_script([OK, None, OK])
    daemon = start_daemon(worker_url=app.url, http_connections=1, error_visibility_timeout=0)
    send(sqs, queue_url, "first")
    wait_until(lambda: daemon.stats.deleted == 1, what="the first message's delete")
    send(sqs, queue_url, "second")

    wait_until(lambda: daemon.stats.deleted == 2, what="the second message's delete")

    assert app.bodies() == [b"first", b"second", b"second"]
    # The second try came from a new receive (after ErrorVisibilityTimeout), not a resend.
    assert app.header_values(b"X-Aws-Sqsd-Receive-Count") == [b"1", b"1", b"2"]
    assert (daemon.stats.failed, daemon.stats.succeeded) == (1, 2)


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000000000000\r\n\r\nok",
    ],
    ids=["truncated", "negative-length", "huge-length"],
)
def test_a_200_with_a_broken_body_deletes_the_message(
    sqs: Any, queue_url: str, serve_script: ServeScript, start_daemon: StartDaemon, reply: bytes
) -> None:
    """Only the status decides: the job ran, so the message goes, and the counters add up."""
    app = serve_script([Closing(reply)])
    send(sqs, queue_url, "{}")
    daemon = start_daemon(worker_url=app.url, error_visibility_timeout=0)

    wait_until(lambda: daemon.stats.deleted == 1, what="the delete")

    stats = daemon.stats
    assert (stats.delivered, stats.succeeded, stats.failed, stats.in_flight) == (1, 1, 0, 0)
    assert app.bodies() == [b"{}"]
    assert queue_counts(sqs, queue_url) == (0, 0)


def test_a_delete_that_fails_during_an_sqs_outage_is_sent_again(
    sqs: Any,
    queue_url: str,
    recording_app: RecordingApp,
    start_daemon: StartDaemon,
    sqs_proxy: FaultyProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQS is cut off while the job runs: the delete is retried, and the job runs once."""
    caplog.set_level(logging.WARNING, logger="pyramid_elasticjobs.daemon")

    def cut_sqs_then_succeed(request: Recorded) -> int:
        sqs_proxy.set_mode("reset")
        return 200

    recording_app.status = cut_sqs_then_succeed
    send(sqs, queue_url, "{}")
    daemon = start_daemon(endpoint_url=sqs_proxy.url)
    wait_until(
        lambda: any("failed to take 1 delete" in r.getMessage() for r in caplog.records),
        what="a failed delete",
    )
    assert daemon.stats.deleted == 0

    sqs_proxy.set_mode("pass")

    wait_until(lambda: daemon.stats.deleted == 1, what="the delete, once SQS is back")
    assert queue_counts(sqs, queue_url) == (0, 0)
    assert len(recording_app.requests) == 1


def test_a_stalled_sqs_is_reported_and_polling_resumes_when_it_answers(
    sqs: Any,
    queue_url: str,
    recording_app: RecordingApp,
    start_daemon: StartDaemon,
    sqs_proxy: FaultyProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A ReceiveMessage that hangs times out after the long poll plus a margin, and says so."""
    caplog.set_level(logging.INFO, logger="pyramid_elasticjobs.daemon")
    daemon = start_daemon(endpoint_url=sqs_proxy.url)

    sqs_proxy.set_mode("hang")

    wait_until(
        lambda: any(
            "did not answer ReceiveMessage within" in r.getMessage() for r in caplog.records
        ),
        what="the stall to be reported",
    )
    sqs_proxy.set_mode("pass")
    send(sqs, queue_url, "{}")
    wait_until(lambda: daemon.stats.deleted == 1, what="a delivery after SQS came back")
    wait_until(
        lambda: any("answers ReceiveMessage again" in r.getMessage() for r in caplog.records),
        what="the recovery to be reported",
    )


def test_an_inactivity_timeout_not_below_the_visibility_timeout_is_warned_about(
    start_daemon: StartDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """At start-up, one line says a long job would run twice at once, and what to change."""
    caplog.set_level(logging.WARNING, logger="pyramid_elasticjobs.daemon")

    start_daemon(inactivity_timeout=12, visibility_timeout=5)

    [line] = [r.getMessage() for r in caplog.records if "visibility_timeout" in r.getMessage()]
    assert "inactivity_timeout (12s) is not shorter than visibility_timeout (5s)" in line
    assert line.endswith("set --visibility-timeout (elasticjobs.sqsd.visibility_timeout) above 12")


def test_the_default_timeouts_start_without_a_warning(
    start_daemon: StartDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """aws-sqsd's defaults (299 s inactivity, 300 s visibility) are consistent."""
    caplog.set_level(logging.WARNING, logger="pyramid_elasticjobs.daemon")

    start_daemon(inactivity_timeout=299, visibility_timeout=300)

    assert not [r for r in caplog.records if "visibility_timeout" in r.getMessage()]


def test_a_delete_is_given_up_when_the_message_visibility_runs_out(
    sqs: Any,
    queue_url: str,
    recording_app: RecordingApp,
    start_daemon: StartDaemon,
    sqs_proxy: FaultyProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Retries stop before the receipt handle expires, with an error saying the job may rerun."""
    caplog.set_level(logging.WARNING, logger="pyramid_elasticjobs.daemon")

    def cut_sqs_then_succeed(request: Recorded) -> int:
        sqs_proxy.set_mode("reset")
        return 200

    recording_app.status = cut_sqs_then_succeed
    send(sqs, queue_url, "{}")
    start_daemon(endpoint_url=sqs_proxy.url, visibility_timeout=3, inactivity_timeout=2)

    [line] = wait_until(
        lambda: [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()],
        what="the delete to be given up",
    )
    assert "gave up trying to delete message" in line
    assert "visibility timeout ends before another try" in line
