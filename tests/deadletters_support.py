"""Helpers for the dead-letter service's tests: queues with redrive policies, dead messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyramid_elasticjobs.protocol import (
    JOB_ATTRIBUTE,
    ORIGIN,
    ORIGIN_ATTRIBUTE,
    SIGNATURE_ATTRIBUTE,
)


@dataclass(frozen=True)
class Urls:
    """The test's job queues and their dead-letter queues."""

    default: str
    default_dead: str
    images: str
    images_dead: str


@dataclass
class ListRecorder:
    """Keeps what the service records (a test double of the Recorder protocol)."""

    seen: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)

    def dead_letter_seen(
        self,
        *,
        dead_letter_queue: str,
        message_id: str,
        source_queue: str | None,
        job_id: str | None,
        body: str,
        attributes: Mapping[str, Any],
        receive_count: int,
    ) -> None:
        self.seen.append(
            {
                "dead_letter_queue": dead_letter_queue,
                "message_id": message_id,
                "source_queue": source_queue,
                "job_id": job_id,
                "body": body,
                "attributes": dict(attributes),
                "receive_count": receive_count,
            }
        )

    def action_taken(
        self,
        *,
        actor: str,
        action: str,
        queue: str | None = None,
        job_id: str | None = None,
        message_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self.actions.append(
            {
                "actor": actor,
                "action": action,
                "queue": queue,
                "job_id": job_id,
                "message_id": message_id,
                "detail": dict(detail or {}),
            }
        )


def queue_arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return arn


def redrive_policy(sqs: Any, dead_letter_url: str, max_receive_count: int) -> str:
    return json.dumps(
        {
            "deadLetterTargetArn": queue_arn(sqs, dead_letter_url),
            "maxReceiveCount": str(max_receive_count),
        }
    )


def counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every visible message of a queue, received (and hidden) for the rest of the test."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def forged_attributes(job: str = "noop") -> dict[str, str]:
    return {ORIGIN_ATTRIBUTE: ORIGIN, SIGNATURE_ATTRIBUTE: "0" * 64, JOB_ATTRIBUTE: job}


def fail_deliveries(sqs: Any, url: str, max_receive_count: int) -> None:
    """Receive a queue's message until SQS moves it to the dead-letter queue, as the daemon
    does when every delivery fails (moto moves it on the receive after the last allowed)."""
    for _ in range(max_receive_count):
        received = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", [])
        assert len(received) == 1
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", []) == []
