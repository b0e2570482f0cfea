"""Create an application's queues, each with a dead-letter queue and a redrive policy.

Uses only boto3, so it works the same against the embedded SQS and real AWS.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import botocore.exceptions

from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.runtime import get_runtime

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from pyramid.registry import Registry

    from pyramid_elasticjobs.settings import ElasticJobsSettings

log = logging.getLogger(__name__)

FIFO_SUFFIX = ".fifo"
MAX_QUEUE_NAME_LENGTH = 80
_EXISTS_CODES = frozenset({"QueueAlreadyExists", "QueueNameExists"})


@dataclass(frozen=True, slots=True)
class ProvisionedQueue:
    """A logical queue, its SQS queue and the dead-letter queue its redrive policy names."""

    name: str
    sqs_name: str
    url: str
    dead_letter_name: str
    dead_letter_url: str
    max_receive_count: int


def dead_letter_queue_name(sqs_name: str, suffix: str) -> str:
    """``jobs`` -> ``jobs-dead-letters``; ``jobs.fifo`` -> ``jobs-dead-letters.fifo``.

    SQS only lets a FIFO queue redrive into a FIFO queue, whose name must end in .fifo.
    """
    if sqs_name.endswith(FIFO_SUFFIX):
        return sqs_name.removesuffix(FIFO_SUFFIX) + suffix + FIFO_SUFFIX
    return sqs_name + suffix


def app_queues(registry: Registry) -> list[str]:
    """The logical queues an application sends to: its default queue, then its jobs' queues."""
    runtime = get_runtime(registry)
    default = runtime.settings.default_queue
    declared = {definition.queue for definition in runtime.jobs if definition.queue}
    return [default, *sorted(declared - {default})]


def provision_queues(
    client: SQSClient, settings: ElasticJobsSettings, queues: Iterable[str]
) -> list[ProvisionedQueue]:
    """Create each queue and its dead-letter queue (existing ones are kept) and set the redrive.

    The redrive policy is (re)applied every time, so ``elasticjobs.max_receive_count``
    in the ini is what the queues do.
    """
    provisioned = []
    for queue in queues:
        sqs_name = settings.sqs_queue_name(queue)
        dead_letter_name = dead_letter_queue_name(sqs_name, settings.dead_letter_suffix)
        if len(dead_letter_name) > MAX_QUEUE_NAME_LENGTH:
            raise ConfigurationError(
                f"the dead-letter queue of {sqs_name!r} would be named {dead_letter_name!r}, "
                f"over SQS's {MAX_QUEUE_NAME_LENGTH} characters; shorten "
                "elasticjobs.queue_prefix, the queue name or elasticjobs.dead_letter_suffix"
            )
        dead_letter_url = _create_queue(client, dead_letter_name)
        dead_letter_arn = client.get_queue_attributes(
            QueueUrl=dead_letter_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        url = _create_queue(client, sqs_name)
        redrive = {
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": str(settings.max_receive_count),
        }
        client.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(redrive)})
        log.info(
            "queue %s ready: after %d receives its messages move to %s",
            sqs_name,
            settings.max_receive_count,
            dead_letter_name,
        )
        provisioned.append(
            ProvisionedQueue(
                queue, sqs_name, url, dead_letter_name, dead_letter_url, settings.max_receive_count
            )
        )
    return provisioned


def _create_queue(client: SQSClient, name: str) -> str:
    attributes = {"FifoQueue": "true"} if name.endswith(FIFO_SUFFIX) else {}
    try:
        return client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    except botocore.exceptions.ClientError as error:
        # A queue made earlier with other attributes: keep it as it is.
        if error.response.get("Error", {}).get("Code") not in _EXISTS_CODES:
            raise
    return client.get_queue_url(QueueName=name)["QueueUrl"]
