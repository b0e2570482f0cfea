"""Lifecycle events: the only way the core tells the world what happened to a job.

They are ordinary Pyramid events (``config.add_subscriber(fn, JobFailed)``;
subscribe to :class:`JobEvent` for all of them). The audit log and the dashboard
are built on these alone. A subscriber that raises is logged and ignored: it
never changes a job's outcome or the status code the daemon sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zope.interface import providedBy

if TYPE_CHECKING:
    from pyramid.registry import Registry

    from .envelope import Envelope
    from .protocol import Delivery

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobEvent:
    """Base of every job event. ``delivery`` is None on the enqueue side."""

    envelope: Envelope
    registry: Registry
    delivery: Delivery | None


@dataclass(frozen=True, slots=True)
class JobEnqueued(JobEvent):
    """SQS confirmed the message (MD5 checked). ``message_id`` is SQS's id."""

    message_id: str
    queue_url: str


@dataclass(frozen=True, slots=True)
class JobStarted(JobEvent):
    """A worker is about to run the job."""


@dataclass(frozen=True, slots=True)
class JobSucceeded(JobEvent):
    """The job returned (under pyramid_tm: and its transaction committed); answered 200."""

    duration: float


@dataclass(frozen=True, slots=True)
class JobFailed(JobEvent):
    """The job raised, or its transaction failed to commit: the daemon will retry it."""

    exception: BaseException
    duration: float
    #: The receive count reached the queue's maxReceiveCount: SQS moves the message to the
    #: dead-letter queue instead of delivering it again.
    last_attempt: bool = False


@dataclass(frozen=True, slots=True)
class JobDiscarded(JobEvent):
    """The job raised one of its ``discard_on`` exceptions; answered 200, never retried.

    Under pyramid_tm it is announced once the job's transaction has been aborted.
    """

    exception: BaseException
    duration: float


@dataclass(frozen=True, slots=True)
class JobRejected(JobEvent):
    """A trusted, signed message could not run (unknown job, invalid arguments...): 4xx."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class JobDuplicate(JobEvent):
    """A delivery of a ``unique`` job that already succeeded, or of a periodic task already run
    for its scheduled time: answered 200 and not run."""


@dataclass(frozen=True, slots=True)
class JobRescheduled(JobEvent):
    """A message arrived before its ``run_at`` and was re-sent with the remaining delay."""

    message_id: str
    delay_seconds: int


def notify(registry: Registry, event: JobEvent) -> None:
    """Call each subscriber of ``event`` in turn, logging (not raising) their errors."""
    if not getattr(registry, "has_listeners", False):
        return
    for subscriber in registry.adapters.subscriptions((providedBy(event),), None):
        try:
            subscriber(event)
        except Exception:
            log.exception(
                "subscriber %r failed on %s for job %s (%s); the job's outcome is unchanged",
                subscriber,
                type(event).__name__,
                event.envelope.name,
                event.envelope.job_id,
            )
