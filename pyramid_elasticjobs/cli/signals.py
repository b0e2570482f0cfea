"""Graceful stops for long-running commands: the first SIGINT/SIGTERM asks, a second insists."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType


def run_until_signalled(command: str, serve: Callable[[threading.Event], int]) -> int:
    """Call ``serve(stop_requested)``; SIGINT/SIGTERM set the event, a second one exits (1).

    The handlers are installed before ``serve`` starts anything, so a signal during
    start-up still stops gracefully; the previous handlers are restored afterwards.
    """
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop_requested.is_set():
            raise SystemExit(1)
        stop_requested.set()
        print(
            f"elasticjobs {command}: stopping gracefully (send the signal again to exit at once)",
            file=sys.stderr,
        )

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return serve(stop_requested)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
