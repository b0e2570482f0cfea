"""The audit log listens to the core's job events, and to nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs import events
from pyramid_elasticjobs.exceptions import UnknownJobError
from pyramid_elasticjobs.runtime import get_runtime

from .models import JobState, Outcome
from .store import AttemptFacts, AuditStore, JobFacts, get_audit_store

if TYPE_CHECKING:
    from pyramid.config import Configurator
    from pyramid.registry import Registry

    from pyramid_elasticjobs.envelope import Envelope


class AuditRecorder:
    """Turns each job event into one write of the store (found in the registry at commit)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @property
    def store(self) -> AuditStore:
        return get_audit_store(self.registry)

    def subscribe(self, config: Configurator) -> None:
        for event_type, record in (
            (events.JobEnqueued, self.enqueued),
            (events.JobStarted, self.started),
            (events.JobSucceeded, self.succeeded),
            (events.JobFailed, self.failed),
            (events.JobDiscarded, self.discarded),
            (events.JobRejected, self.rejected),
            (events.JobDuplicate, self.duplicate),
            (events.JobRescheduled, self.rescheduled),
        ):
            config.add_subscriber(record, event_type)

    def enqueued(self, event: events.JobEnqueued) -> None:
        self.store.job_enqueued(self._facts(event.envelope, event.message_id))

    def started(self, event: events.JobStarted) -> None:
        self.store.attempt_started(self._facts(event.envelope, _message_id(event)))

    def succeeded(self, event: events.JobSucceeded) -> None:
        delivery = event.delivery
        periodic = None
        if delivery is not None and delivery.task_name and delivery.scheduled_at:
            periodic = (delivery.task_name, delivery.scheduled_at)
        self._ended(event, Outcome.SUCCEEDED, 200, JobState.SUCCEEDED, event.duration, periodic)

    def failed(self, event: events.JobFailed) -> None:
        state = JobState.DEAD if event.last_attempt else JobState.FAILED
        self._ended(event, Outcome.FAILED, 500, state, event.duration, error=event.exception)

    def discarded(self, event: events.JobDiscarded) -> None:
        self._ended(
            event, Outcome.DISCARDED, 200, JobState.DISCARDED, event.duration, error=event.exception
        )

    def rejected(self, event: events.JobRejected) -> None:
        self._ended(
            event, Outcome.REJECTED, event.status, JobState.REJECTED, None, reason=event.reason
        )

    def duplicate(self, event: events.JobDuplicate) -> None:
        # A unique job's id already succeeded; a periodic task's copy has an id of its own,
        # and was not run because another copy was.
        periodic = event.delivery is not None and event.delivery.task_name
        state = JobState.DISCARDED if periodic else JobState.SUCCEEDED
        self._ended(event, Outcome.DUPLICATE, 200, state, None)

    def rescheduled(self, event: events.JobRescheduled) -> None:
        self.store.job_rescheduled(self._facts(event.envelope, event.message_id))

    def _ended(
        self,
        event: events.JobEvent,
        outcome: Outcome,
        status: int,
        state: JobState,
        duration: float | None,
        periodic: tuple[str, datetime] | None = None,
        *,
        error: BaseException | None = None,
        reason: str | None = None,
    ) -> None:
        finished = datetime.now(UTC)
        started = finished - timedelta(seconds=duration) if duration is not None else finished
        receive_count = event.delivery.receive_count if event.delivery is not None else 1
        attempt = AttemptFacts(
            receive_count, started, finished, duration, outcome, status, error, reason
        )
        facts = self._facts(event.envelope, _message_id(event))
        self.store.attempt_ended(facts, attempt, state, periodic)

    def _facts(self, envelope: Envelope, message_id: str | None) -> JobFacts:
        return JobFacts(
            job_id=envelope.job_id,
            name=envelope.name,
            queue=envelope.queue,
            arguments=self._redacted(envelope.name, envelope.arguments),
            enqueued_at=envelope.enqueued_at,
            run_at=envelope.run_at,
            message_id=message_id,
        )

    def _redacted(self, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        try:
            definition = get_runtime(self.registry).jobs.get(name)
        except UnknownJobError:
            return None  # a job this app does not know: which fields are sensitive is unknown
        return definition.redacted(arguments)


def _message_id(event: events.JobEvent) -> str | None:
    return event.delivery.message_id if event.delivery is not None else None
