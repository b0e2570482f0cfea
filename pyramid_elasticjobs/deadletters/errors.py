"""What can go wrong with a dead-letter operation; each message says what to do next."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import botocore.exceptions

from pyramid_elasticjobs.exceptions import ElasticJobsError


class DeadLetterError(ElasticJobsError):
    """Base class of the dead-letter service's errors."""


class DeadLetterSQSError(DeadLetterError):
    """SQS refused or failed a call; ``operation`` names the SQS action."""

    def __init__(self, operation: str, queue: str, error: Exception) -> None:
        self.operation = operation
        self.queue = queue
        super().__init__(
            f"SQS {operation} on queue {queue!r} failed: {error}; check that the queue exists "
            f"and that the credentials allow sqs:{operation}, then try again"
        )


class NotADeadLetterQueue(DeadLetterError):
    """The queue is not the dead-letter queue of any queue: it may hold live jobs."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(
            f"queue {queue!r} is not a dead-letter queue (no queue's RedrivePolicy names it); "
            "browsing a live queue would count against its redrive policy, so give the name of "
            "a dead-letter queue, or of a job queue that has a RedrivePolicy"
        )


class DeadLetterNotFound(DeadLetterError, LookupError):
    """No message with this id was received from the dead-letter queue."""

    def __init__(self, queue: str, message_id: str) -> None:
        self.queue = queue
        self.message_id = message_id
        super().__init__(
            f"message {message_id!r} was not found in dead-letter queue {queue!r}; it may have "
            "been redriven or deleted already, or be held by another operator for a moment: "
            "sample the queue again"
        )


class PurgeNotConfirmed(DeadLetterError, ValueError):
    """A purge was asked for without typing the queue's name."""

    def __init__(self, queue: str, confirmation: str) -> None:
        self.queue = queue
        super().__init__(
            f"purging {queue!r} deletes every message in it for good; confirm by giving the "
            f"queue's name exactly ({queue!r}, not {confirmation!r})"
        )


class NotRedrivable(DeadLetterError, ValueError):
    """A message that would fail again (forged, invalid, unknown job) was asked to be redriven."""

    def __init__(self, queue: str, message_id: str, reason: str) -> None:
        self.queue = queue
        self.message_id = message_id
        self.reason = reason
        super().__init__(
            f"message {message_id!r} in {queue!r} is not redriven: {reason}; fix the cause "
            "(or edit its arguments and redrive it), or delete it"
        )


class MoveTaskError(DeadLetterError):
    """SQS refused to start, list or cancel a message move task."""


class MoveTaskUnsupported(MoveTaskError):
    """This SQS (an emulator, an old endpoint) has no message move tasks."""

    def __init__(self, queue: str, error: Exception) -> None:
        self.queue = queue
        super().__init__(
            f"this SQS endpoint does not implement message move tasks ({error}); redrive "
            f"{queue!r} message by message instead"
        )


@contextmanager
def sqs_errors(operation: str, queue: str) -> Iterator[None]:
    """Turn botocore's errors from one SQS call into :class:`DeadLetterSQSError`."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise DeadLetterSQSError(operation, queue, error) from error


def error_code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
