"""Recent job activity: pyramid_elasticjobs events kept in a small in-memory ring buffer.

Everything the page shows about jobs comes from the library's events, so the demo
doubles as an example of subscribing to them. The buffer lives in the registry (one
per app) and is shared by the web threads that enqueue and the worker threads that run.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs import events
from pyramid_elasticjobs.runtime import get_runtime

if TYPE_CHECKING:
    from pyramid.config import Configurator
    from pyramid.registry import Registry

ACTIVITY_KEY = "elasticjobs_demo.activity"
DEFAULT_SIZE = 50


@dataclass(frozen=True, slots=True)
class Entry:
    """One event as the page shows it."""

    at: datetime
    kind: str
    job: str
    job_id: str
    queue: str
    attempt: int | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


class Activity:
    """The last ``size`` job events, newest first; safe to use from any thread."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, event: events.JobEvent) -> None:
        envelope = event.envelope
        entry = Entry(
            at=datetime.now(UTC),
            kind=type(event).__name__.removeprefix("Job").lower(),
            job=envelope.name,
            job_id=envelope.job_id,
            queue=envelope.queue,
            attempt=event.delivery.receive_count if event.delivery else None,
            detail=describe(event),
        )
        with self._lock:
            self._entries.appendleft(entry)

    def recent(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)


def describe(event: events.JobEvent) -> str:
    """The one-line detail of an event, for the activity table."""
    match event:
        case events.JobEnqueued(message_id=message_id, envelope=envelope):
            due = f", due {envelope.run_at:%H:%M:%S} UTC" if envelope.run_at else ""
            return f"message {message_id}{due}"
        case events.JobSucceeded(duration=duration):
            return f"done in {duration:.2f}s"
        case events.JobFailed(exception=error, delivery=delivery):
            limit = get_runtime(event.registry).settings.max_receive_count
            last = delivery is not None and delivery.receive_count >= limit
            then = "SQS moves it to the dead-letter queue" if last else "the daemon retries it"
            return f"{type(error).__name__}: {error} ({then})"
        case events.JobDiscarded(exception=error):
            return f"{type(error).__name__}: {error} (not retried)"
        case events.JobRejected(status=status, reason=reason):
            return f"HTTP {status}: {reason}"
        case events.JobRescheduled(delay_seconds=delay):
            return f"not due yet: re-sent with a {delay}s delay"
    return ""


def get_activity(registry: Registry) -> Activity:
    activity: Activity = registry[ACTIVITY_KEY]
    return activity


def record_event(event: events.JobEvent) -> None:
    get_activity(event.registry).record(event)


def includeme(config: Configurator) -> None:
    config.registry[ACTIVITY_KEY] = Activity()
    config.add_subscriber(record_event, events.JobEvent)
