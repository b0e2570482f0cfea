"""One keep-alive HTTP/1.1 connection from a delivery thread to the application.

The daemon only needs the status of each answer, so this is a deliberately small
client: the request goes out in one ``sendall`` (head and body in one segment)
and the answer is read just enough to find its end. It costs a quarter of the
CPU of ``http.client`` per request, which matters when the daemon, the app and
SQS share two cores.
"""

from __future__ import annotations

import http.client
import io
import re
import socket
from collections.abc import Mapping

#: Longest status or header line accepted from the application.
MAX_LINE = 65536
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
        """POST and read the whole answer (so the connection can be reused); return the status.

        Raises TimeoutError when the app stays silent longer than the inactivity
        timeout, WorkerUnreachable, OSError / HTTPException for a broken exchange,
        or ValueError for a path that cannot be sent.
        """
        if not _PATH.fullmatch(path):
            # A periodic task's path comes from a message: it must not smuggle a header in.
            raise ValueError(f"cannot POST to {path!r}: not a plain URL path")
        head = [f"POST {path} HTTP/1.1".encode(), self._host_header]
        head.append(b"Content-Length: %d" % len(body))
        head += [name.encode() + b": " + value for name, value in headers.items()]
        request = b"\r\n".join(head) + b"\r\n\r\n" + body
        reused = self._socket is not None
        try:
            return self._exchange(request)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
        # The app (or a proxy) closed an idle keep-alive connection: one fresh try.
        return self._exchange(request)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket = self._reader = None

    def _exchange(self, request: bytes) -> int:
        try:
            sock, reader = self._connected()
            sock.sendall(request)
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


def _read_response(reader: io.BufferedReader) -> tuple[int, bool]:
    """Read one response (skipping 1xx ones); return its status and whether to keep the socket."""
    while True:
        line = _line(reader)
        if not line:
            raise http.client.RemoteDisconnected("the application closed the connection")
        version, _, rest = line.partition(b" ")
        try:
            status = int(rest[:3])
        except ValueError:
            raise http.client.BadStatusLine(repr(line)) from None
        if not version.startswith(b"HTTP/1."):
            raise http.client.BadStatusLine(repr(line))
        fields = _fields(reader)
        if status >= 200:
            break
    connection = fields.get(b"connection", b"").lower()
    if version == b"HTTP/1.0":
        keep_alive = connection == b"keep-alive"
    else:
        keep_alive = b"close" not in connection
    if status in _NO_BODY:
        return status, keep_alive
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        _skip_chunks(reader)
    elif b"content-length" in fields:
        _skip(reader, int(fields[b"content-length"]))
    else:
        reader.read()  # the body ends when the app closes the connection
        keep_alive = False
    return status, keep_alive


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
    while True:
        size_line = _line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise http.client.IncompleteRead(size_line) from None
        if size == 0:
            _fields(reader)  # trailers, up to the blank line
            return
        _skip(reader, size + 2)  # the chunk and its CRLF
