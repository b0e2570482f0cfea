"""Where dead-letter snapshots and operators' actions are recorded.

The audit log's ``AuditStore`` satisfies :class:`Recorder`; this package never imports
it, so the service works (recording nothing) in an app without the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol


class Action(StrEnum):
    """The names of recorded actions (at most 16 characters: the audit log's column)."""

    REDRIVEN = "redriven"
    DELETED = "deleted"
    PURGED = "purged"
    EDITED = "edited"
    MOVE_STARTED = "move_started"
    MOVE_CANCELLED = "move_cancelled"


class Recorder(Protocol):
    """Receives what the service saw in dead-letter queues and what operators did."""

    def dead_letter_seen(
        self,
        *,
        dead_letter_queue: str,
        message_id: str,
        source_queue: str | None,
        job_id: str | None,
        body: str,
        attributes: Mapping[str, Any],
        receive_count: int,
    ) -> None: ...

    def action_taken(
        self,
        *,
        actor: str,
        action: str,
        queue: str | None = None,
        job_id: str | None = None,
        message_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None: ...


class NullRecorder:
    """Records nothing: for apps without the audit log."""

    def dead_letter_seen(
        self,
        *,
        dead_letter_queue: str,
        message_id: str,
        source_queue: str | None,
        job_id: str | None,
        body: str,
        attributes: Mapping[str, Any],
        receive_count: int,
    ) -> None:
        return None

    def action_taken(
        self,
        *,
        actor: str,
        action: str,
        queue: str | None = None,
        job_id: str | None = None,
        message_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        return None
