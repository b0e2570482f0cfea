"""What the worker may ask of a record of past runs (the audit log provides one).

The core only knows this protocol: ``config.include("pyramid_elasticjobs.audit")``
registers an implementation, and without one nothing is deduplicated.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pyramid.registry import Registry

LEDGER_KEY = "elasticjobs.ledger"


class Ledger(Protocol):
    """Answers the two questions that turn at-least-once delivery into once in effect."""

    def has_succeeded(self, job_id: str) -> bool:
        """True if a job with this id has already succeeded."""

    def periodic_run_succeeded(self, task: str, scheduled_at: datetime) -> bool:
        """True if the periodic task ``task`` already succeeded for ``scheduled_at``."""


def get_ledger(registry: Registry) -> Ledger | None:
    ledger: Ledger | None = registry.get(LEDGER_KEY)
    return ledger
