"""waitress serving the application from a background thread, stoppable from any thread."""

from __future__ import annotations

import os
import socket
import threading
from typing import TYPE_CHECKING, Any

import waitress

from pyramid_elasticjobs.exceptions import ConfigurationError

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

#: The fewest threads the stack serves with; more when its daemons open more connections.
MIN_THREADS = 8
#: Threads kept free for the browser beside the daemons' connections.
BROWSER_THREADS = 4
#: The listen backlog of waitress (its default).
BACKLOG = 1024


def bind(host: str, port: int, what: str, fix: str) -> socket.socket:
    """A listening socket on ``host:port``, or a one-line ConfigurationError.

    Bound here rather than by the server library, so that a busy port is reported
    like every other start-up mistake (werkzeug would print and exit on its own).
    """
    try:
        return socket.create_server((host, port), backlog=BACKLOG)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ConfigurationError(f"cannot {what} on {host}:{port}: {reason}; {fix}") from None


class AppServer:
    """The application on ``host:port`` (0 = any free port).

    The port is bound at once, so that the URL is known (and a busy port reported)
    before the application and its thread count are chosen in :meth:`start`.
    """

    def __init__(self, host: str, port: int) -> None:
        self._socket = bind(
            host,
            port,
            "serve the application",
            "choose another port (--port), or 0 for any free one",
        )
        self.url = f"http://{host}:{self._socket.getsockname()[1]}"
        self.threads = 0
        # Our own socket map, so stop() knows every connection waitress opened.
        self._map: dict[int, Any] = {}
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, app: WSGIApplication, threads: int) -> None:
        self.threads = threads
        self._server = waitress.create_server(
            app, map=self._map, sockets=[self._socket], threads=threads
        )
        self._thread = threading.Thread(target=self._server.run, name="devstack-waitress")
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection, then wait for the worker threads."""
        server = self._server
        if server is None:
            self._socket.close()
            return

        def close_all() -> None:
            server.close()  # the listening socket and its trigger
            for channel in list(self._map.values()):
                channel.handle_close()

        if self._thread is not None and self._thread.is_alive():
            # Run on the server's own thread: asyncore objects are not thread-safe.
            server.trigger.pull_trigger(close_all)
            self._thread.join(timeout)
        else:
            close_all()
        server.task_dispatcher.shutdown(timeout=timeout)
        self._socket.close()
