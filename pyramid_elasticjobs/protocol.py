"""What the Elastic Beanstalk SQS daemon (``aws-sqsd``) sends, and how we recognise it.

Attribute names use ``-``, never ``_``: nginx drops headers with underscores,
and the daemon turns each message attribute into an ``X-Aws-Sqsd-Attr-<name>`` header.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
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


def request_addresses(environ: Mapping[str, Any]) -> Iterable[str]:
    """Every address a request claims to come from: the peer and each proxy hop.

    On Elastic Beanstalk nginx makes every request arrive from 127.0.0.1, so the
    forwarded headers are the only trace of internet clients.
    """
    yield environ.get("REMOTE_ADDR") or ""
    forwarded = environ.get("HTTP_X_FORWARDED_FOR")
    if forwarded:
        yield from (hop.strip() for hop in forwarded.split(","))
    real_ip = environ.get("HTTP_X_REAL_IP")
    if real_ip:
        yield real_ip.strip()
    forwarded_standard = environ.get("HTTP_FORWARDED")  # RFC 7239: for=1.2.3.4;proto=https
    if forwarded_standard:
        for element in forwarded_standard.split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for":
                    yield value.strip('"')


def is_trusted_source(environ: Mapping[str, Any], networks: tuple[Network, ...]) -> bool:
    """True only if the peer and every forwarded hop are inside ``networks``."""
    return all(_is_trusted_address(text, networks) for text in request_addresses(environ))


# Parsing an address costs more than the rest of the check; the daemon's are always the same
# few, and the bound keeps forged X-Forwarded-For values from growing the cache.
@functools.lru_cache(maxsize=1024)
def _is_trusted_address(text: str, networks: tuple[Network, ...]) -> bool:
    address = _parse_address(text)
    return address is not None and any(address in network for network in networks)


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
    """The daemon's view of one message, read from its request headers."""

    message_id: str | None
    queue: str | None
    receive_count: int
    first_received_at: datetime | None
    sent_at: datetime | None
    sender_id: str | None
    task_name: str | None
    scheduled_at: datetime | None
    environ: Mapping[str, Any] = field(repr=False, compare=False)

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
            first_received_at=_datetime(environ.get(FIRST_RECEIVED_AT)),
            sent_at=_datetime(environ.get(SENT_AT)),
            sender_id=environ.get(SENDER_ID),
            task_name=environ.get(TASK_NAME),
            scheduled_at=_datetime(environ.get(SCHEDULED_AT)),
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
