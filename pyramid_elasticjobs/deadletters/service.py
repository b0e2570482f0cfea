"""The dead-letter operations of one application, as the dashboard and the CLI call them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from pyramid_elasticjobs.client import EnqueuedJob, JobClient
from pyramid_elasticjobs.exceptions import InvalidJobArguments
from pyramid_elasticjobs.jobs import REDACTED, RESERVED_ARGUMENTS
from pyramid_elasticjobs.runtime import get_runtime

from . import movetasks
from .decoding import DeadLetter, recordable_body
from .errors import (
    DeadLetterSQSError,
    MoveTaskUnsupported,
    NotRedrivable,
    PurgeNotConfirmed,
    sqs_errors,
)
from .movetasks import MoveTask
from .queues import DeadLetterQueue, JobQueue, discover, find_dead_letter_queue, read_attributes
from .receiving import Holding
from .recorder import Action, NullRecorder, Recorder
from .redrive import (
    Match,
    ProgressCallback,
    Redriven,
    RedriveResult,
    Throttle,
    find,
    redrive_matching,
)
from .sampling import Sample, sample

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from pyramid.registry import Registry

    from pyramid_elasticjobs.jobs import JobDefinition

#: Sampling hides messages this long at most: they are released right after, and a
#: crashed sampler's messages come back soon.
SAMPLE_VISIBILITY_SECONDS = 30
#: Redrive, delete and edit hide what they received this long: long enough to act on a
#: batch; a message held longer comes back and is simply received again.
OPERATION_VISIBILITY_SECONDS = 120
DEFAULT_SAMPLE_SIZE = 10


@dataclass(frozen=True, slots=True)
class Edited:
    """An edited dead letter, sent as a new job; ``deleted`` False: the original stayed."""

    original_message_id: str
    original_job_id: str
    job_id: str
    message_id: str
    queue: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class QueueRedrive:
    """A whole-queue redrive: SQS's move task if it has them, else ours message by message."""

    task_handle: str | None
    fallback: RedriveResult | None


