"""Idle delivery threads, counted so that a poller never asks SQS for more than they can take."""

from __future__ import annotations

import threading


class Slots:
    """Idle delivery threads, reserved by pollers before they ask SQS for messages."""

    def __init__(self, total: int) -> None:
        self._free = total
        self._closed = False
        self._condition = threading.Condition()

    def take(self, most: int, enough: int = 1, gather: float = 0.0) -> int:
        """Reserve 1..most slots; 0 once closed.

        Blocks until a slot is free, then waits up to ``gather`` seconds for
        ``enough`` of them, so that a busy daemon asks SQS for several messages at
        once instead of one per freed connection.
        """
        with self._condition:
            while not self._closed:
                self._condition.wait_for(lambda: self._free > 0 or self._closed)
                if 0 < self._free < enough and gather > 0:
                    self._condition.wait_for(lambda: self._free >= enough or self._closed, gather)
                # Another poller may have taken the slots while this one gathered.
                if self._free > 0 and not self._closed:
                    taken = min(most, self._free)
                    self._free -= taken
                    return taken
            return 0

    def give(self, count: int) -> None:
        if count:
            with self._condition:
                self._free += count
                self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
