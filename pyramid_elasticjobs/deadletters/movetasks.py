"""SQS message move tasks: SQS itself moves a whole dead-letter queue back to its sources.

A move task cannot filter, check or edit, and moved messages get new ids; SQS runs one
per queue at a time. Not every SQS has them (moto 5.2 answers HTTP 500): such an
endpoint raises :class:`MoveTaskUnsupported`, and the caller redrives message by message.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from .errors import MoveTaskError, MoveTaskUnsupported, error_code

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from .queues import DeadLetterQueue

#: SQS's ceiling for MaxNumberOfMessagesPerSecond.
MAX_MOVE_RATE = 500

#: Error codes meaning "this endpoint has no such action", from SQS-compatible servers.
#: Not AWS's UnsupportedOperation: SQS answers that for a task it refuses (one is running
#: already, the queue is no dead-letter queue), which a per-message redrive must not bypass.
_UNSUPPORTED_CODES = frozenset({"InvalidAction", "NotImplemented", "UnknownOperationException"})


class MoveTaskStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class MoveTask:
    """One move task as SQS reports it (counts approximate); only a running one has a handle."""

    status: str
    source_arn: str
    destination_arn: str | None
    task_handle: str | None
    max_per_second: int | None
    moved: int
    to_move: int | None
    failure_reason: str | None
    started_at: datetime | None

    @property
    def running(self) -> bool:
        return self.status == MoveTaskStatus.RUNNING

    @classmethod
    def from_sqs(cls, result: Mapping[str, Any]) -> MoveTask:
        started = result.get("StartedTimestamp")
        return cls(
            status=str(result.get("Status", "")),
            source_arn=str(result.get("SourceArn", "")),
            destination_arn=result.get("DestinationArn"),
            task_handle=result.get("TaskHandle"),
            max_per_second=result.get("MaxNumberOfMessagesPerSecond"),
            moved=int(result.get("ApproximateNumberOfMessagesMoved", 0)),
            to_move=result.get("ApproximateNumberOfMessagesToMove"),
            failure_reason=result.get("FailureReason"),
            started_at=datetime.fromtimestamp(started / 1000, UTC) if started else None,
        )


def start(client: SQSClient, queue: DeadLetterQueue, max_per_second: int | None) -> str:
    """Start moving every message of ``queue`` back to its source; the task's handle."""
    options: dict[str, Any] = {}
    if max_per_second is not None:
        if not 1 <= max_per_second <= MAX_MOVE_RATE:
            raise MoveTaskError(
                f"a move task moves 1 to {MAX_MOVE_RATE} messages per second, not "
                f"{max_per_second}; give a rate in that range, or none for SQS's own pace"
            )
        options["MaxNumberOfMessagesPerSecond"] = max_per_second
    with _move_errors(client, "StartMessageMoveTask", queue.name):
        response = client.start_message_move_task(SourceArn=queue.arn, **options)
    return response["TaskHandle"]


def list_tasks(client: SQSClient, queue: DeadLetterQueue) -> tuple[MoveTask, ...]:
    """The queue's recent move tasks (SQS keeps the last ten), newest first."""
    with _move_errors(client, "ListMessageMoveTasks", queue.name):
        response = client.list_message_move_tasks(SourceArn=queue.arn, MaxResults=10)
    return tuple(MoveTask.from_sqs(result) for result in response.get("Results", []))


def cancel(client: SQSClient, queue: DeadLetterQueue, task_handle: str) -> int:
    """Stop a running task; how many messages it had moved (approximately)."""
    with _move_errors(client, "CancelMessageMoveTask", queue.name):
        response = client.cancel_message_move_task(TaskHandle=task_handle)
    return int(response.get("ApproximateNumberOfMessagesMoved", 0))


#: Clients of endpoints found to have no move tasks: not asked again (moto answers each
#: call with a 500 that botocore retries, and every dashboard page would pay for it).
_WITHOUT_MOVE_TASKS: weakref.WeakKeyDictionary[Any, botocore.exceptions.ClientError] = (
    weakref.WeakKeyDictionary()
)


@contextmanager
def _move_errors(client: SQSClient, operation: str, queue: str) -> Iterator[None]:
    known = _WITHOUT_MOVE_TASKS.get(client)
    if known is not None:
        raise MoveTaskUnsupported(queue, known)
    try:
        yield
    except botocore.exceptions.ClientError as error:
        if _unsupported(error):
            _WITHOUT_MOVE_TASKS[client] = error
            raise MoveTaskUnsupported(queue, error) from error
        raise MoveTaskError(
            f"SQS {operation} for {queue!r} failed: {error}; a queue runs one move task at a "
            f"time (see the running one), and the credentials need sqs:{operation}"
        ) from error
    except botocore.exceptions.BotoCoreError as error:
        raise MoveTaskError(f"SQS {operation} for {queue!r} failed: {error}; try again") from error


def _unsupported(error: botocore.exceptions.ClientError) -> bool:
    code = error_code(error)
    if code in _UNSUPPORTED_CODES:
        return True
    # An emulator that crashes on an unknown action answers a bare 500/501 whose "code"
    # is the status itself; AWS's own server errors carry a named code (InternalError).
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status in (500, 501) and code in ("", "500", "501")
