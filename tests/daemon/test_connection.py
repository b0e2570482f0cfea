"""The daemon's small HTTP/1.1 client against a scripted TCP server: framing and keep-alive."""

from __future__ import annotations

import http.client
from collections.abc import Callable

import pytest

from pyramid_elasticjobs.daemon.connection import (
    MAX_SKIPPED_BODY,
    WorkerConnection,
    WorkerUnreachable,
)

from .support import OK, SILENCE, Closing, Reply, ScriptedServer, closed_port, wait_until

Serve = Callable[[list[Reply]], ScriptedServer]


def _connect(server: ScriptedServer) -> WorkerConnection:
    host, port = server.server_address[:2]
    return WorkerConnection(str(host), int(port), connect_timeout=5, inactivity_timeout=5)


def test_a_request_is_sent_in_one_piece_with_host_and_length(
    serve_script: Serve,
) -> None:
    """Request line, Host, Content-Length, the given headers, then the body."""
    server = serve_script([OK])
    connection = _connect(server)

    assert connection.post("/jobs", b'{"a":1}', {"X-Aws-Sqsd-Msgid": b"m-1"}) == 200

    [request] = server.requests
    head, body = request.split(b"\r\n\r\n", 1)
    port = server.server_address[1]
    assert head.split(b"\r\n") == [
        b"POST /jobs HTTP/1.1",
        f"Host: 127.0.0.1:{port}".encode(),
        b"Content-Length: 7",
        b"X-Aws-Sqsd-Msgid: m-1",
    ]
    assert body == b'{"a":1}'


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (OK, 200),
        (
            b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n",
            500,
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 202),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 200),
    ],
    ids=["content-length", "chunked-with-trailer", "no-body", "interim-100", "http-1.0-keep-alive"],
)
def test_each_framing_is_read_to_its_end_and_the_connection_reused(
    serve_script: Serve, reply: bytes, status: int
) -> None:
    """Two requests travel over one connection, whatever the framing of the first answer."""
    server = serve_script([reply, OK])
    connection = _connect(server)

    first = connection.post("/", b"1", {})
    second = connection.post("/", b"2", {})

    assert first == status
    assert second == 200
    assert server.connections == 1


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\n\r\nbye",
    ],
    ids=["connection-close", "http-1.0", "body-until-close"],
)
def test_an_answer_that_ends_the_connection_is_followed_by_a_new_one(
    serve_script: Serve, reply: bytes
) -> None:
    """When the app says it closes (or frames by closing), the next request reconnects."""
    server = serve_script([reply, OK])
    connection = _connect(server)

    assert connection.post("/", b"1", {}) == 200
    assert connection.post("/", b"2", {}) == 200
    assert server.connections == 2


def test_an_idle_connection_the_app_closed_is_replaced_before_sending(
    serve_script: Serve,
) -> None:
    """The app drops an idle keep-alive connection: the next request goes out once, anew."""
    server = serve_script([Closing(OK), OK])
    connection = _connect(server)
    connection.post("/", b"1", {})
    wait_until(lambda: server.closed == 1, what="the app to drop the idle connection")

    assert connection.post("/", b"2", {}) == 200
    assert server.connections == 2
    assert server.bodies() == [b"1", b"2"]


def test_a_request_the_app_read_but_did_not_answer_is_not_sent_again(
    serve_script: Serve,
) -> None:
    """A reused connection closed mid-request (a worker killed mid-job) is an error, no resend."""
    server = serve_script([OK, None, OK])
    connection = _connect(server)
    connection.post("/", b"1", {})

    with pytest.raises(http.client.RemoteDisconnected):
        connection.post("/", b"2", {})
    assert server.bodies() == [b"1", b"2"]


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000000000000\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nX-Cut: ",
    ],
    ids=["truncated", "negative-length", "huge-length", "text-length", "bad-chunk", "cut-headers"],
)
def test_only_the_status_line_decides_and_a_broken_rest_closes_the_connection(
    serve_script: Serve, reply: bytes
) -> None:
    """A 200 with a broken body or headers is a 200; the next request uses a new connection."""
    server = serve_script([Closing(reply), OK])
    connection = _connect(server)

    assert connection.post("/", b"1", {}) == 200
    assert connection.post("/", b"2", {}) == 200
    assert server.connections == 2


def test_a_large_body_is_not_read_to_keep_the_connection(serve_script: Serve) -> None:
    """Past MAX_SKIPPED_BODY the body is left unread: the status is known, the socket closed."""
    declared = MAX_SKIPPED_BODY + 1
    server = serve_script([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nok" % declared, OK])
    connection = _connect(server)

    assert connection.post("/", b"1", {}) == 200
    assert connection.post("/", b"2", {}) == 200
    assert server.connections == 2


def test_a_fresh_connection_closed_without_an_answer_is_an_error(
    serve_script: Serve,
) -> None:
    """No retry on a brand-new connection: the app really did not answer."""
    server = serve_script([None])

    with pytest.raises(http.client.RemoteDisconnected):
        _connect(server).post("/", b"1", {})


def test_an_answer_that_is_not_http_is_an_error(serve_script: Serve) -> None:
    """A garbage status line raises instead of being read as a status."""
    server = serve_script([b"SSH-2.0-OpenSSH\r\n\r\n"])

    with pytest.raises(http.client.BadStatusLine):
        _connect(server).post("/", b"1", {})


@pytest.mark.parametrize("path", ["/a\r\nX-Injected: 1", "/a b", "jobs", "/caf\u00e9"])
def test_a_path_that_is_not_plain_is_refused_before_sending(serve_script: Serve, path: str) -> None:
    """A periodic task's url comes from a message: it cannot smuggle headers in."""
    server = serve_script([OK])

    with pytest.raises(ValueError, match="not a plain URL path"):
        _connect(server).post(path, b"", {})
    assert server.requests == []


def test_silence_longer_than_the_inactivity_timeout_raises_timeout(
    serve_script: Serve,
) -> None:
    """The socket timeout after connecting is the inactivity timeout."""
    server = serve_script([SILENCE])
    host, port = server.server_address[:2]
    connection = WorkerConnection(str(host), int(port), connect_timeout=5, inactivity_timeout=0.2)

    with pytest.raises(TimeoutError):
        connection.post("/", b"1", {})


def test_nothing_listening_is_reported_as_unreachable() -> None:
    """Connection refused is WorkerUnreachable, not a timeout."""
    with pytest.raises(WorkerUnreachable, match="cannot connect"):
        WorkerConnection("127.0.0.1", closed_port(), 1, 1).post("/", b"", {})
