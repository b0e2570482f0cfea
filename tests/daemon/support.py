"""Helpers of the daemon tests: waiting, a recording app, SQS shortcuts, and real-socket faults.

Fixtures live in conftest.py; test modules import helpers from here, never from conftest.
Every server here listens on 127.0.0.1 only.
"""

from __future__ import annotations

import io
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from webtest.http import StopableWSGIServer  # type: ignore[import-untyped]  # no hints

#: Longest a test waits for something to happen before it fails.
PATIENCE = 15.0


def wait_until(condition: Callable[[], Any], timeout: float = PATIENCE, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy; fail the test (or return it falsy) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            assert result or not what, f"timed out after {timeout}s waiting for {what}"
            return result
        time.sleep(0.01)


# -- the application side ----------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One request as the application saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


class RecordingApp:
    """Records each request and answers with ``status`` (an int, or a function of the request).

    While ``gate`` is clear, requests wait for it (at most PATIENCE seconds), so a
    test can hold requests in flight; ``max_active`` is the peak of concurrent requests.
    """

    def __init__(self) -> None:
        self.status: int | Callable[[Recorded], int] = 200
        self.requests: list[Recorded] = []
        self.gate = threading.Event()
        self.gate.set()
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        recorded = Recorded(
            method=environ["REQUEST_METHOD"],
            path=environ["PATH_INFO"],
            headers=_headers(environ),
            body=environ["wsgi.input"].read(length),
            at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(recorded)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.gate.wait(PATIENCE)
            status = self.status(recorded) if callable(self.status) else self.status
        finally:
            with self._lock:
                self.active -= 1
        start_response(f"{status} Status", [("Content-Length", "0")])
        return []

    def wait_for_requests(self, count: int) -> list[Recorded]:
        wait_until(lambda: len(self.requests) >= count, what=f"{count} request(s) to the app")
        return list(self.requests)


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").title(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").title()] = environ[key]
    return headers


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve a WSGI app with waitress on a free loopback port; give its URL."""
    server = StopableWSGIServer(app, host="127.0.0.1", port=0, threads=8, channel_timeout=60)
    # Not joined on the way out: its select loop notices the shutdown within half a
    # second on its own, and waiting for that cost every test half a second.
    threading.Thread(target=server.run, name="waitress", daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.shutdown()


# -- SQS shortcuts -----------------------------------------------------------------------


def send(sqs: Any, queue_url: str, body: str = "{}", **attributes: Any) -> str:
    """Send one message; ``attributes`` maps names to str (String), int (Number) or bytes."""
    message_attributes = {name: _attribute(value) for name, value in attributes.items()}
    message_id: str = sqs.send_message(
        QueueUrl=queue_url, MessageBody=body, MessageAttributes=message_attributes
    )["MessageId"]
    return message_id


def _attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):
        return {"DataType": "Binary", "BinaryValue": value}
    if isinstance(value, int):
        return {"DataType": "Number", "StringValue": str(value)}
    return {"DataType": "String", "StringValue": value}


def receive_all(sqs: Any, queue_url: str, count: int) -> list[dict[str, Any]]:
    """Receive messages (hiding them for a minute) until ``count`` came or PATIENCE ran out."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + PATIENCE
    while len(received) < count and time.monotonic() < deadline:
        received += sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
    return received


def queue_counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- a scripted HTTP peer ----------------------------------------------------------------

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#: A scripted reply that never comes (until the server stops).
SILENCE = b""


@dataclass(frozen=True)
class Closing:
    """A scripted reply after which the server closes the connection without saying so."""

    reply: bytes


#: What the server does with the next request: answer (bytes), answer then close
#: (Closing), or read it and close without answering (None).
Reply = bytes | Closing | None


class ScriptedServer(socketserver.ThreadingTCPServer):
    """Answers each request with the next scripted reply; out of replies, it closes.

    ``requests`` holds each request as received (head and body); ``closed`` counts
    the connections the server has finished with.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, replies: list[Reply]) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.replies = replies
        self.connections = 0
        self.closed = 0
        self.requests: list[bytes] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self.lock:
            self.closed += 1  # counted once the socket is really closed

    def next_reply(self) -> Reply:
        with self.lock:
            return self.replies.pop(0) if self.replies else None

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [request.split(b"\r\n\r\n", 1)[1] for request in self.requests]

    def header_values(self, name: bytes) -> list[bytes]:
        """The value of one header in each request, in order (b"" where it is missing)."""
        prefix = name.lower() + b": "
        with self.lock:
            heads = [request.split(b"\r\n\r\n", 1)[0].split(b"\r\n") for request in self.requests]
        return [
            next((line[len(prefix) :] for line in head if line.lower().startswith(prefix)), b"")
            for head in heads
        ]


class _ScriptedHandler(socketserver.StreamRequestHandler):
    server: ScriptedServer

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
        self._serve_requests()

    def _serve_requests(self) -> None:
        while (request := _read_request(self.rfile)) is not None:
            with self.server.lock:
                self.server.requests.append(request)
            reply = self.server.next_reply()
            if reply is None:
                return
            if isinstance(reply, Closing):
                self.wfile.write(reply.reply)
                return
            if reply == SILENCE:
                self.server.stopped.wait()
                return
            self.wfile.write(reply)
            if reply.endswith(b"\r\n\r\nbye"):  # a body framed by closing the connection
                return

    def finish(self) -> None:
        with suppress(OSError):  # the client may have gone already
            super().finish()


def _read_request(reader: io.BufferedIOBase) -> bytes | None:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline()
        if not line:
            return None
        head += line
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + reader.read(length)


def start_scripted_server(replies: list[Reply]) -> ScriptedServer:
    server = ScriptedServer(replies)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def stop_scripted_server(server: ScriptedServer) -> None:
    server.stopped.set()
    server.shutdown()
    server.server_close()


# -- a TCP proxy that can cut SQS off ----------------------------------------------------


class FaultyProxy:
    """A TCP proxy on 127.0.0.1 in front of a real server, which a test can break.

    Modes: ``pass`` forwards both ways; ``reset`` accepts and closes at once (SQS
    unreachable); ``hang`` accepts and never answers (SQS stalled). Changing the
    mode cuts every open connection, so pooled keep-alive connections obey it too.
    """

    def __init__(self, upstream_url: str) -> None:
        host, _, port = upstream_url.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.mode = "pass"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._acceptor = threading.Thread(target=self._accept_loop, name="proxy", daemon=True)
        self._acceptor.start()

    def set_mode(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            sockets, self._open = self._open, []
        for sock in sockets:
            _cut(sock)

    def close(self) -> None:
        self._closed.set()
        self.set_mode("reset")
        self._acceptor.join(PATIENCE)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                mode = self.mode
                if mode != "reset":
                    self._open.append(client)
            if mode == "reset":
                _cut(client)
            elif mode == "pass":
                self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=PATIENCE)
        except OSError:
            _cut(client)
            return
        upstream.settimeout(None)
        client.settimeout(None)
        with self._lock:
            self._open.append(upstream)
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    _cut(source)
    _cut(target)


def _cut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv on it
    sock.close()
