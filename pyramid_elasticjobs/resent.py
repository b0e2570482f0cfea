"""Which early messages this process has re-sent, so that a replayed copy is not re-sent again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from .defaults import RESENT_MEMORY


class ResentMemory:
    """A bounded, thread-safe set of claims; the oldest are forgotten first.

    It is per process: across instances a replayed copy can still be re-sent once per
    process, and ``@job(unique=True)`` with the audit log keeps such copies from running.
    """

    def __init__(self, capacity: int = RESENT_MEMORY) -> None:
        self._capacity = capacity
        self._claims: OrderedDict[Hashable, None] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: Hashable) -> bool:
        """True for the first claim of ``key``; False while it is claimed (a copy)."""
        with self._lock:
            if key in self._claims:
                return False
            self._claims[key] = None
            if len(self._claims) > self._capacity:
                self._claims.popitem(last=False)
            return True

    def release(self, key: Hashable) -> None:
        """Forget a claim whose re-send failed, so that the daemon's retry may re-send it."""
        with self._lock:
            self._claims.pop(key, None)
