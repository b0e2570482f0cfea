"""Where a request came from: RFC 7239 parsing and the source verdict, as pure functions."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from pyramid_elasticjobs.protocol import UNREADABLE, Source, forwarded_clients, source_of

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("header", "clients"),
    [
        ("for=8.8.8.8", ("8.8.8.8",)),
        ("for = 8.8.8.8", ("8.8.8.8",)),
        ("FOR=8.8.8.8", ("8.8.8.8",)),
        ("for=\t8.8.8.8 ;proto=https", ("8.8.8.8",)),
        ('for="[2001:db8::7]:4711";proto=http, for=127.0.0.1', ("[2001:db8::7]:4711", "127.0.0.1")),
        ("for=::1", ("::1",)),
        ('for="127.0.0.1"', ("127.0.0.1",)),
        ('for="a\\"b"', ('a"b',)),
        ("proto=https;by=127.0.0.1", (UNREADABLE,)),
        ("for=127.0.0.1;for=8.8.8.8", (UNREADABLE,)),
        ("for=127.0.0.1, by=x", ("127.0.0.1", UNREADABLE)),
        ("for=1.2.3.4 garbage", (UNREADABLE,)),
        ("for=127.0.0.1,", ("127.0.0.1", UNREADABLE)),
        ('for="127.0.0.1', (UNREADABLE,)),
        ("", (UNREADABLE,)),
        ("for=unknown", ("unknown",)),
        ("for=_hidden", ("_hidden",)),
    ],
)
def test_forwarded_header_is_read_forgivingly_and_unreadable_parts_are_marked(
    header: str, clients: tuple[str, ...]
) -> None:
    """Each element's for= value; text the grammar cannot read gives UNREADABLE."""
    assert forwarded_clients(header) == clients


def _environ(remote: str = "127.0.0.1", server: str | None = None, **headers: str) -> Any:
    environ = {"REMOTE_ADDR": remote}
    if server is not None:
        environ["SERVER_SOFTWARE"] = server
    environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return environ


@pytest.mark.parametrize(
    ("environ", "remote_addr_is_client", "expected"),
    [
        (_environ(), False, Source.TRUSTED),
        (_environ(remote="203.0.113.9"), False, Source.UNTRUSTED),
        (_environ(forwarded="for = 8.8.8.8"), False, Source.UNTRUSTED),
        (_environ(forwarded="for=unknown"), False, Source.UNTRUSTED),
        (_environ(forwarded="for=_hidden"), False, Source.UNTRUSTED),
        (_environ(forwarded="proto=https"), False, Source.UNTRUSTED),
        (_environ(forwarded="for=127.0.0.1"), False, Source.TRUSTED),
        (_environ(x_forwarded_for="127.0.0.1, 8.8.8.8"), False, Source.UNTRUSTED),
        (_environ(x_real_ip="8.8.8.8"), False, Source.UNTRUSTED),
        # waitress deletes X-Forwarded-For / Forwarded: with no header left, nothing is known
        (_environ(server="waitress"), False, Source.UNKNOWN),
        (_environ(server="waitress"), True, Source.TRUSTED),
        (_environ(server="waitress", x_real_ip="127.0.0.1"), False, Source.TRUSTED),
        (_environ(server="waitress", x_real_ip="8.8.8.8"), True, Source.UNTRUSTED),
        (_environ(remote="203.0.113.9", server="waitress"), True, Source.UNTRUSTED),
        # gunicorn passes the headers on: no header means no proxy in between
        (_environ(server="gunicorn/23.0.0"), False, Source.TRUSTED),
    ],
)
def test_source_verdict(environ: Any, remote_addr_is_client: bool, expected: Source) -> None:
    """Every claimed address must be trusted; under waitress, absent headers prove nothing."""
    assert source_of(environ, LOOPBACK, remote_addr_is_client) is expected