class DeadLetters:
    """Finds dead-letter queues, samples them and acts on their messages.

    Every action is passed to ``recorder`` (the audit log's store, when enabled) with
    the ``actor`` that asked for it. ``extra_queues`` are logical queue names beyond
    the default queue and the registered jobs' queues. ``wait_seconds`` is each
    receive's long poll: above 0, SQS asks all its servers rather than a sample of them.
    """

    def __init__(
        self,
        registry: Registry,
        recorder: Recorder | None = None,
        *,
        extra_queues: Iterable[str] = (),
        wait_seconds: int = 1,
    ) -> None:
        self.registry = registry
        self.runtime = get_runtime(registry)
        self.recorder: Recorder = recorder if recorder is not None else NullRecorder()
        self.extra_queues = tuple(extra_queues)
        self.wait_seconds = wait_seconds

    @property
    def _client(self) -> SQSClient:
        return self.runtime.transport.client

    # -- looking --------------------------------------------------------------------

    def queues(self, *, sample_size: int = 0) -> list[JobQueue]:
        """Each job queue with its dead-letter queue; ``sample_size`` > 0 finds the oldest
        dead letter of each (from a sample, released at once, not recorded)."""
        found = discover(self.runtime, self.extra_queues)
        if sample_size <= 0:
            return found
        oldest: dict[str, DeadLetterQueue] = {}
        for job_queue in found:
            dead_letters = job_queue.dead_letters
            if dead_letters is not None and dead_letters.name not in oldest:
                taken = self.sample(dead_letters, sample_size, record=False)
                oldest[dead_letters.name] = replace(dead_letters, oldest=taken.oldest)
        return [
            replace(q, dead_letters=oldest[q.dead_letters.name]) if q.dead_letters else q
            for q in found
        ]

    def dead_letter_queue(self, name: str) -> DeadLetterQueue:
        """A dead-letter queue by its SQS name, or the one of the job queue ``name``."""
        return find_dead_letter_queue(self.runtime, name, self.extra_queues)

    def sample(
        self, queue: DeadLetterQueue, limit: int = DEFAULT_SAMPLE_SIZE, *, record: bool = True
    ) -> Sample:
        """Up to ``limit`` decoded messages, all released again; recorded as snapshots."""
        taken = sample(
            self.runtime,
            queue,
            limit,
            visibility_timeout=SAMPLE_VISIBILITY_SECONDS,
            wait_seconds=self.wait_seconds,
        )
        if record:
            for letter in taken.letters:
                self._seen(letter)
        return taken

    # -- redriving ------------------------------------------------------------------

    def redrive(
        self,
        queue: DeadLetterQueue,
        message_ids: Collection[str],
        *,
        actor: str,
        throttle: Throttle | None = None,
        progress: ProgressCallback | None = None,
    ) -> RedriveResult:
        """Redrive the selected messages (one or many) that pass validation."""
        match = Match(message_ids=frozenset(message_ids))
        return self.redrive_matching(
            queue, match, actor=actor, throttle=throttle, progress=progress
        )

    def redrive_matching(
        self,
        queue: DeadLetterQueue,
        match: Match,
        *,
        actor: str,
        limit: int | None = None,
        throttle: Throttle | None = None,
        progress: ProgressCallback | None = None,
    ) -> RedriveResult:
        """Redrive every message ``match`` selects that passes validation; list the rest."""
        with self._holding(queue) as holding:
            return redrive_matching(
                self.runtime,
                holding,
                match,
                limit=limit,
                throttle=throttle,
                progress=progress,
                on_redriven=lambda redriven: self._redriven(queue, actor, redriven),
            )

    def redrive_all(
        self,
        queue: DeadLetterQueue,
        *,
        actor: str,
        max_per_second: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> QueueRedrive:
        """The whole queue back to its sources: an SQS move task (which moves every message,
        checked or not), or where SQS has none, validated redrive message by message."""
        try:
            handle = movetasks.start(self._client, queue, max_per_second)
        except MoveTaskUnsupported:
            throttle = Throttle(max_per_second) if max_per_second else None
            result = self.redrive_matching(
                queue, Match(), actor=actor, throttle=throttle, progress=progress
            )
            return QueueRedrive(None, result)
        self.recorder.action_taken(
            actor=actor,
            action=Action.MOVE_STARTED.value,
            queue=queue.name,
            detail={"task_handle": handle, "max_per_second": max_per_second},
        )
        return QueueRedrive(handle, None)

    def move_tasks(self, queue: DeadLetterQueue) -> tuple[MoveTask, ...] | None:
        """The queue's recent move tasks; None where SQS has no move tasks."""
        try:
            return movetasks.list_tasks(self._client, queue)
        except MoveTaskUnsupported:
            return None

    def cancel_move_task(self, queue: DeadLetterQueue, task_handle: str, *, actor: str) -> int:
        """Stop a running move task; how many messages it had moved."""
        moved = movetasks.cancel(self._client, queue, task_handle)
        self.recorder.action_taken(
            actor=actor,
            action=Action.MOVE_CANCELLED.value,
            queue=queue.name,
            detail={"task_handle": task_handle, "moved": moved},
        )
        return moved

    # -- deleting -------------------------------------------------------------------

    def delete(self, queue: DeadLetterQueue, message_id: str, *, actor: str) -> DeadLetter:
        """Delete one message for good (found by receiving); what it was."""
        with self._holding(queue) as holding:
            _, letter = find(self.runtime, holding, message_id)
            holding.delete(message_id)
        self.recorder.action_taken(
            actor=actor,
            action=Action.DELETED.value,
            queue=queue.name,
            job_id=letter.job_id,
            message_id=message_id,
            detail={"job": letter.job_name, "verdict": letter.verdict.value},
        )
        return letter

    def purge(self, queue: DeadLetterQueue, *, confirm: str, actor: str) -> None:
        """Delete every message of the queue; ``confirm`` must be the queue's name."""
        if confirm != queue.name:
            raise PurgeNotConfirmed(queue.name, confirm)
        depth = read_attributes(self._client, queue.name, queue.url).visible
        with sqs_errors("PurgeQueue", queue.name):
            self._client.purge_queue(QueueUrl=queue.url)
        self.recorder.action_taken(
            actor=actor,
            action=Action.PURGED.value,
            queue=queue.name,
            detail={"approximate_messages": depth},
        )

    # -- editing --------------------------------------------------------------------

    def edit_and_redrive(
        self,
        queue: DeadLetterQueue,
        message_id: str,
        arguments: Mapping[str, Any],
        *,
        actor: str,
    ) -> Edited:
        """Send the dead job again as a new job with new arguments, then delete the original.

        The arguments are checked against the job's current schema and the new envelope
        is signed anew, with a new job id (the original's history stays its own); the
        record of the action links the two. A field shown redacted and left as
        ``[redacted]`` keeps its original value.
        """
        with self._holding(queue) as holding:
            _, letter = find(self.runtime, holding, message_id)
            envelope = letter.envelope
            if envelope is None or not letter.signature_valid:
                why = "it is not a job envelope" if envelope is None else "its signature is invalid"
                raise NotRedrivable(
                    queue.name, message_id, f"{why}, so it is not signed anew; delete it"
                )
            definition = self.runtime.jobs.get(envelope.name)
            merged = _restore_redacted(definition, envelope.arguments, arguments)
            # A client without a request sends at once: the answer is an EnqueuedJob.
            client = JobClient(self.registry)
            job = cast(EnqueuedJob, client.enqueue(definition, immediate=True, **merged))
            deleted = self._delete_held(holding, message_id)
        self.recorder.action_taken(
            actor=actor,
            action=Action.EDITED.value,
            queue=queue.name,
            job_id=envelope.job_id,
            message_id=message_id,
            detail={
                "job": envelope.name,
                "new_job_id": job.job_id,
                "new_message_id": job.message_id,
                "arguments": definition.redacted(definition.dump(definition.load(merged))),
                "original_deleted": deleted,
            },
        )
        return Edited(message_id, envelope.job_id, job.job_id, job.message_id, job.queue, deleted)

    # -- helpers --------------------------------------------------------------------

    def _holding(self, queue: DeadLetterQueue) -> Holding:
        return Holding(
            self._client,
            queue,
            visibility_timeout=OPERATION_VISIBILITY_SECONDS,
            wait_seconds=self.wait_seconds,
        )

    def _delete_held(self, holding: Holding, message_id: str) -> bool:
        try:
            holding.delete(message_id)
        except DeadLetterSQSError:
            holding.release(message_id)
            return False  # the new job is sent: the original is left to delete by hand
        return True

    def _seen(self, letter: DeadLetter) -> None:
        self.recorder.dead_letter_seen(
            dead_letter_queue=letter.dead_letter_queue,
            message_id=letter.message_id,
            source_queue=letter.source_queue,
            job_id=letter.job_id,
            body=recordable_body(letter),
            attributes=dict(letter.attributes),
            receive_count=letter.receive_count,
        )

    def _redriven(self, queue: DeadLetterQueue, actor: str, redriven: Redriven) -> None:
        self.recorder.action_taken(
            actor=actor,
            action=Action.REDRIVEN.value,
            queue=queue.name,
            job_id=redriven.job_id,
            message_id=redriven.message_id,
            detail={
                "job": redriven.job_name,
                "source_queue": redriven.source_queue,
                "new_message_id": redriven.new_message_id,
                "original_deleted": redriven.deleted,
            },
        )


def _restore_redacted(
    definition: JobDefinition, original: Mapping[str, Any], edited: Mapping[str, Any]
) -> dict[str, Any]:
    """The edited arguments, with redacted fields left as ``[redacted]`` set back."""
    reserved = RESERVED_ARGUMENTS.intersection(edited)
    if reserved:
        # enqueue() would take these for its own options; no schema may declare them.
        raise InvalidJobArguments(definition.name, {key: ["Unknown field."] for key in reserved})
    merged = dict(edited)
    for name in definition.redact:
        if merged.get(name) == REDACTED and name in original:
            merged[name] = original[name]
    return merged
