"""Looking at a dead-letter queue: receive a few messages, decode them, give them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .decoding import DeadLetter, decode
from .queues import OldestDeadLetter
from .receiving import Holding

if TYPE_CHECKING:
    from pyramid_elasticjobs.runtime import Runtime

    from .queues import DeadLetterQueue


@dataclass(frozen=True, slots=True)
class Sample:
    """Some of a dead-letter queue's messages, already released again."""

    queue: DeadLetterQueue
    letters: tuple[DeadLetter, ...]
    oldest: OldestDeadLetter | None


def sample(
    runtime: Runtime,
    queue: DeadLetterQueue,
    limit: int,
    *,
    visibility_timeout: int,
    wait_seconds: int,
) -> Sample:
    """Receive up to ``limit`` messages over a few calls, decode them, release them all."""
    with Holding(
        runtime.transport.client,
        queue,
        visibility_timeout=visibility_timeout,
        wait_seconds=wait_seconds,
    ) as holding:
        letters = tuple(decode(runtime, queue, received) for received in holding.scan(limit))
    return Sample(queue, letters, oldest_of(queue, letters))


def oldest_of(queue: DeadLetterQueue, letters: Sequence[DeadLetter]) -> OldestDeadLetter | None:
    """The oldest message of the sample by SentTimestamp, and when SQS will delete it."""
    sent = [letter.sent_at for letter in letters if letter.sent_at is not None]
    if not sent:
        return None
    oldest = min(sent)
    retention = timedelta(seconds=queue.attributes.retention_seconds)
    return OldestDeadLetter(oldest, datetime.now(UTC) - oldest, oldest + retention, len(letters))
