"""How many messages wait in each queue and its dead-letter queue, as SQS reports them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import botocore.exceptions

from pyramid_elasticjobs.exceptions import EnqueueError
from pyramid_elasticjobs.runtime import get_runtime

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from pyramid.registry import Registry

DEPTH_ATTRIBUTES: tuple[QueueAttributeNameType, ...] = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
_ERRORS = (EnqueueError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """One queue's approximate counts; ``error`` says why they are missing."""

    name: str
    dead_letters: bool
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0
    error: str | None = None


def queue_depths(registry: Registry) -> list[QueueDepth]:
    """Each queue the app sends to, then the dead-letter queue its redrive policy names."""
    runtime = get_runtime(registry)
    settings = runtime.settings
    queues = sorted({settings.default_queue, *(job.queue for job in runtime.jobs if job.queue)})
    depths: list[QueueDepth] = []
    for queue in queues:
        name = settings.sqs_queue_name(queue)
        try:
            url = runtime.transport.queue_url(queue)
        except _ERRORS as error:
            depths.append(QueueDepth(name, dead_letters=False, error=str(error)))
            continue
        depths.extend(_depths(runtime.transport.client, name, url))
    return depths


def _depths(client: SQSClient, name: str, url: str) -> list[QueueDepth]:
    try:
        attributes = client.get_queue_attributes(
            QueueUrl=url, AttributeNames=[*DEPTH_ATTRIBUTES, "RedrivePolicy"]
        )["Attributes"]
    except _ERRORS as error:
        return [QueueDepth(name, dead_letters=False, error=str(error))]
    depths = [_depth(name, attributes, dead_letters=False)]
    redrive = attributes.get("RedrivePolicy")
    if redrive:
        dead_letter_name = json.loads(redrive)["deadLetterTargetArn"].rsplit(":", 1)[-1]
        try:
            dead_letter_url = client.get_queue_url(QueueName=dead_letter_name)["QueueUrl"]
            dead_letter_attributes = client.get_queue_attributes(
                QueueUrl=dead_letter_url, AttributeNames=list(DEPTH_ATTRIBUTES)
            )["Attributes"]
        except _ERRORS as error:
            depths.append(QueueDepth(dead_letter_name, dead_letters=True, error=str(error)))
        else:
            depths.append(_depth(dead_letter_name, dead_letter_attributes, dead_letters=True))
    return depths


def _depth(
    name: str, attributes: Mapping[QueueAttributeNameType, str], *, dead_letters: bool
) -> QueueDepth:
    visible, in_flight, delayed = (int(attributes.get(key, 0)) for key in DEPTH_ATTRIBUTES)
    return QueueDepth(name, dead_letters, visible, in_flight, delayed)
