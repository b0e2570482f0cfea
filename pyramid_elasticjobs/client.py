"""The enqueue side: ``request.elasticjobs`` and ``get_client(registry)``."""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import events
from .defaults import MAX_BATCH_ENTRIES, MAX_DELAY_SECONDS, MAX_SCHEDULE_AHEAD
from .envelope import Envelope, encode_json
from .exceptions import (
    BatchEnqueueError,
    BatchFailure,
    InvalidDelay,
    InvalidEnqueueOption,
    InvalidJobArguments,
)
from .jobs import JobDefinition, JobFunction
from .runtime import Runtime, get_runtime
from .signing import signed_message
from .transport import OutgoingMessage

if TYPE_CHECKING:
    from pyramid.registry import Registry
    from pyramid.request import Request

log = logging.getLogger(__name__)

Delay = int | float | timedelta
JobRef = str | JobFunction | JobDefinition


@dataclass(frozen=True, slots=True)
class EnqueuedJob:
    """A job SQS has confirmed (checksums matched)."""

    job_id: str
    message_id: str
    queue: str
    name: str


@dataclass(slots=True)
class PendingJob:
    """A job that will be sent when the surrounding transaction commits.

    ``message_id`` stays None until SQS confirms it after the commit; ``status``
    is ``pending``, then ``sent``, ``failed`` (logged at ERROR) or ``dropped``
    (the transaction aborted, so the job must not run).
    """

    job_id: str
    queue: str
    name: str
    message_id: str | None = None
    status: str = "pending"


@dataclass(frozen=True, slots=True)
class _Prepared:
    definition: JobDefinition
    envelope: Envelope
    message: OutgoingMessage


@dataclass(slots=True)
class _Batch:
    """Messages grouped so each SendMessageBatch call stays under the count and size limits."""

    limit: int
    groups: list[list[tuple[int, _Prepared]]] = field(default_factory=list)
    _size: int = 0

    def add(self, index: int, prepared: _Prepared) -> None:
        size = prepared.message.size
        if (
            not self.groups
            or len(self.groups[-1]) == MAX_BATCH_ENTRIES
            or (self._size + size > self.limit)
        ):
            self.groups.append([])
            self._size = 0
        self.groups[-1].append((index, prepared))
        self._size += size


