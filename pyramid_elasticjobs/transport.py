"""Talking to SQS: one lazily created, thread-shared boto3 client and cached queue URLs.

Nothing here touches AWS (or looks up credentials) until the first send: booting
an app must not wait on an instance-profile lookup.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

# botocore's exceptions module is light; boto3 itself (about 40% of this package's import
# time) loads with the first client, so that web processes that never enqueue skip it.
import botocore.exceptions

from .exceptions import ConfigurationError, EnqueueError, MessageTooLarge, QueueNotFound
from .settings import ElasticJobsSettings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message ready to send: body bytes, String attributes and SQS options."""

    body: bytes
    attributes: Mapping[str, str]
    delay_seconds: int = 0
    group_id: str | None = None
    deduplication_id: str | None = None

    @property
    def size(self) -> int:
        """Bytes SQS counts against the size limit: body plus attribute names, types, values."""
        return len(self.body) + sum(
            len(name.encode()) + len(b"String") + len(value.encode())
            for name, value in self.attributes.items()
        )

    def sqs_attributes(self) -> dict[str, MessageAttributeValueTypeDef]:
        return {
            name: {"DataType": "String", "StringValue": value}
            for name, value in self.attributes.items()
        }

    def sqs_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.delay_seconds:
            options["DelaySeconds"] = self.delay_seconds
        if self.group_id is not None:
            options["MessageGroupId"] = self.group_id
        if self.deduplication_id is not None:
            options["MessageDeduplicationId"] = self.deduplication_id
        return options

    def confirms(self, md5_of_body: str | None, md5_of_attributes: str | None) -> bool:
        """True if SQS's checksums match what we sent (so it stored what we meant)."""
        if md5_of_body != hashlib.md5(self.body, usedforsecurity=False).hexdigest():
            return False
        if self.attributes and md5_of_attributes is not None:
            return md5_of_attributes == attributes_md5(self.attributes)
        return True


def attributes_md5(attributes: Mapping[str, str]) -> str:
    """SQS's ``MD5OfMessageAttributes`` for String attributes (the documented encoding)."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        for part in (name.encode(), b"String"):
            digest.update(struct.pack(">I", len(part)) + part)
        value = attributes[name].encode()
        digest.update(b"\x01" + struct.pack(">I", len(value)) + value)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What SQS said about each entry of a batch, by position in the batch."""

    message_ids: Mapping[int, str]
    failures: Mapping[int, tuple[str, str]]
    queue_url: str


