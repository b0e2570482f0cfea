"""Write-behind for job events: a background thread writes them in batches.

One transaction per job event (two per job) costs the job's own thread two round trips to
the database, and on a busy worker the database's CPU. Batching the events of many jobs
into one transaction of a few multi-row statements costs a fraction of that, and keeps the
database off the job's path altogether. Records reach the database within
``interval`` seconds; reads call :meth:`WriteBehind.flush` first, so they see every event
recorded before them.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: How long the writer waits for more events before writing a batch.
DEFAULT_INTERVAL = 0.05
#: Events written in one transaction at most.
DEFAULT_MAX_BATCH = 1_000
#: How long a flush (and the exit of the process) waits for the writer.
FLUSH_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Write:
    """One statement's row: ``key`` orders and groups rows of one job within a batch."""

    statement: Any
    rank: int  # rows of lower rank are written first (enqueue before start before end)
    job_id: str
    params: dict[str, Any]


@dataclass(slots=True)
class _State:
    """What belongs to one process (a fork starts afresh, without the parent's thread)."""

    pid: int = field(default_factory=os.getpid)
    pending: list[list[Write]] = field(default_factory=list)
    busy: bool = False
    hurry: bool = False
    thread: threading.Thread | None = None


class WriteBehind:
    """Collects groups of writes (one per event) and hands them to ``write_batch`` in batches.

    ``write_batch`` runs on the writer thread and must not raise (the store's guard
    catches database errors); ``accepting`` says whether to keep new events at all (the
    store refuses them while recording is paused after a failure).
    """

    def __init__(
        self,
        write_batch: Callable[[Sequence[Write]], None],
        *,
        interval: float = DEFAULT_INTERVAL,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self._write_batch = write_batch
        self._interval = interval
        self._max_batch = max_batch
        self._condition = threading.Condition()
        self._state = _State()
        _LIVE.add(self)

    def submit(self, writes: list[Write]) -> None:
        with self._condition:
            state = self._current()
            state.pending.append(writes)
            if state.thread is None:
                state.thread = threading.Thread(
                    target=self._run, name="elasticjobs-audit-writer", daemon=True
                )
                state.thread.start()
            self._condition.notify_all()

    def flush(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Return once every event submitted before the call is written (or failed)."""
        deadline = time.monotonic() + timeout
        with self._condition:
            state = self._current()
            while state.pending or state.busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or state.thread is None:
                    log.warning("the audit log's writer did not finish in %.0fs", timeout)
                    return
                state.hurry = True
                self._condition.notify_all()
                self._condition.wait(remaining)

    def _current(self) -> _State:
        if self._state.pid != os.getpid():  # forked: the parent's thread did not come along
            self._state = _State()
        return self._state

    def _run(self) -> None:
        state = self._state
        while True:
            with self._condition:
                while not state.pending:
                    self._condition.wait()
                # Linger for more events, unless someone waits or the batch is full.
                deadline = time.monotonic() + self._interval
                while not state.hurry and len(state.pending) < self._max_batch:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                groups = state.pending[: self._max_batch]
                del state.pending[: self._max_batch]
                state.busy, state.hurry = True, False
            try:
                self._write_batch([write for group in groups for write in group])
            except Exception:  # the guard catches database errors; anything else is a bug
                log.exception("the audit log's writer failed on %d event(s)", len(groups))
            finally:
                with self._condition:
                    state.busy = False
                    self._condition.notify_all()


def batches(writes: Sequence[Write]) -> list[list[Write]]:
    """``writes`` split where a job's row would be written before an earlier one of the same
    job (a second attempt started after the first ended), each part sorted by rank."""
    parts: list[list[Write]] = [[]]
    highest: dict[str, int] = {}
    for write in writes:
        if highest.get(write.job_id, -1) > write.rank:
            parts.append([])
            highest = {}
        parts[-1].append(write)
        highest[write.job_id] = max(highest.get(write.job_id, -1), write.rank)
    return [sorted(part, key=lambda write: write.rank) for part in parts if part]


_LIVE: weakref.WeakSet[WriteBehind] = weakref.WeakSet()


def flush_all(timeout: float = FLUSH_TIMEOUT) -> None:
    """Write what every audit log of this process still holds (at exit; before a script reads
    the database through an engine of its own)."""
    for writer in list(_LIVE):
        writer.flush(timeout=timeout)


# Records of the last jobs before a worker stops still reach the database.
atexit.register(flush_all)
