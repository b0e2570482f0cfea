"""Helpers shared by the test modules: constants, and small functions over real parts.

Fixtures live in conftest.py; test modules import helpers from here, never from conftest.
"""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.stub import Stubber

from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.runtime import Runtime, get_runtime

SECRET = "test-secret-0123456789-abcdefghijklmnop"
OLD_SECRET = "old-secret-0123456789-abcdefghijklmnopq"
REGION = "us-east-1"


def receive(sqs: Any, queue_url: str, wait: int = 0) -> dict[str, Any]:
    """Receive exactly one message, with every attribute the daemon reads."""
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=1,
        WaitTimeSeconds=wait,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    assert len(messages) == 1, f"expected one message in {queue_url}, got {len(messages)}"
    message: dict[str, Any] = messages[0]
    return message


def make_envelope(
    name: str = "noop", arguments: dict[str, Any] | None = None, **fields: Any
) -> Envelope:
    """An envelope as enqueue would write it (expiring in 14 days), with fields overridable."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "name": name,
        "job_id": uuid.uuid4().hex,
        "queue": "default",
        "arguments": arguments or {},
        "enqueued_at": now,
        "run_at": None,
        "expires_at": now + timedelta(days=14),
    }
    values.update(fields)
    return Envelope(**values)


def queue_depths(sqs: Any, queue_url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesDelayed"]),
    )


def record_calls(app: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every `operation` call the app's SQS client makes from now on."""
    calls: list[dict[str, Any]] = []
    client = get_runtime(app.registry).transport.client
    client.meta.events.register(
        f"provide-client-params.sqs.{operation}", lambda params, **_: calls.append(dict(params))
    )
    return calls


def stub_queue_url(stubber: Stubber, runtime: Runtime, queue: str) -> None:
    """Answer the transport's GetQueueUrl for ``queue`` through a botocore Stubber."""
    name = runtime.settings.sqs_queue_name(queue)
    stubber.add_response(
        "get_queue_url",
        {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/123456789012/{name}"},
        {"QueueName": name},
    )


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
