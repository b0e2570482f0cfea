"""What the daemon has done so far, counted from many threads and read as a snapshot."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DaemonStats:
    """Counts since start.

    ``delivered`` counts finished POSTs whatever their outcome:
    ``succeeded`` (exactly 200) + ``failed`` (another status, or the app unreachable)
    + ``timed_out`` (no answer within the inactivity timeout). ``deleted`` counts
    deletions SQS confirmed; ``released`` counts messages handed back unprocessed
    on stop; ``receiving`` is the number of ReceiveMessage calls in progress.
    """

    received: int = 0
    delivered: int = 0
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    in_flight: int = 0
    periodic_sent: int = 0
    deleted: int = 0
    released: int = 0
    receiving: int = 0


_FIELDS = tuple(field.name for field in dataclasses.fields(DaemonStats))


class Counters:
    """The thread-safe counts behind :class:`DaemonStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(_FIELDS, 0)

    def add(self, **changes: int) -> None:
        with self._lock:
            for name, change in changes.items():
                self._values[name] += change

    def snapshot(self) -> DaemonStats:
        with self._lock:
            return DaemonStats(**self._values)
