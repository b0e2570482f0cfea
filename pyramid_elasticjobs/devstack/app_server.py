"""waitress serving the application from a background thread, stoppable from any thread."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import waitress

from pyramid_elasticjobs.exceptions import ConfigurationError

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication


class AppServer:
    """The application on ``host:port`` (0 = any free port), with ``threads`` workers."""

    def __init__(self, app: WSGIApplication, host: str, port: int, threads: int) -> None:
        # Our own socket map, so stop() knows every connection waitress opened.
        self._map: dict[int, Any] = {}
        try:
            self._server = waitress.create_server(
                app, map=self._map, host=host, port=port, threads=threads
            )
        except OSError as error:
            raise ConfigurationError(
                f"cannot serve the application on {host}:{port}: {error.strerror or error}; "
                "choose another port (--port), or 0 for any free one"
            ) from None
        self.url = f"http://{host}:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, name="devstack-waitress")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection, then wait for the worker threads."""

        def close_all() -> None:
            self._server.close()  # the listening socket and its trigger
            for channel in list(self._map.values()):
                channel.handle_close()

        if self._thread.is_alive():
            # Run on the server's own thread: asyncore objects are not thread-safe.
            self._server.trigger.pull_trigger(close_all)
            self._thread.join(timeout)
        else:
            close_all()
        self._server.task_dispatcher.shutdown(timeout=timeout)
