"""What a running job knows about itself: ``ctx``, the first argument of every job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyramid.registry import Registry
    from pyramid.request import Request


@dataclass(frozen=True, slots=True)
class JobContext:
    """One execution of one job.

    ``attempt`` is the daemon's receive count: 1 on the first delivery, higher on
    retries. ``scheduled_at`` is set for periodic tasks only. ``request`` is the
    daemon's request, so ``ctx.request.elasticjobs.enqueue(...)`` chains jobs and
    ``ctx.request.dbsession`` (or the like) reaches the app's services.
    """

    job_id: str
    name: str
    queue: str
    attempt: int
    message_id: str | None
    enqueued_at: datetime | None
    first_received_at: datetime | None
    scheduled_at: datetime | None
    request: Request
    registry: Registry
