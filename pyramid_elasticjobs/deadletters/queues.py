"""Finding the job queues, their redrive policies and the dead-letter queues they name."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pyramid_elasticjobs.exceptions import EnqueueError

from .errors import DeadLetterSQSError, NotADeadLetterQueue, sqs_errors

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

    from pyramid_elasticjobs.runtime import Runtime

ATTRIBUTES: tuple[QueueAttributeNameType, ...] = (
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "MessageRetentionPeriod",
    "VisibilityTimeout",
    "RedrivePolicy",
)


@dataclass(frozen=True, slots=True)
class QueueAttributes:
    """What SQS says about a queue (counts are approximate: SQS is distributed)."""

    arn: str
    visible: int
    in_flight: int
    delayed: int
    retention_seconds: int
    visibility_timeout: int

    @classmethod
    def from_sqs(cls, attributes: Mapping[QueueAttributeNameType, str]) -> QueueAttributes:
        return cls(
            arn=attributes.get("QueueArn", ""),
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
            retention_seconds=int(attributes.get("MessageRetentionPeriod", 0)),
            visibility_timeout=int(attributes.get("VisibilityTimeout", 0)),
        )


@dataclass(frozen=True, slots=True)
class QueueRef:
    """A queue by its SQS name and URL."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class OldestDeadLetter:
    """The oldest dead letter *in a sample*: SQS has no attribute for the true oldest.

    (The true age is CloudWatch's ``ApproximateAgeOfOldestMessage`` metric.) SQS deletes
    a dead letter ``retention`` after it was first sent, so the deadline is when this
    one will be gone.
    """

    sent_at: datetime
    age: timedelta
    deadline: datetime
    sample_size: int


@dataclass(frozen=True, slots=True)
class DeadLetterQueue:
    """A dead-letter queue and the queues whose redrive policies send messages to it."""

    name: str
    url: str
    attributes: QueueAttributes
    sources: tuple[QueueRef, ...]
    oldest: OldestDeadLetter | None = None

    @property
    def arn(self) -> str:
        return self.attributes.arn

    def source(self, name: str) -> QueueRef | None:
        return next((source for source in self.sources if source.name == name), None)


@dataclass(frozen=True, slots=True)
class JobQueue:
    """A queue the app sends jobs to; ``error`` says why the rest could not be read."""

    queue: str
    name: str
    url: str | None = None
    attributes: QueueAttributes | None = None
    dead_letters: DeadLetterQueue | None = None
    max_receive_count: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Policy:
    dead_letter_name: str
    max_receive_count: int | None


def job_queue_names(runtime: Runtime, extra: Iterable[str] = ()) -> list[str]:
    """The logical queues: the default queue, each registered job's, and ``extra``."""
    jobs = (definition.queue for definition in runtime.jobs if definition.queue)
    return sorted({runtime.settings.default_queue, *jobs, *extra})


def discover(runtime: Runtime, extra: Iterable[str] = ()) -> list[JobQueue]:
    """Each job queue with its attributes, redrive policy and dead-letter queue.

    A queue that cannot be read is listed with its ``error``: one missing queue must
    not hide the others from an operator.
    """
    client = runtime.transport.client
    read: list[tuple[JobQueue, _Policy | None]] = []
    for queue in job_queue_names(runtime, extra):
        read.append(_read_job_queue(runtime, client, queue))
    sources: dict[str, list[QueueRef]] = {}
    for job_queue, policy in read:
        if policy is not None and job_queue.url is not None:
            sources.setdefault(policy.dead_letter_name, []).append(
                QueueRef(job_queue.name, job_queue.url)
            )
    found: dict[str, DeadLetterQueue | str] = {}
    result: list[JobQueue] = []
    for job_queue, policy in read:
        if policy is None:
            result.append(job_queue)
            continue
        name = policy.dead_letter_name
        if name not in found:
            found[name] = _read_dead_letter_queue(client, name, tuple(sources.get(name, ())))
        dead_letters = found[name]
        count = policy.max_receive_count
        if isinstance(dead_letters, str):
            result.append(replace(job_queue, max_receive_count=count, error=dead_letters))
        else:
            result.append(replace(job_queue, max_receive_count=count, dead_letters=dead_letters))
    return result


def find_dead_letter_queue(
    runtime: Runtime, name: str, extra: Iterable[str] = ()
) -> DeadLetterQueue:
    """The dead-letter queue called ``name`` (its SQS name), or that of job queue ``name``.

    A queue that no redrive policy names is refused: receiving from a live queue
    counts against its redrive policy and can push live jobs into the dead-letter queue.
    """
    for job_queue in discover(runtime, extra):
        dead_letters = job_queue.dead_letters
        if dead_letters is not None and name in (dead_letters.name, job_queue.queue):
            return dead_letters
        if name in (job_queue.queue, job_queue.name):
            raise NotADeadLetterQueue(job_queue.name)
    return _named_dead_letter_queue(runtime.transport.client, name)


def _named_dead_letter_queue(client: SQSClient, name: str) -> DeadLetterQueue:
    """A queue outside the app's job queues: a dead-letter queue only if SQS says some
    queue's redrive policy names it."""
    with sqs_errors("GetQueueUrl", name):
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
    with sqs_errors("ListDeadLetterSourceQueues", name):
        source_urls = client.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])
    if not source_urls:
        raise NotADeadLetterQueue(name)
    sources = tuple(QueueRef(source.rsplit("/", 1)[-1], source) for source in source_urls)
    return DeadLetterQueue(name, url, read_attributes(client, name, url), sources)


def read_attributes(client: SQSClient, name: str, url: str) -> QueueAttributes:
    with sqs_errors("GetQueueAttributes", name):
        attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=list(ATTRIBUTES))
    return QueueAttributes.from_sqs(attributes["Attributes"])


def _read_job_queue(
    runtime: Runtime, client: SQSClient, queue: str
) -> tuple[JobQueue, _Policy | None]:
    name = runtime.settings.sqs_queue_name(queue)
    try:
        url = runtime.transport.queue_url(queue)
        with sqs_errors("GetQueueAttributes", name):
            attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=list(ATTRIBUTES))[
                "Attributes"
            ]
    except (EnqueueError, DeadLetterSQSError) as error:
        # The transport's errors speak of enqueueing; what the operator needs is the cause.
        return JobQueue(queue, name, error=str(error.__cause__ or error)), None
    job_queue = JobQueue(queue, name, url, QueueAttributes.from_sqs(attributes))
    return job_queue, _parse_policy(attributes.get("RedrivePolicy"))


def _parse_policy(text: str | None) -> _Policy | None:
    if not text:
        return None
    try:
        policy = json.loads(text)
        arn = str(policy["deadLetterTargetArn"])
    except (ValueError, KeyError, TypeError):
        return None  # SQS validates policies when they are set: only an emulator gets here
    count = policy.get("maxReceiveCount")
    return _Policy(arn.rsplit(":", 1)[-1], int(count) if count is not None else None)


def _read_dead_letter_queue(
    client: SQSClient, name: str, sources: tuple[QueueRef, ...]
) -> DeadLetterQueue | str:
    try:
        with sqs_errors("GetQueueUrl", name):
            url = client.get_queue_url(QueueName=name)["QueueUrl"]
        return DeadLetterQueue(name, url, read_attributes(client, name, url), sources)
    except DeadLetterSQSError as error:
        return f"dead-letter queue {name!r} cannot be read: {error.__cause__ or error}"
