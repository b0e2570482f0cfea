"""Graceful stops for long-running commands: the first SIGINT/SIGTERM asks, a second insists."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

#: How often the main thread wakes to run signal handlers that another thread received.
SIGNAL_POLL_SECONDS = 0.2


def run_until_signalled(command: str, serve: Callable[[threading.Event], int]) -> int:
    """Call ``serve(stop_requested)``; SIGINT/SIGTERM set the event, a second one exits (1).

    The handlers are installed before ``serve`` starts anything, so a signal during
    start-up still stops gracefully; the previous handlers are restored afterwards.
    """
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop_requested.is_set():
            exit_now(command)
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


def wait_for_stop(stop_requested: threading.Event) -> None:
    """Block the main thread until a stop is requested, in short waits.

    A signal can be delivered to any thread; Python runs its handler in the main thread,
    and only once that thread runs again. One endless ``Event.wait()`` may then never
    return (seen: a Ctrl-C ignored for good, one run in fifty under load).
    """
    while not stop_requested.wait(SIGNAL_POLL_SECONDS):
        pass


def exit_now(command: str) -> None:
    """End the process with status 1 at once, whatever its threads are doing.

    Not ``SystemExit``: that only unwinds the main thread, and the interpreter then
    waits for every other non-daemon thread (waitress, a job still running), keeping
    the ports open. Requests still running keep their messages until the visibility
    timeout.
    """
    # A closed or broken stream must not stop the exit: nothing more to save there.
    with contextlib.suppress(OSError, ValueError):
        print(f"elasticjobs {command}: exiting at once (second signal)", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(1)
