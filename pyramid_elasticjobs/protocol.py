"""What the Elastic Beanstalk SQS daemon (``aws-sqsd``) sends, and how we recognise it.

Attribute names use ``-``, never ``_``: nginx drops headers with underscores,
and the daemon turns each message attribute into an ``X-Aws-Sqsd-Attr-<name>`` header.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .settings import Network

ORIGIN = "pyramid_elasticjobs"
ORIGIN_ATTRIBUTE = "elasticjobs-origin"
SIGNATURE_ATTRIBUTE = "elasticjobs-signature"
JOB_ATTRIBUTE = "elasticjobs-job"

USER_AGENT_PREFIXES = ("aws-sqsd", "sqsd")

#: The daemon's headers as WSGI environ keys.
MESSAGE_ID = "HTTP_X_AWS_SQSD_MSGID"
QUEUE = "HTTP_X_AWS_SQSD_QUEUE"
FIRST_RECEIVED_AT = "HTTP_X_AWS_SQSD_FIRST_RECEIVED_AT"
RECEIVE_COUNT = "HTTP_X_AWS_SQSD_RECEIVE_COUNT"
SENT_AT = "HTTP_X_AWS_SQSD_SENT_AT"
SENDER_ID = "HTTP_X_AWS_SQSD_SENDER_ID"
TASK_NAME = "HTTP_X_AWS_SQSD_TASKNAME"
SCHEDULED_AT = "HTTP_X_AWS_SQSD_SCHEDULED_AT"
ATTRIBUTE_PREFIX = "HTTP_X_AWS_SQSD_ATTR_"


def attribute_environ_key(attribute: str) -> str:
    """``elasticjobs-origin`` -> ``HTTP_X_AWS_SQSD_ATTR_ELASTICJOBS_ORIGIN``."""
    return ATTRIBUTE_PREFIX + attribute.upper().replace("-", "_").replace(".", "_")


ORIGIN_KEY = attribute_environ_key(ORIGIN_ATTRIBUTE)
SIGNATURE_KEY = attribute_environ_key(SIGNATURE_ATTRIBUTE)


def is_daemon_user_agent(user_agent: str) -> bool:
    """``aws-sqsd/3.0.3``, ``aws-sqsd``, ``sqsd/0.1``... but not ``sqsdx`` or ``curl``."""
    # Only the prefix and the character after it matter: no need to lower a browser's whole UA.
    lowered = user_agent[: len(USER_AGENT_PREFIXES[0]) + 1].lower()
    for prefix in USER_AGENT_PREFIXES:
        if lowered.startswith(prefix):
            rest = lowered[len(prefix) :]
            return rest == "" or rest[0] in "/ "
    return False


#: The headers through which a proxy reports the client it forwards for.
FORWARDED_FOR = "HTTP_X_FORWARDED_FOR"
REAL_IP = "HTTP_X_REAL_IP"
FORWARDED = "HTTP_FORWARDED"

#: Stands in for a hop that cannot be read; never inside a trusted network.
UNREADABLE = "unreadable"


class Source(enum.Enum):
    """Where a request came from, as far as the request itself can tell."""

    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"
    #: Every address seen is trusted, but the server may have deleted the proxy's report
    #: of the real client: nothing can be concluded.
    UNKNOWN = "unknown"


def request_addresses(environ: Mapping[str, Any]) -> Iterator[str]:
    """Every address a request claims to come from: the peer and each proxy hop.

    On Elastic Beanstalk nginx makes every request arrive from 127.0.0.1, so the
    forwarded headers are the only trace of internet clients.
    """
    yield environ.get("REMOTE_ADDR") or ""
    forwarded_for = environ.get(FORWARDED_FOR)
    if forwarded_for is not None:
        yield from (hop.strip() for hop in forwarded_for.split(","))
    real_ip = environ.get(REAL_IP)
    if real_ip is not None:
        yield real_ip.strip()
    forwarded = environ.get(FORWARDED)
    if forwarded is not None:
        yield from forwarded_clients(forwarded)


class SourceCheck:
    """Judges a request's source: trusted only if the peer and every forwarded hop are.

    waitress deletes X-Forwarded-For and Forwarded from requests that do not come from its
    ``trusted_proxy``, so under waitress a proxied internet request and a direct one from
    the daemon look the same when no forwarding header is left. Unless the application
    says that REMOTE_ADDR is the client (no proxy in front, or waitress rewrites
    REMOTE_ADDR), such a request's source is unknown. Servers that pass the headers on
    (gunicorn, and every other we know) are taken at their word.
    """

    __slots__ = ("_networks", "_remote_addr_is_client", "_verdicts")

    #: Addresses remembered; the daemon's are always the same few, and the bound keeps
    #: forged X-Forwarded-For values from growing the memory.
    MEMORY = 1024

    def __init__(self, networks: tuple[Network, ...], remote_addr_is_client: bool) -> None:
        self._networks = networks
        self._remote_addr_is_client = remote_addr_is_client
        self._verdicts: dict[str, bool] = {}

    def __call__(self, environ: Mapping[str, Any]) -> Source:
        forwarded = FORWARDED_FOR in environ or REAL_IP in environ or FORWARDED in environ
        if forwarded:
            trusted = all(self._trusts(text) for text in request_addresses(environ))
        else:  # the daemon's own request, straight to the server: one address to check
            trusted = self._trusts(environ.get("REMOTE_ADDR") or "")
        if not trusted:
            return Source.UNTRUSTED
        if (
            forwarded
            or self._remote_addr_is_client
            or not environ.get("SERVER_SOFTWARE", "").startswith(HEADER_DELETING_SERVERS)
        ):
            return Source.TRUSTED
        return Source.UNKNOWN

    def _trusts(self, text: str) -> bool:
        verdict = self._verdicts.get(text)
        if verdict is None:
            # Parsing an address costs more than the rest of the check.
            address = _parse_address(text)
            verdict = address is not None and any(address in net for net in self._networks)
            if len(self._verdicts) < self.MEMORY:
                self._verdicts[text] = verdict
        return verdict


def source_of(
    environ: Mapping[str, Any], networks: tuple[Network, ...], remote_addr_is_client: bool
) -> Source:
    """:class:`SourceCheck` for one request (build the check once to judge many)."""
    return SourceCheck(networks, remote_addr_is_client)(environ)


#: WSGI servers (by SERVER_SOFTWARE) that delete forwarding headers from untrusted proxies.
HEADER_DELETING_SERVERS = ("waitress",)


# RFC 7239: elements separated by ",", pairs by ";", values tokens or quoted strings.
# The grammar allows no whitespace around "=" and wants IPv6 quoted, but proxies and
# people write both: read them rather than fail open or refuse the daemon.
_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_BARE_VALUE = r"[!#$%&'*+.^_`|~0-9A-Za-z:\[\]-]+"
_PAIR = re.compile(rf'[ \t]*({_NAME})[ \t]*=[ \t]*({_BARE_VALUE}|"(?:[^"\\]|\\.)*")[ \t]*')
_ESCAPE = re.compile(r"\\(.)")


@functools.lru_cache(maxsize=256)
def forwarded_clients(header: str) -> tuple[str, ...]:
    """The ``for=`` value of each element of an RFC 7239 ``Forwarded`` header.

    An element without ``for``, or any text that does not parse, gives
    :data:`UNREADABLE`, so that a header the check cannot read fails it.
    """
    clients: list[str] = []
    position, element_client = 0, None
    while True:
        match = _PAIR.match(header, position)
        if match is None:
            return (*clients, UNREADABLE)
        name, value = match.group(1).lower(), match.group(2)
        if value.startswith('"'):
            value = _ESCAPE.sub(r"\1", value[1:-1])
        if name == "for":
            if element_client is not None:  # two clients for one hop: a forgery
                return (*clients, UNREADABLE)
            element_client = value
        position = match.end()
        separator = header[position : position + 1]
        if separator in (",", ""):
            clients.append(element_client if element_client is not None else UNREADABLE)
            element_client = None
            if not separator:
                return tuple(clients)
        elif separator != ";":
            return (*clients, UNREADABLE)
        position += 1


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    candidate = text
    if candidate.startswith("[") and "]" in candidate:  # "[::1]:8080" from some proxies
        candidate = candidate[1 : candidate.index("]")]
    elif candidate.count(":") == 1:  # "127.0.0.1:8080"
        candidate = candidate.split(":", 1)[0]
    candidate = candidate.split("%", 1)[0]  # zone index: "fe80::1%eth0"
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class Delivery:
    """The daemon's view of one message, read from its request headers.

    Timestamps are parsed when asked for: most deliveries never need them all.
    """

    message_id: str | None
    queue: str | None
    receive_count: int
    sender_id: str | None
    task_name: str | None
    environ: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def first_received_at(self) -> datetime | None:
        return _datetime(self.environ.get(FIRST_RECEIVED_AT))

    @property
    def sent_at(self) -> datetime | None:
        return _datetime(self.environ.get(SENT_AT))

    @property
    def scheduled_at(self) -> datetime | None:
        return _datetime(self.environ.get(SCHEDULED_AT))

    @property
    def headers(self) -> dict[str, str]:
        """The daemon's ``X-Aws-Sqsd-*`` headers by name, built when asked (listeners only)."""
        return {
            _header_name(key): value
            for key, value in self.environ.items()
            if key.startswith("HTTP_X_AWS_SQSD_")
        }

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> Delivery:
        return cls(
            message_id=environ.get(MESSAGE_ID),
            queue=environ.get(QUEUE),
            receive_count=_positive_int(environ.get(RECEIVE_COUNT)),
            sender_id=environ.get(SENDER_ID),
            task_name=environ.get(TASK_NAME),
            environ=environ,
        )


def _header_name(environ_key: str) -> str:
    return "-".join(part.capitalize() for part in environ_key[len("HTTP_") :].split("_"))


def _positive_int(value: str | None) -> int:
    try:
        return max(1, int(value)) if value else 1
    except ValueError:
        return 1


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None
