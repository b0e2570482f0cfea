"""Answer only requests addressed to a loopback name: the server half of DNS rebinding.

Listening on 127.0.0.1 keeps other machines out, but not other web sites: a page
from ``evil.example`` can make its own name resolve to 127.0.0.1 (DNS rebinding),
and the browser then sends that page's requests, with their answers readable by
it, to the local stack. Such requests still carry ``Host: evil.example``, so
checking the Host header closes the hole.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pyramid_elasticjobs.exceptions import ConfigurationError

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

#: The names a browser uses for this machine; any port.
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
#: The ini key and command-line option that allow more names.
ALLOWED_HOSTS_KEY = "elasticjobs.dev.allowed_hosts"
ALLOW_HOST_OPTION = "--allow-host"
#: Allows every Host header: turns the check off.
ANY_HOST = "*"
#: Refused Host headers logged at most once each, up to this many.
MAX_WARNED_HOSTS = 100
#: 421 Misdirected Request: "this server will not answer for that host" (RFC 9110 15.5.20).
REFUSED_STATUS = "421 Misdirected Request"

_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$")


def parse_allowed_hosts(value: str | Iterable[str] | None, source: str) -> tuple[str, ...]:
    """Host names from a setting (separated by spaces or commas) or a list of options.

    Each is a name (``myapp.test``), an IP address (``192.0.2.1``, ``::1``, ``[::1]``)
    or ``*`` for any host; without a port, since every port is allowed.
    """
    if value is None:
        return ()
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    return tuple(_allowed_host(item.strip(), source) for item in items if item.strip())


def _allowed_host(item: str, source: str) -> str:
    if item == ANY_HOST:
        return item
    host = item.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if _HOST_NAME.fullmatch(host):
        return host.rstrip(".")
    hint = (
        " without the port (every port is allowed)"
        if ":" in item and not host.startswith("[")
        else ""
    )
    raise ConfigurationError(
        f"{source}: {item!r} is not a host name or IP address; give one such as "
        f"myapp.test or 192.0.2.1{hint}, or {ANY_HOST} to allow any host"
    )


def host_of(header: str) -> str:
    """``Example.test:6543`` -> ``example.test``; ``[0:0::1]:80`` -> ``::1``."""
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        name, colon, port = host.rpartition(":")
        if colon and port.isdigit() and ":" not in name:
            host = name
    try:
        return str(ipaddress.ip_address(host))  # one spelling per address
    except ValueError:
        return host.rstrip(".")


class HostCheck:
    """WSGI middleware: a request for any other Host than the allowed ones gets a 421.

    A request without a Host header (HTTP/1.0) is answered: browsers always send one.
    """

    def __init__(self, app: WSGIApplication, allowed: Iterable[str] = (), name: str = "") -> None:
        self.app = app
        extra = parse_allowed_hosts(allowed, "allowed hosts")
        self.allowed = frozenset({*LOOPBACK_HOSTS, *extra})
        names = [f"[{host}]" if ":" in host else host for host in LOOPBACK_HOSTS]
        names += sorted({f"[{host}]" if ":" in host else host for host in extra} - set(names))
        self._shown = ", ".join(names[:-1]) + " and " + names[-1]
        self.name = name or "elasticjobs dev"
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        header = environ.get("HTTP_HOST")
        if header is None or ANY_HOST in self.allowed or host_of(header) in self.allowed:
            return self.app(environ, start_response)
        message = self.refusal(header)
        with self._lock:
            first = header not in self._warned and len(self._warned) < MAX_WARNED_HOSTS
            if first:
                self._warned.add(header)
        if first:  # once per Host: a rebinding page may retry in a loop
            log.warning("%s", message)
        body = (message + "\n").encode()
        start_response(
            REFUSED_STATUS,
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def refusal(self, header: str) -> str:
        """One line: what was refused, why, and how to allow it."""
        shown = host_of(header)
        return (
            f"{self.name} refused a request for Host {header!r}: it answers only "
            f"{self._shown} (any port), against DNS rebinding; to allow this "
            f"host, start elasticjobs dev with {ALLOW_HOST_OPTION} {shown} or set "
            f"{ALLOWED_HOSTS_KEY} = {shown}"
        )