class JobClient:
    """Validates, signs and sends jobs. Inside a pyramid_tm transaction, sends after commit."""

    def __init__(self, registry: Registry, request: Request | None = None) -> None:
        self.registry = registry
        # The environ (where pyramid_tm keeps its transaction), not the request: the client
        # hangs off the request, and a reference back would make each request a garbage cycle.
        self._environ = request.environ if request is not None else None
        self._runtime: Runtime = get_runtime(registry)

    def enqueue(
        self,
        job: JobRef,
        /,
        *,
        delay: Delay | None = None,
        run_at: datetime | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        immediate: bool = False,
        **arguments: Any,
    ) -> EnqueuedJob | PendingJob:
        """Validate ``arguments`` against the job's schema and send the job.

        ``delay`` (seconds or timedelta) or ``run_at`` (aware datetime) postpone it,
        beyond SQS's 15 minutes if need be. ``group_id``/``dedup_id`` apply to FIFO
        queues. ``immediate=True`` sends now even inside a transaction.
        """
        definition = self._runtime.jobs.resolve(job)
        prepared = self._prepare(definition, arguments, delay, run_at, group_id, dedup_id)
        pending = None if immediate else self._defer([prepared])
        return pending[0] if pending else self._send(prepared)

    def enqueue_many(
        self,
        job: JobRef,
        arguments: Iterable[Mapping[str, Any]],
        /,
        *,
        delay: Delay | None = None,
        run_at: datetime | None = None,
        group_id: str | None = None,
        immediate: bool = False,
    ) -> list[EnqueuedJob] | list[PendingJob]:
        """Enqueue one job per mapping of arguments, 10 per SendMessageBatch call.

        Every entry is validated before anything is sent. If SQS refuses some
        entries, :class:`BatchEnqueueError` lists them (and the ones it accepted).
        """
        definition = self._runtime.jobs.resolve(job)
        prepared: list[_Prepared] = []
        problems: dict[str, Any] = {}
        for index, entry in enumerate(arguments):
            try:
                prepared.append(self._prepare(definition, entry, delay, run_at, group_id, None))
            except InvalidJobArguments as error:
                problems[f"entry {index}"] = error.errors
        if problems:
            raise InvalidJobArguments(definition.name, problems)
        if not prepared:
            return []
        pending = None if immediate else self._defer(prepared)
        return pending if pending is not None else self._send_batches(prepared)

    # -- preparing ------------------------------------------------------------------

    def _prepare(
        self,
        definition: JobDefinition,
        arguments: Mapping[str, Any],
        delay: Delay | None,
        run_at: datetime | None,
        group_id: str | None,
        dedup_id: str | None,
    ) -> _Prepared:
        runtime = self._runtime
        queue = definition.queue or runtime.settings.default_queue
        fifo = queue.endswith(".fifo")
        now = datetime.now(UTC)
        delay_seconds, envelope_run_at = _schedule(queue, now, delay, run_at)
        _check_fifo_options(queue, fifo, delay_seconds, group_id, dedup_id)
        due = envelope_run_at or now + timedelta(seconds=delay_seconds)
        envelope = Envelope(
            name=definition.name,
            job_id=uuid.uuid4().hex,
            queue=queue,
            arguments=definition.dump(definition.load(arguments)),
            enqueued_at=now,
            run_at=envelope_run_at,
            expires_at=due + timedelta(seconds=runtime.settings.message_ttl),
        )
        message = signed_message(
            runtime,
            _encode(definition, envelope),
            envelope.name,
            delay_seconds=delay_seconds,
            group_id=(group_id or definition.name) if fifo else group_id,
            deduplication_id=(dedup_id or envelope.job_id) if fifo else None,
        )
        runtime.transport.check_size(queue, message)
        return _Prepared(definition, envelope, message)

    # -- sending --------------------------------------------------------------------

    def _send(self, prepared: _Prepared) -> EnqueuedJob:
        envelope = prepared.envelope
        message_id, queue_url = self._runtime.transport.send(envelope.queue, prepared.message)
        self._announce(envelope, message_id, queue_url)
        return EnqueuedJob(envelope.job_id, message_id, envelope.queue, envelope.name)

    def _send_batches(self, prepared: Sequence[_Prepared]) -> list[EnqueuedJob]:
        batch = _Batch(self._runtime.settings.max_message_bytes)
        for index, item in enumerate(prepared):
            batch.add(index, item)
        enqueued: dict[int, EnqueuedJob] = {}
        failures: list[BatchFailure] = []
        for group in batch.groups:
            queue = group[0][1].envelope.queue
            result = self._runtime.transport.send_batch(queue, [item.message for _, item in group])
            for position, (index, item) in enumerate(group):
                envelope = item.envelope
                if position in result.message_ids:
                    message_id = result.message_ids[position]
                    self._announce(envelope, message_id, result.queue_url)
                    enqueued[index] = EnqueuedJob(
                        envelope.job_id, message_id, envelope.queue, envelope.name
                    )
                else:
                    code, reason = result.failures[position]
                    failures.append(
                        BatchFailure(index, envelope.job_id, envelope.arguments, code, reason)
                    )
        jobs = [enqueued[index] for index in sorted(enqueued)]
        if failures:
            raise BatchEnqueueError(prepared[0].envelope.queue, jobs, failures)
        return jobs

    def _announce(self, envelope: Envelope, message_id: str, queue_url: str) -> None:
        events.notify(
            self.registry, events.JobEnqueued(envelope, self.registry, None, message_id, queue_url)
        )

    # -- transactions ---------------------------------------------------------------

    def _defer(self, prepared: Sequence[_Prepared]) -> list[PendingJob] | None:
        """Queue the sends on the request's pyramid_tm transaction, if there is one."""
        environ = self._environ
        if environ is None or not self._runtime.settings.enqueue_after_commit:
            return None
        if not environ.get("tm.active"):
            return None
        pending = [
            PendingJob(item.envelope.job_id, item.envelope.queue, item.envelope.name)
            for item in prepared
        ]
        transaction = environ["tm.manager"].get()
        transaction.addAfterCommitHook(
            self._after_commit(list(zip(prepared, pending, strict=True)))
        )
        transaction.addAfterAbortHook(_mark_dropped, (pending,))
        return pending

    def _after_commit(self, jobs: Sequence[tuple[_Prepared, PendingJob]]) -> Callable[[bool], None]:
        def send_after_commit(committed: bool) -> None:
            if not committed:
                for _, pending in jobs:
                    pending.status = "dropped"
                return
            items = [item for item, _ in jobs]
            sent: Sequence[EnqueuedJob] = []
            try:
                sent = self._send_batches(items) if len(items) > 1 else [self._send(items[0])]
            except BatchEnqueueError as error:
                sent = error.enqueued
            except Exception:
                log.exception("sending %d job(s) after commit failed", len(items))
            message_ids = {job.job_id: job.message_id for job in sent}
            for item, pending in jobs:
                pending.message_id = message_ids.get(pending.job_id)
                pending.status = "sent" if pending.message_id else "failed"
                if not pending.message_id:
                    # The transaction is already committed: all that is left is to make
                    # the job recoverable by hand, so log everything needed to resend it.
                    # (The one log line that carries arguments, sensitive ones redacted.)
                    log.error(
                        "job %s (%s) was committed but not sent to SQS; enqueue it again "
                        "with these arguments: %s",
                        item.envelope.name,
                        item.envelope.job_id,
                        encode_json(item.definition.redacted(item.envelope.arguments)).decode(),
                    )

        return send_after_commit


def _mark_dropped(pending: Sequence[PendingJob]) -> None:
    for job in pending:
        job.status = "dropped"


