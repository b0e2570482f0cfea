"""Replay: a signed message expires, and an early message is re-sent at most once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from webtest import TestApp

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.daemon.headers import daemon_headers
from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.signing import Signer, signed_message

from .support import SECRET, make_envelope, receive, record_calls

TRUSTED = {"REMOTE_ADDR": "127.0.0.1"}


def _sent_envelopes(calls: list[dict[str, Any]]) -> list[Envelope]:
    return [Envelope.from_json(call["MessageBody"].encode()) for call in calls]


@pytest.mark.parametrize(("delay", "ttl"), [(None, None), (3600, None), (60, "600")])
def test_expiry_is_signed_a_set_time_after_the_job_is_due(
    make_app: Callable[..., Any], make_queue: Any, delay: int | None, ttl: str | None
) -> None:
    """expires_at = due time (enqueue time + delay) + elasticjobs.message_ttl (14 days)."""
    make_queue("default")
    app = make_app(**({"elasticjobs.message_ttl": ttl} if ttl else {}))
    sends = record_calls(app, "SendMessage")
    get_client(app.registry).enqueue("noop", delay=delay)
    [envelope] = _sent_envelopes(sends)
    due = envelope.run_at or envelope.enqueued_at + timedelta(seconds=delay or 0)
    assert envelope.expires_at - due == timedelta(seconds=int(ttl or 14 * 24 * 3600))


def test_expired_message_is_refused_with_410_and_not_run(
    app: Any, make_queue: Any, send_envelope: Any, deliver: Any, ran: list[Any]
) -> None:
    """A message past its signed expiry (a replay) answers 410 "expired" and never runs."""
    url = make_queue("default")
    past = datetime.now(UTC) - timedelta(seconds=1)
    envelope = make_envelope(enqueued_at=past - timedelta(days=15), expires_at=past)
    send_envelope(app, url, envelope)
    response = deliver(app, url, status=410)
    assert response.json == {"status": "expired", "job_id": envelope.job_id}
    assert ran == []


def test_changing_the_expiry_breaks_the_signature(
    app: Any, make_queue: Any, send_raw: Any, deliver: Any, ran: list[Any]
) -> None:
    """expires_at is inside the signed bytes: pushing it back makes the message a forgery."""
    url = make_queue("default")
    past = datetime.now(UTC) - timedelta(days=1)
    envelope = make_envelope(enqueued_at=past - timedelta(days=15), expires_at=past)
    message = signed_message(get_runtime(app.registry), envelope.to_json(), envelope.name)
    extended = message.body.replace(
        past.isoformat().encode(), (past + timedelta(days=30)).isoformat().encode()
    )
    assert extended != message.body
    send_raw(url, extended, dict(message.attributes))
    assert deliver(app, url, status=403).json["status"] == "invalid_signature"
    assert ran == []


def _early_delivery(app: Any, sqs: Any, url: str) -> tuple[bytes, dict[str, str]]:
    """The body and daemon headers of a signed job due in 50 minutes, as the daemon posts it."""
    envelope = make_envelope(run_at=datetime.now(UTC) + timedelta(minutes=50))
    message = signed_message(get_runtime(app.registry), envelope.to_json(), envelope.name)
    sqs.send_message(QueueUrl=url, MessageBody="placeholder")
    attributes = {f"X-Aws-Sqsd-Attr-{k}": v for k, v in message.attributes.items()}
    return message.body, daemon_headers(receive(sqs, url), "default") | attributes


def test_early_message_is_resent_once_signed_with_the_next_hop(
    app: Any, sqs: Any, make_queue: Any, ran: list[Any]
) -> None:
    """The re-sent body is the same job (id, arguments, run_at, expiry) with resent + 1."""
    url = make_queue("default")
    body, headers = _early_delivery(app, sqs, url)
    sends = record_calls(app, "SendMessage")
    response = TestApp(app).post("/", body, headers=headers, extra_environ=TRUSTED, status=200)
    assert response.json["status"] == "rescheduled"
    [call] = sends
    original, onward = Envelope.from_json(body), Envelope.from_json(call["MessageBody"].encode())
    assert onward.resent == original.resent + 1 == 1
    assert (onward.job_id, onward.arguments, onward.run_at, onward.expires_at) == (
        original.job_id,
        original.arguments,
        original.run_at,
        original.expires_at,
    )
    signature = call["MessageAttributes"]["elasticjobs-signature"]["StringValue"]
    assert Signer([SECRET]).verify(call["MessageBody"].encode(), signature)
    assert call["DelaySeconds"] == 900
    assert ran == []


def test_replaying_an_early_message_twenty_times_resends_it_once(
    app: Any, sqs: Any, make_queue: Any, ran: list[Any]
) -> None:
    """19 replays of one early message are answered 200 and dropped: one delayed copy, not 20."""
    url = make_queue("default")
    body, headers = _early_delivery(app, sqs, url)
    sends = record_calls(app, "SendMessage")
    outcomes = [
        TestApp(app).post("/", body, headers=headers, extra_environ=TRUSTED).json["status"]
        for _ in range(20)
    ]
    assert outcomes == ["rescheduled"] + ["already_rescheduled"] * 19
    assert len(sends) == 1
    delayed = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert int(delayed) == 1
    assert ran == []


def test_a_failed_resend_is_tried_again_on_the_next_delivery(
    app: Any, sqs: Any, make_queue: Any
) -> None:
    """A re-send that failed (500) does not count: the daemon's retry re-sends it."""
    url = make_queue("default")
    body, headers = _early_delivery(app, sqs, url)
    sqs.delete_queue(QueueUrl=url)
    post = TestApp(app).post
    assert post("/", body, headers=headers, extra_environ=TRUSTED, status=500).json == {
        "status": "reschedule_failed",
        "job_id": json.loads(body)["id"],
    }
    make_queue("default")
    assert post("/", body, headers=headers, extra_environ=TRUSTED).json["status"] == "rescheduled"
