"""Moving dead letters back to their source queue, one message at a time.

Always send-then-delete with the handle of the same receive: the copy is sent to the
source queue, and only once SQS has confirmed it (checksums compared) is the original
deleted. A crash in between leaves a duplicate, never a loss; a failed send leaves
the original where it was, released for the next attempt.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .decoding import DeadLetter, Verdict, decode
from .errors import DeadLetterError, DeadLetterNotFound, DeadLetterSQSError, sqs_errors
from .queues import QueueRef, read_attributes
from .receiving import Holding, Received

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from pyramid_elasticjobs.runtime import Runtime

    from .queues import DeadLetterQueue


@dataclass(frozen=True, slots=True)
class Match:
    """Which dead letters an operation is about; None matches anything."""

    message_ids: frozenset[str] | None = None
    job_names: frozenset[str] | None = None
    verdicts: frozenset[Verdict] | None = None
    signature_valid: bool | None = None

    def __call__(self, letter: DeadLetter) -> bool:
        return (
            (self.message_ids is None or letter.message_id in self.message_ids)
            and (self.job_names is None or letter.job_name in self.job_names)
            and (self.verdicts is None or letter.verdict in self.verdicts)
            and (self.signature_valid is None or letter.signature_valid == self.signature_valid)
        )


@dataclass(frozen=True, slots=True)
class Redriven:
    """A dead letter sent back; ``deleted`` is False when its delete failed (a duplicate)."""

    message_id: str
    new_message_id: str
    source_queue: str
    job_name: str | None
    job_id: str | None
    deleted: bool = True


@dataclass(frozen=True, slots=True)
class NotRedriven:
    """A dead letter left in its queue, and why."""

    message_id: str
    job_name: str | None
    reason: str
    verdict: Verdict | None = None


@dataclass(frozen=True, slots=True)
class RedriveResult:
    """What a redrive did: ``skipped`` failed validation, ``failed`` could not be sent."""

    redriven: tuple[Redriven, ...] = ()
    skipped: tuple[NotRedriven, ...] = ()
    failed: tuple[NotRedriven, ...] = ()
    #: Asked-for message ids that were not received (gone, or held by someone else).
    not_found: tuple[str, ...] = ()
    scanned: int = 0


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a redrive is; ``total`` is the queue's approximate depth at the start."""

    scanned: int
    redriven: int
    skipped: int
    failed: int
    total: int


ProgressCallback = Callable[[Progress], None]