def _schedule(
    queue: str, now: datetime, delay: Delay | None, run_at: datetime | None
) -> tuple[int, datetime | None]:
    """(DelaySeconds, run_at for the envelope); run_at is set only beyond SQS's 15 minutes."""
    if delay is not None and run_at is not None:
        raise InvalidDelay("give either delay or run_at, not both", queue=queue)
    if run_at is not None:
        seconds = (_aware_datetime(queue, run_at) - now).total_seconds()
    elif delay is not None:
        seconds = _delay_seconds(queue, delay)
    else:
        return 0, None
    if seconds > MAX_SCHEDULE_AHEAD.total_seconds():
        given = f"run_at={run_at.isoformat()}" if run_at is not None else f"delay={delay!r}"
        raise InvalidDelay(
            f"{given} is more than {MAX_SCHEDULE_AHEAD.days} days ahead; schedule it later "
            "from a periodic job, or check the unit (delay is in seconds)",
            queue=queue,
        )
    delay_seconds = max(0, math.ceil(seconds))
    if delay_seconds <= MAX_DELAY_SECONDS:
        return delay_seconds, None
    return MAX_DELAY_SECONDS, now + timedelta(seconds=delay_seconds)


def _aware_datetime(queue: str, run_at: Any) -> datetime:
    if not isinstance(run_at, datetime):
        raise InvalidDelay(
            f"run_at={run_at!r} is not a datetime; pass an aware datetime such as "
            "datetime.now(UTC) + timedelta(hours=1)",
            queue=queue,
        )
    if run_at.tzinfo is None or run_at.utcoffset() is None:
        raise InvalidDelay(
            f"run_at={run_at.isoformat()} has no time zone; pass an aware datetime "
            "(e.g. datetime.now(UTC) + timedelta(hours=1))",
            queue=queue,
        )
    return run_at


def _delay_seconds(queue: str, delay: Any) -> float:
    # bool is an int, and "10" is a number only by accident: both are mistakes here.
    if isinstance(delay, timedelta):
        seconds = delay.total_seconds()
    elif isinstance(delay, int | float) and not isinstance(delay, bool):
        seconds = float(delay)
    else:
        raise InvalidDelay(
            f"delay={delay!r} is not a number of seconds; pass an int, a float or a timedelta",
            queue=queue,
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidDelay(f"delay={delay!r} is not a non-negative number of seconds", queue=queue)
    return seconds


#: SQS's MessageGroupId and MessageDeduplicationId: 1-128 letters, digits and punctuation.
_SQS_ID = re.compile(r"[!-~]{1,128}")


def _check_fifo_options(
    queue: str, fifo: bool, delay_seconds: int, group_id: Any, dedup_id: Any
) -> None:
    if fifo and delay_seconds:
        raise InvalidDelay(
            f"queue {queue!r} is a FIFO queue, which refuses per-message delays; "
            "enqueue without delay/run_at, or use a standard queue",
            queue=queue,
        )
    if dedup_id is not None and not fifo:
        raise InvalidEnqueueOption(
            f"dedup_id only applies to FIFO queues, and {queue!r} is a standard queue; "
            "leave dedup_id out, or use a queue whose name ends in .fifo",
            queue=queue,
        )
    for option, value in (("group_id", group_id), ("dedup_id", dedup_id)):
        if value is not None and not (isinstance(value, str) and _SQS_ID.fullmatch(value)):
            raise InvalidEnqueueOption(
                f"{option}={value!r} is not an SQS id; give a string of 1 to 128 letters, "
                "digits or punctuation, without spaces",
                queue=queue,
            )


def _encode(definition: JobDefinition, envelope: Envelope) -> bytes:
    """The envelope's bytes, or :class:`InvalidJobArguments` naming each field JSON cannot carry."""
    try:
        return envelope.to_json()
    except (TypeError, ValueError, UnicodeEncodeError):
        problems = {
            name: [problem]
            for name, value in envelope.arguments.items()
            if (problem := _json_problem(value)) is not None
        }
        if not problems:  # not the arguments' fault: let the real error show
            raise
        raise InvalidJobArguments(definition.name, problems) from None


def _json_problem(value: Any) -> str | None:
    try:
        encode_json(value)
    except TypeError as error:
        return f"cannot be sent as JSON ({error}); declare a field type that dumps it to JSON"
    except UnicodeEncodeError:
        return "text contains a lone surrogate, which is not valid UTF-8"
    except ValueError as error:
        return f"cannot be sent as JSON ({error})"
    return None


def get_client(registry: Registry) -> JobClient:
    """A client for scripts and pshell: sends immediately (no request, no transaction)."""
    return JobClient(registry)


class RequestClient:
    """``request.elasticjobs``: a client that honours the request's transaction.

    Added as a request *method* whose binding is the client. A reified property would
    make Pyramid build a new request class for every request of an app that has no
    other request property (15 us and a garbage cycle each; see docs/performance.md).
    """

    __slots__ = ()

    def __get__(self, request: Request, owner: type | None = None) -> JobClient:
        return JobClient(request.registry, request)