class SQSTransport:
    """Sends messages to logical queues (``images``) resolved to SQS queue URLs."""

    def __init__(self, settings: ElasticJobsSettings) -> None:
        self.settings = settings
        self._client: SQSClient | None = None
        self._lock = threading.Lock()
        self._queue_urls: dict[str, str] = {}
        self._max_receive_counts: dict[str, int | None] = {}

    @property
    def client(self) -> SQSClient:
        """The boto3 SQS client, created on first use (clients are thread-safe; sessions not)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._create_client()
        return self._client

    def _create_client(self) -> SQSClient:
        import boto3.session
        import botocore.config

        settings = self.settings
        if settings.endpoint_url and urlsplit(settings.endpoint_url).port == 0:
            raise ConfigurationError(
                f"elasticjobs.endpoint_url = {settings.endpoint_url} means 'an embedded SQS on a "
                "free port', which only `elasticjobs dev INI` starts; run the app with "
                "`elasticjobs dev`, or point endpoint_url at a running SQS (or unset it for AWS)"
            )
        config = botocore.config.Config(
            retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_pool_connections=50,
        )
        session = boto3.session.Session()
        return session.client(
            "sqs",
            region_name=settings.aws_region,
            endpoint_url=settings.endpoint_url,
            config=config,
        )

    def queue_url(self, queue: str) -> str:
        """URL of a logical queue, looked up once and cached."""
        url = self._queue_urls.get(queue)
        if url is None:
            queue_name = self.settings.sqs_queue_name(queue)
            try:
                url = self.client.get_queue_url(QueueName=queue_name)["QueueUrl"]
            except botocore.exceptions.ClientError as error:
                if _error_code(error) in _QUEUE_MISSING_CODES:
                    raise QueueNotFound(queue, queue_name, self.settings.aws_region) from None
                raise self._failure(queue, error) from error
            except botocore.exceptions.BotoCoreError as error:
                raise self._failure(queue, error) from error
            self._queue_urls[queue] = url
        return url

    def max_receive_count(self, queue: str) -> int | None:
        """The maxReceiveCount of the queue's redrive policy, read once; None if it has none.

        After that many receives SQS moves a message to the dead-letter queue. Read only
        when an attempt fails, and never raises: it only sharpens a log line and a record.
        """
        if queue in self._max_receive_counts:
            return self._max_receive_counts[queue]
        try:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.queue_url(queue), AttributeNames=["RedrivePolicy"]
            )["Attributes"]
            count = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
        except KeyError:
            count = None  # no redrive policy: SQS retries until the retention period ends
        except (
            EnqueueError,
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            ValueError,
            TypeError,
        ):
            return None  # unknown for now: ask again next time
        self._max_receive_counts[queue] = count
        return count

    def check_size(self, queue: str, message: OutgoingMessage) -> None:
        if message.size > self.settings.max_message_bytes:
            raise MessageTooLarge(queue, message.size, self.settings.max_message_bytes)

    def send(self, queue: str, message: OutgoingMessage) -> tuple[str, str]:
        """Send one message; returns (message id, queue URL) only once SQS confirmed it."""
        self.check_size(queue, message)
        url = self.queue_url(queue)
        try:
            response = self.client.send_message(
                QueueUrl=url,
                MessageBody=message.body.decode(),
                MessageAttributes=message.sqs_attributes(),
                **message.sqs_options(),
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            raise self._failure(queue, error) from error
        if not message.confirms(
            response.get("MD5OfMessageBody"), response.get("MD5OfMessageAttributes")
        ):
            raise EnqueueError(
                f"SQS queue {queue!r} answered with a checksum that does not match the message "
                "sent (corrupted in transit?); the job may not be enqueued: retry",
                queue=queue,
            )
        return response["MessageId"], url

    def send_batch(self, queue: str, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """One SendMessageBatch call (at most 10 messages); reports each entry's fate."""
        url = self.queue_url(queue)
        entries = [
            {
                "Id": str(index),
                "MessageBody": message.body.decode(),
                "MessageAttributes": message.sqs_attributes(),
                **message.sqs_options(),
            }
            for index, message in enumerate(messages)
        ]
        try:
            response = self.client.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            reason = str(self._failure(queue, error))
            return BatchResult({}, dict.fromkeys(range(len(messages)), ("SendFailed", reason)), url)
        sent: dict[int, str] = {}
        failed: dict[int, tuple[str, str]] = {}
        for entry in response.get("Successful", []):
            index = int(entry["Id"])
            if messages[index].confirms(
                entry.get("MD5OfMessageBody"), entry.get("MD5OfMessageAttributes")
            ):
                sent[index] = entry["MessageId"]
            else:
                failed[index] = ("ChecksumMismatch", "SQS checksum does not match the body sent")
        for refused in response.get("Failed", []):
            failed[int(refused["Id"])] = (refused["Code"], refused.get("Message", ""))
        for index in range(len(messages)):
            if index not in sent and index not in failed:
                failed[index] = ("Missing", "SQS did not report this entry")
        return BatchResult(sent, failed, url)

    def _failure(self, queue: str, error: Exception) -> EnqueueError:
        return EnqueueError(
            f"could not send to SQS queue {queue!r} "
            f"({self.settings.sqs_queue_name(queue)} in {self.settings.aws_region}): {error}; "
            "the job was not enqueued",
            queue=queue,
        )


_QUEUE_MISSING_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)


def _error_code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
