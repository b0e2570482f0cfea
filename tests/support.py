"""Helpers shared by the test modules: constants, and small functions over real parts.

Fixtures live in conftest.py; test modules import helpers from here, never from conftest.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pyramid_elasticjobs.envelope import Envelope

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
    """An envelope as enqueue would write it, with fields overridable."""
    values: dict[str, Any] = {
        "name": name,
        "job_id": uuid.uuid4().hex,
        "queue": "default",
        "arguments": arguments or {},
        "enqueued_at": datetime.now(UTC),
        "run_at": None,
    }
    values.update(fields)
    return Envelope(**values)
