"""One keep-alive HTTP/1.1 connection from a delivery thread to the application.

The daemon only needs the status of each answer, so this is a deliberately small
client: the request goes out in one piece (head and body in one segment), and
the answer is read for its status, then just enough to find its end. It costs a quarter of the
CPU of ``http.client`` per request, which matters when the daemon, the app and
SQS share two cores.
"""

from __future__ import annotations

import http.client
import io
import re
import select
import socket
from collections.abc import Mapping

#: Longest status or header line accepted from the application.
MAX_LINE = 65536
#: Longest answer body read to keep a connection; past it, the connection is closed.
MAX_SKIPPED_BODY = 1_048_576
_NO_BODY = frozenset({204, 304})
#: A request target we can send as is: printable ASCII without spaces.
_PATH = re.compile(r"/[!-~]*")


class WorkerUnreachable(Exception):
    """The application did not accept a connection (refused, or no connect within the timeout)."""


class WorkerConnection:
    """POSTs over one connection, re-opened when the app closes it.

    The connect timeout bounds connecting; the inactivity timeout then bounds each
    wait for the app (it is the socket timeout), so a slow job raises TimeoutError
    but a failed connect raises WorkerUnreachable, which the daemon retries sooner.
    """

    def __init__(
        self, host: str, port: int, connect_timeout: float, inactivity_timeout: float
    ) -> None:
        self.address = (host, port)
        self.connect_timeout = connect_timeout
        self.inactivity_timeout = inactivity_timeout
        host_name = f"[{host}]" if ":" in host else host  # IPv6 literal
        self._host_header = f"Host: {host_name}:{port}".encode()
        self._socket: socket.socket | None = None
        self._reader: io.BufferedReader | None = None

    def post(self, path: str, body: bytes, headers: Mapping[str, bytes]) -> int:
        """POST and return the status; read the rest of the answer only to reuse the socket.

        The status alone decides: a 200 whose body or headers are broken (truncated,
        a negative or absurd Content-Length) is still a 200; the socket is then closed.
        Raises TimeoutError when the app stays silent longer than the inactivity
        timeout, WorkerUnreachable, OSError / HTTPException when no status came back,
        or ValueError for a path that cannot be sent.

        The request is sent at most once: once a byte of it may have reached the app,
        a dropped connection is an error, never a retry, since the job may be running.
        """
        if not _PATH.fullmatch(path):
            # A periodic task's path comes from a message: it must not smuggle a header in.
            raise ValueError(f"cannot POST to {path!r}: not a plain URL path")
        head = [f"POST {path} HTTP/1.1".encode(), self._host_header]
        head.append(b"Content-Length: %d" % len(body))
        head += [name.encode() + b": " + value for name, value in headers.items()]
        request = b"\r\n".join(head) + b"\r\n\r\n" + body
        if self._socket is not None and _is_stale(self._socket):
            self.close()  # the app closed it while idle: nothing was sent on it
        try:
            return self._exchange(request)
        except _StaleConnection:
            # It died before taking a single byte (a close that raced the check above).
            return self._exchange(request)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket = self._reader = None

    def _exchange(self, request: bytes) -> int:
        reused = self._socket is not None
        try:
            sock, reader = self._connected()
            _send(sock, request, reused)
            status, keep_alive = _read_response(reader)
        except BaseException:
            self.close()  # the exchange's state is unknown: never reuse this socket
            raise
        if not keep_alive:
            self.close()
        return status

    def _connected(self) -> tuple[socket.socket, io.BufferedReader]:
        if self._socket is None or self._reader is None:
            try:
                sock = socket.create_connection(self.address, timeout=self.connect_timeout)
            except OSError as error:
                raise WorkerUnreachable(
                    f"cannot connect to {self.address[0]}:{self.address[1]}: "
                    f"{error.strerror or error}"
                ) from error
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.inactivity_timeout)
            self._socket, self._reader = sock, sock.makefile("rb")
        return self._socket, self._reader


class _StaleConnection(Exception):
    """A reused connection failed before any byte of the request was written to it."""


def _is_stale(sock: socket.socket) -> bool:
    """True if an idle keep-alive socket has something to read: EOF, a reset, or stray bytes.

    An idle connection has nothing to say until it is asked, so any of these means
    the app (or a proxy) gave up on it.
    """
    try:
        if _poll is None:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable)
        poller = _poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


_poll = getattr(select, "poll", None)  # not on Windows


def _send(sock: socket.socket, request: bytes, reused: bool) -> None:
    """sendall, telling a reused socket that took nothing apart from a broken exchange."""
    view = memoryview(request)
    sent = 0
    while sent < len(view):
        try:
            sent += sock.send(view[sent:])
        except (ConnectionResetError, BrokenPipeError) as error:
            if reused and sent == 0:
                raise _StaleConnection from error
            raise


def _read_response(reader: io.BufferedReader) -> tuple[int, bool]:
    """Read one response (skipping 1xx ones); return its status and whether to keep the socket.

    Once the final status line is read, nothing after it can change the outcome: a
    broken rest only means the socket cannot be reused.
    """
    while True:
        status, version = _status_line(reader)
        if status >= 200:
            break
        _fields(reader)  # an interim response: headers, then the real one
    try:
        return status, _read_rest(reader, status, version)
    except (OSError, http.client.HTTPException, ValueError):
        return status, False


def _status_line(reader: io.BufferedReader) -> tuple[int, bytes]:
    line = _line(reader)
    if not line:
        raise http.client.RemoteDisconnected("the application closed the connection")
    version, _, rest = line.partition(b" ")
    if not version.startswith(b"HTTP/1.") or not rest[:3].isdigit():
        raise http.client.BadStatusLine(repr(line))
    return int(rest[:3]), version


def _read_rest(reader: io.BufferedReader, status: int, version: bytes) -> bool:
    """Read headers and body; return whether the connection can carry another request."""
    fields = _fields(reader)
    connection = fields.get(b"connection", b"").lower()
    if version == b"HTTP/1.0":
        keep_alive = connection == b"keep-alive"
    else:
        keep_alive = b"close" not in connection
    if status in _NO_BODY:
        return keep_alive
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        _skip_chunks(reader)
        return keep_alive
    if b"content-length" in fields:
        length = fields[b"content-length"]
        # Reading a body this large only to reuse the socket costs more than a new socket.
        if not length.isdigit() or int(length) > MAX_SKIPPED_BODY:
            return False
        _skip(reader, int(length))
        return keep_alive
    return False  # the body ends when the app closes: not worth reading


def _line(reader: io.BufferedReader) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise http.client.LineTooLong("response line")
    return line


def _fields(reader: io.BufferedReader) -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = {}
    while (line := _line(reader)) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    return fields


def _skip(reader: io.BufferedReader, length: int) -> None:
    if len(reader.read(length)) != length:
        raise http.client.IncompleteRead(b"", length)


def _skip_chunks(reader: io.BufferedReader) -> None:
    skipped = 0
    while True:
        size_line = _line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise http.client.IncompleteRead(size_line) from None
        if size == 0:
            _fields(reader)  # trailers, up to the blank line
            return
        skipped += size
        if skipped > MAX_SKIPPED_BODY:
            raise http.client.IncompleteRead(b"", size)  # not worth reading: close instead
        _skip(reader, size + 2)  # the chunk and its CRLF
