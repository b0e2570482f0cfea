"""Receiving from a dead-letter queue, and giving back every message not acted on.

SQS has no peek: a received message is hidden for the visibility timeout. Whatever
an operation receives it holds until it is settled (deleted, or copied and deleted)
or released (visibility 0), so nothing stays hidden longer than the operation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from pyramid_elasticjobs.defaults import MAX_BATCH_ENTRIES

from .errors import sqs_errors

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef

    from .queues import DeadLetterQueue

log = logging.getLogger(__name__)

#: Receives in a row that bring no message not seen before, after which a queue counts
#: as read through (SQS returns a sample of its servers' messages per call).
EMPTY_RECEIVES = 2


@dataclass(frozen=True, slots=True)
class Received:
    """One message as SQS handed it over, with the handle of that receive."""

    message_id: str
    receipt_handle: str = field(repr=False)
    body: str = field(repr=False)
    #: Message attributes exactly as received (String, Number and Binary), to send on.
    message_attributes: Mapping[str, MessageAttributeValueOutputTypeDef] = field(repr=False)
    #: System attributes: SentTimestamp, ApproximateReceiveCount, DeadLetterQueueSourceArn...
    system_attributes: Mapping[str, str]
    md5_of_body: str | None
    md5_of_attributes: str | None

    @classmethod
    def from_sqs(cls, message: Mapping[str, Any]) -> Received:
        return cls(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message.get("Body", ""),
            message_attributes=message.get("MessageAttributes", {}),
            system_attributes=message.get("Attributes", {}),
            md5_of_body=message.get("MD5OfBody"),
            md5_of_attributes=message.get("MD5OfMessageAttributes"),
        )

    @property
    def text_attributes(self) -> dict[str, str]:
        """String and Number attributes (what the daemon passes on as headers)."""
        return {
            name: value["StringValue"]
            for name, value in self.message_attributes.items()
            if "StringValue" in value and not value.get("DataType", "").startswith("Binary")
        }

    @property
    def sent_at(self) -> datetime | None:
        millis = self.system_attributes.get("SentTimestamp")
        return datetime.fromtimestamp(int(millis) / 1000, UTC) if millis else None

    @property
    def receive_count(self) -> int:
        return int(self.system_attributes.get("ApproximateReceiveCount", 0))


class Holding:
    """The messages one operation received from a queue and has not settled yet.

    Used as a context manager: on exit every message still held is released, even
    when the operation failed half-way.
    """

    def __init__(
        self,
        client: SQSClient,
        queue: DeadLetterQueue,
        *,
        visibility_timeout: int,
        wait_seconds: int,
    ) -> None:
        self.client = client
        self.queue = queue
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds
        self._handles: dict[str, str] = {}
        self._seen: set[str] = set()

    def __enter__(self) -> Holding:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release_all()

    def receive(self, count: int = MAX_BATCH_ENTRIES) -> list[Received]:
        """Up to ``count`` (at most 10) messages; only those this holding has not seen."""
        with sqs_errors("ReceiveMessage", self.queue.name):
            messages = self.client.receive_message(
                QueueUrl=self.queue.url,
                MaxNumberOfMessages=max(1, min(count, MAX_BATCH_ENTRIES)),
                VisibilityTimeout=self.visibility_timeout,
                WaitTimeSeconds=self.wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        fresh = []
        for message in messages:
            received = Received.from_sqs(message)
            # A message seen before came back because its visibility ran out: only its
            # newest handle is valid, and it must be released with that one.
            self._handles[received.message_id] = received.receipt_handle
            if received.message_id not in self._seen:
                self._seen.add(received.message_id)
                fresh.append(received)
        return fresh

    def scan(self, limit: int | None = None) -> Iterator[Received]:
        """Every message of the queue, once each, until ``limit`` or no new ones come."""
        empty, count = 0, 0
        while empty < EMPTY_RECEIVES and (limit is None or count < limit):
            wanted = MAX_BATCH_ENTRIES if limit is None else limit - count
            batch = self.receive(wanted)
            empty = 0 if batch else empty + 1
            for received in batch:
                count += 1
                yield received

    def delete(self, message_id: str) -> None:
        """Delete a held message with its newest handle; raises :class:`DeadLetterSQSError`."""
        with sqs_errors("DeleteMessage", self.queue.name):
            self.client.delete_message(
                QueueUrl=self.queue.url, ReceiptHandle=self.handle(message_id)
            )
        self._handles.pop(message_id, None)

    def handle(self, message_id: str) -> str:
        """The newest receipt handle of a held message."""
        return self._handles[message_id]

    def release(self, message_id: str) -> None:
        handle = self._handles.pop(message_id, None)
        if handle is not None:
            self._release({message_id: handle})

    def release_all(self) -> None:
        handles, self._handles = self._handles, {}
        self._release(handles)

    def _release(self, handles: Mapping[str, str]) -> None:
        items = list(handles.items())
        for start in range(0, len(items), MAX_BATCH_ENTRIES):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, (_, handle) in enumerate(items[start : start + MAX_BATCH_ENTRIES])
            ]
            try:
                response = self.client.change_message_visibility_batch(
                    QueueUrl=self.queue.url,
                    Entries=entries,  # type: ignore[arg-type]
                )
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
                # Never raised: the messages come back anyway when their visibility runs out.
                log.warning(
                    "could not release %d message(s) of %s (%s); they are visible again within %ds",
                    len(entries),
                    self.queue.name,
                    error,
                    self.visibility_timeout,
                )
                continue
            for failure in response.get("Failed", []):
                log.warning(
                    "could not release a message of %s: %s",
                    self.queue.name,
                    failure.get("Message", failure.get("Code")),
                )