class Throttle:
    """At most ``per_second`` sends per second (to spare the workers and the source queue)."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not per_second > 0:
            raise DeadLetterError(
                f"a redrive rate of {per_second!r} messages per second is not possible; "
                "give a positive number"
            )
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        """Return when the next send is due."""
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


@dataclass(slots=True)
class _Tally:
    total: int
    scanned: int = 0
    redriven: list[Redriven] = field(default_factory=list)
    skipped: list[NotRedriven] = field(default_factory=list)
    failed: list[NotRedriven] = field(default_factory=list)

    def progress(self) -> Progress:
        return Progress(
            self.scanned, len(self.redriven), len(self.skipped), len(self.failed), self.total
        )

    def result(self, wanted: Collection[str] | None) -> RedriveResult:
        settled = {item.message_id for item in self.redriven}
        settled.update(item.message_id for item in (*self.skipped, *self.failed))
        missing = tuple(sorted(set(wanted) - settled)) if wanted is not None else ()
        return RedriveResult(
            tuple(self.redriven), tuple(self.skipped), tuple(self.failed), missing, self.scanned
        )


def redrive_matching(
    runtime: Runtime,
    holding: Holding,
    match: Match,
    *,
    limit: int | None = None,
    throttle: Throttle | None = None,
    progress: ProgressCallback | None = None,
    on_redriven: Callable[[Redriven], None] | None = None,
) -> RedriveResult:
    """Redrive every valid message ``match`` selects; list the invalid ones, send nothing of them.

    Messages that do not match stay held (hidden) until the operation ends, so the scan
    sees each message once; the holding releases them all at the end.
    """
    queue = holding.queue
    tally = _Tally(read_attributes(holding.client, queue.name, queue.url).visible)
    wanted = set(match.message_ids) if match.message_ids is not None else None
    for received in holding.scan(limit):
        tally.scanned += 1
        letter = decode(runtime, queue, received)
        if match(letter):
            _settle(runtime, holding, received, letter, tally, throttle, on_redriven)
            if wanted is not None:
                wanted.discard(letter.message_id)
        if progress is not None:
            progress(tally.progress())
        if wanted is not None and not wanted:
            break  # every selected message found: no need to read the rest
    return tally.result(match.message_ids)


def _settle(
    runtime: Runtime,
    holding: Holding,
    received: Received,
    letter: DeadLetter,
    tally: _Tally,
    throttle: Throttle | None,
    on_redriven: Callable[[Redriven], None] | None,
) -> None:
    if not letter.redrivable:
        reason = letter.reason or letter.verdict.value
        tally.skipped.append(
            NotRedriven(letter.message_id, letter.job_name, reason, letter.verdict)
        )
        return
    if throttle is not None:
        throttle.wait()
    try:
        target = _target(runtime, holding.queue, letter)
        redriven = send_then_delete(runtime.transport.client, holding, target, received, letter)
    except DeadLetterError as error:
        holding.release(received.message_id)
        tally.failed.append(NotRedriven(letter.message_id, letter.job_name, str(error)))
        return
    tally.redriven.append(redriven)
    if on_redriven is not None:
        on_redriven(redriven)


def send_then_delete(
    client: SQSClient,
    holding: Holding,
    target: QueueRef,
    received: Received,
    letter: DeadLetter,
) -> Redriven:
    """Copy one message to ``target``; delete the original once SQS confirmed the copy.

    Raises :class:`DeadLetterError` if the copy is not confirmed (the caller releases
    the original). A failed delete is not raised: the copy is sent, so the result says
    the original stayed behind as a duplicate.
    """
    with sqs_errors("SendMessage", target.name):
        response = client.send_message(
            QueueUrl=target.url,
            MessageBody=received.body,
            MessageAttributes=dict(received.message_attributes),
            **_fifo_options(target, received),
        )
    if not _confirms(received, response):
        raise DeadLetterError(
            f"SQS queue {target.name!r} answered with checksums that do not match the message "
            "sent; the original was left in the dead-letter queue: look in the source queue for "
            "a copy before trying again"
        )
    try:
        holding.delete(received.message_id)
        deleted = True
    except DeadLetterSQSError:
        # The copy is on its way: the original, released, is a duplicate to delete later.
        holding.release(received.message_id)
        deleted = False
    return Redriven(
        letter.message_id,
        response["MessageId"],
        target.name,
        letter.job_name,
        letter.job_id,
        deleted,
    )


def find(runtime: Runtime, holding: Holding, message_id: str) -> tuple[Received, DeadLetter]:
    """Receive until the message turns up (the others stay held until the holding ends)."""
    for received in holding.scan():
        if received.message_id == message_id:
            return received, decode(runtime, holding.queue, received)
    raise DeadLetterNotFound(holding.queue.name, message_id)


def _target(runtime: Runtime, queue: DeadLetterQueue, letter: DeadLetter) -> QueueRef:
    name = letter.source_queue
    if name is None:
        raise DeadLetterError(
            f"the source queue of message {letter.message_id!r} is unknown (SQS did not say, "
            f"and {queue.name!r} is the dead-letter queue of several queues); redrive it with "
            "the whole-queue move task, or edit and redrive it"
        )
    known = queue.source(name)
    if known is not None:
        return known
    # Named by SQS's DeadLetterQueueSourceArn but not among the sources we know.
    with sqs_errors("GetQueueUrl", name):
        url = runtime.transport.client.get_queue_url(QueueName=name)["QueueUrl"]
    return QueueRef(name, url)


def _confirms(received: Received, response: Any) -> bool:
    """The copy's checksums against the body sent and SQS's own digest of the original's
    attributes (the copy carries the very same attributes, so SQS digests them alike)."""
    body_md5 = hashlib.md5(received.body.encode(), usedforsecurity=False).hexdigest()
    if response.get("MD5OfMessageBody") != body_md5:
        return False
    expected = received.md5_of_attributes
    return expected is None or response.get("MD5OfMessageAttributes") == expected


def _fifo_options(target: QueueRef, received: Received) -> dict[str, Any]:
    if not target.name.endswith(".fifo"):
        return {}
    group = received.system_attributes.get("MessageGroupId", "redriven")
    # One deduplication id per original: a redrive retried within SQS's five-minute window
    # after a crash is dropped by SQS instead of running twice.
    return {"MessageGroupId": group, "MessageDeduplicationId": f"redrive-{received.message_id}"}
