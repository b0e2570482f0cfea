"""What a dead letter is: which job, with which arguments, and whether it could run now.

Checked against the running code, not the code that sent it: the signature with the
current secrets, the arguments with the job's *current* schema. A message that fails
either would fail again, so it is never redriven as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs.envelope import Envelope, encode_json
from pyramid_elasticjobs.exceptions import EnvelopeError, InvalidJobArguments, UnknownJobError
from pyramid_elasticjobs.protocol import SIGNATURE_ATTRIBUTE

if TYPE_CHECKING:
    from pyramid_elasticjobs.jobs import JobDefinition
    from pyramid_elasticjobs.runtime import Runtime

    from .queues import DeadLetterQueue
    from .receiving import Received

#: The body of a periodic-task message, sent by the leader instance for cron.yaml.
PERIODIC_BODY = "elasticbeanstalk scheduled job"
PERIODIC_TASK_ATTRIBUTE = "beanstalk.sqsd.task_name"
#: Set by SQS on messages it moved into a dead-letter queue.
SOURCE_ARN_ATTRIBUTE = "DeadLetterQueueSourceArn"


class Verdict(StrEnum):
    """Whether a dead letter could run if redriven as it is, and if not, why."""

    VALID = "valid"
    #: A cron.yaml message for a registered periodic job (unsigned by design).
    PERIODIC = "periodic"
    NOT_ENVELOPE = "not_envelope"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_JOB = "unknown_job"
    INVALID_ARGUMENTS = "invalid_arguments"
    #: Past its expires_at: the worker would drop it unrun.
    EXPIRED = "expired"

    @property
    def redrivable(self) -> bool:
        return self in (Verdict.VALID, Verdict.PERIODIC)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One decoded dead letter; ``arguments`` has sensitive fields redacted."""

    message_id: str
    dead_letter_queue: str
    source_queue: str | None
    verdict: Verdict
    reason: str | None
    job_name: str | None
    job_id: str | None
    signature_valid: bool
    arguments: Mapping[str, Any] | None = field(repr=False)
    argument_errors: Mapping[str, Any]
    sent_at: datetime | None
    receive_count: int
    attributes: Mapping[str, str]
    body: str = field(repr=False)
    envelope: Envelope | None = field(repr=False, compare=False)

    @property
    def redrivable(self) -> bool:
        return self.verdict.redrivable


@dataclass(frozen=True, slots=True)
class _Facts:
    verdict: Verdict
    reason: str | None = None
    job_name: str | None = None
    envelope: Envelope | None = None
    definition: JobDefinition | None = None
    argument_errors: Mapping[str, Any] = field(default_factory=dict)


def decode(runtime: Runtime, queue: DeadLetterQueue, received: Received) -> DeadLetter:
    """Decode one received message and judge it against the running code."""
    attributes = received.text_attributes
    signature_valid = runtime.signer.verify(
        received.body.encode(), attributes.get(SIGNATURE_ATTRIBUTE, "")
    )
    if received.body == PERIODIC_BODY and PERIODIC_TASK_ATTRIBUTE in attributes:
        facts = _periodic(runtime, attributes[PERIODIC_TASK_ATTRIBUTE])
    else:
        facts = _job(runtime, received.body, signature_valid)
    envelope, definition = facts.envelope, facts.definition
    arguments: Mapping[str, Any] | None = None
    if envelope is not None:
        # Redacted whenever the job is known, signed or not: a message signed with a retired
        # secret still carries real passwords.
        known = definition or _registered(runtime, envelope.name)
        arguments = known.redacted(envelope.arguments) if known else dict(envelope.arguments)
    return DeadLetter(
        message_id=received.message_id,
        dead_letter_queue=queue.name,
        source_queue=_source_queue(runtime, queue, received, envelope),
        verdict=facts.verdict,
        reason=facts.reason,
        job_name=facts.job_name,
        job_id=envelope.job_id if envelope else None,
        signature_valid=signature_valid,
        arguments=arguments,
        argument_errors=facts.argument_errors,
        sent_at=received.sent_at,
        receive_count=received.receive_count,
        attributes=attributes,
        body=received.body,
        envelope=envelope,
    )


def recordable_body(letter: DeadLetter) -> str:
    """The body to keep in a record: an envelope's sensitive arguments redacted."""
    envelope = letter.envelope
    if envelope is None or letter.arguments is None:
        return letter.body
    return encode_json({**envelope.to_dict(), "args": dict(letter.arguments)}).decode()


def _registered(runtime: Runtime, name: str) -> JobDefinition | None:
    try:
        return runtime.jobs.get(name)
    except UnknownJobError:
        return None


def _job(runtime: Runtime, body: str, signature_valid: bool) -> _Facts:
    try:
        envelope = Envelope.from_json(body.encode())
    except EnvelopeError as error:
        return _Facts(Verdict.NOT_ENVELOPE, str(error))
    name = envelope.name
    if not signature_valid:
        reason = "the signature does not match any configured secret (forged, or old secret)"
        return _Facts(Verdict.BAD_SIGNATURE, reason, name, envelope)
    try:
        definition = runtime.jobs.get(name)
    except UnknownJobError as error:
        return _Facts(Verdict.UNKNOWN_JOB, str(error), name, envelope)
    try:
        definition.load(envelope.arguments)
    except InvalidJobArguments as error:
        return _Facts(
            Verdict.INVALID_ARGUMENTS, str(error), name, envelope, definition, error.errors
        )
    if datetime.now(UTC) >= envelope.expires_at:
        reason = f"expired at {envelope.expires_at.isoformat()}; the worker would drop it unrun"
        return _Facts(Verdict.EXPIRED, reason, name, envelope, definition)
    return _Facts(Verdict.VALID, None, name, envelope, definition)


def _periodic(runtime: Runtime, task: str) -> _Facts:
    try:
        definition = runtime.jobs.get(task)
    except UnknownJobError as error:
        return _Facts(Verdict.UNKNOWN_JOB, str(error), task)
    if not definition.periodic:
        reason = f"job {task!r} is not declared periodic, so a periodic task cannot start it"
        return _Facts(Verdict.UNKNOWN_JOB, reason, task, definition=definition)
    return _Facts(Verdict.PERIODIC, None, task, definition=definition)


def _source_queue(
    runtime: Runtime, queue: DeadLetterQueue, received: Received, envelope: Envelope | None
) -> str | None:
    """Which queue the message died in: SQS's own note, else the envelope's, else the only one.

    The envelope's queue counts only if it is one of the dead-letter queue's sources.
    """
    source_arn = received.system_attributes.get(SOURCE_ARN_ATTRIBUTE)
    if source_arn:
        return source_arn.rsplit(":", 1)[-1]
    if envelope is not None:
        name = runtime.settings.sqs_queue_name(envelope.queue)
        if queue.source(name) is not None:
            return name
    if len(queue.sources) == 1:
        return queue.sources[0].name
    return None
