"""Turn the ``elasticjobs.*`` ini keys (and their environment overrides) into typed settings.

Pure functions over plain dicts, so every rule is testable without a Configurator.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from . import defaults
from .exceptions import ConfigurationError

log = logging.getLogger(__name__)

PREFIX = "elasticjobs."

#: ini key -> environment variable that wins over it.
ENVIRONMENT_OVERRIDES: Mapping[str, str] = {
    "secret": "ELASTICJOBS_SECRET",
    "process_jobs": "PROCESS_ELASTIC_JOBS",
    "aws_region": "AWS_REGION",
    "endpoint_url": "ELASTICJOBS_ENDPOINT_URL",
}

#: Key namespaces read by other parts, which check their own keys: the local daemon
#: (``elasticjobs.sqsd.*``), the dev stack, the audit log and the dashboard.
DELEGATED_NAMESPACES = ("sqsd.", "dev.", "audit.", "dashboard.")

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0", ""})
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_QUEUE_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,70}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ElasticJobsSettings:
    """The parsed, validated settings; one instance per application.

    The secrets are left out of the repr: tracebacks that capture locals (Sentry does by
    default) print the reprs of whatever holds these settings.
    """

    secrets: tuple[str, ...] = field(repr=False)
    process_jobs: bool
    aws_region: str
    endpoint_url: str | None
    queue_prefix: str
    default_queue: str
    periodic_tasks_route: str
    trusted_networks: tuple[Network, ...]
    remote_addr_is_client: bool
    message_ttl: int
    max_message_bytes: int
    enqueue_after_commit: bool
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    dead_letter_suffix: str
    max_receive_count: int

    def sqs_queue_name(self, queue: str) -> str:
        """The SQS name of a logical queue (``images`` -> ``<prefix>images``)."""
        return self.queue_prefix + queue


T = TypeVar("T")


def parse_settings(
    settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> ElasticJobsSettings:
    """Read ``elasticjobs.*`` keys from ``settings``; named environment variables win.

    Raises :class:`ConfigurationError` naming the key and what it accepts; logs a warning
    for each key this version does not read (a typo, usually), naming the likely key.
    """
    environ = environ if environ is not None else {}
    raw = {key[len(PREFIX) :]: value for key, value in settings.items() if key.startswith(PREFIX)}
    for key, variable in ENVIRONMENT_OVERRIDES.items():
        if environ.get(variable):
            raw[key] = environ[variable]
    if not raw.get("aws_region") and environ.get("AWS_DEFAULT_REGION"):
        raw["aws_region"] = environ["AWS_DEFAULT_REGION"]
    for unknown in sorted(unknown_keys(raw)):
        log.warning("%s", unknown_key_message(unknown))
    values = {key: parse(key, raw.get(key)) for key, parse in _PARSERS.items()}
    values["secrets"] = values.pop("secret")
    _check_periodic_route(values["periodic_tasks_route"], raw.get("sqsd.http_path"))
    return ElasticJobsSettings(**values)


def namespace_settings(
    settings: Mapping[str, Any], namespace: str, known: frozenset[str], part: str
) -> dict[str, Any]:
    """The ``elasticjobs.<namespace>*`` keys without their prefix, for a wing's own parser.

    Each key the wing does not read logs one warning naming the likely key (``part`` says
    whose keys they are: "the audit log", "the dashboard").
    """
    prefix = PREFIX + namespace
    raw = {key[len(prefix) :]: value for key, value in settings.items() if key.startswith(prefix)}
    for unknown in sorted(set(raw) - known):
        close = difflib.get_close_matches(unknown, list(known), n=1, cutoff=0.5)
        hint = (
            f"did you mean {prefix}{close[0]}?"
            if close
            else (f"{part} reads " + ", ".join(prefix + key for key in sorted(known)))
        )
        log.warning("unknown setting %s%s is ignored; %s", prefix, unknown, hint)
    return raw


def unknown_keys(raw: Mapping[str, Any]) -> set[str]:
    """Keys (without the prefix) that neither the core nor a delegated part reads."""
    return {key for key in raw if not key.startswith(DELEGATED_NAMESPACES)} - set(_PARSERS)


def unknown_key_message(key: str) -> str:
    """A one-line warning about a key this version does not read, with the likely intended key."""
    close = difflib.get_close_matches(key, list(_PARSERS), n=1, cutoff=0.5)
    hint = (
        f"did you mean {PREFIX}{close[0]}?"
        if close
        else "known settings: " + ", ".join(PREFIX + known for known in sorted(_PARSERS))
    )
    return f"unknown setting {PREFIX}{key} is ignored; {hint}"


def _check_periodic_route(route: str, job_path: Any) -> None:
    """Refuse a periodic route that would also catch the daemon's job deliveries."""
    path = _text(job_path) or "/"
    if route in ("/", path):
        raise ConfigurationError(
            f"{_key('periodic_tasks_route')} = {route!r} is also the path the daemon posts jobs "
            f"to ({path!r}), so every job would be taken for a periodic task; use a path of its "
            f"own, such as {defaults.PERIODIC_TASKS_ROUTE} (and the same url in cron.yaml)"
        )


def _key(key: str) -> str:
    variable = ENVIRONMENT_OVERRIDES.get(key)
    suffix = f" (or the {variable} environment variable)" if variable else ""
    return f"{PREFIX}{key}{suffix}"


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def parse_secrets(key: str, value: Any) -> tuple[str, ...]:
    secrets = tuple(_text(value).split())
    if not secrets:
        raise ConfigurationError(
            f"{_key(key)} is not set: give at least one random secret of "
            f"{defaults.MIN_SECRET_LENGTH}+ "
            "characters (`python -c 'import secrets; print(secrets.token_urlsafe(48))'`); "
            "several secrets separated by spaces rotate keys: the first signs, all verify"
        )
    for position, secret in enumerate(secrets, start=1):
        if len(secret) < defaults.MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"{_key(key)}: secret #{position} is {len(secret)} characters long; "
                f"each secret must have at least {defaults.MIN_SECRET_LENGTH} characters"
            )
    return secrets


def parse_bool(key: str, value: Any, default: bool) -> bool:
    if value is None or isinstance(value, bool):
        return default if value is None else value
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False if text else default
    raise ConfigurationError(
        f"{_key(key)} = {value!r} is not a boolean; use one of: true, false, yes, no, on, off, 1, 0"
    )


def _number(
    convert: Callable[[str], T], kind: str, key: str, value: Any, default: T, low: T, high: T
) -> T:
    if value is None or _text(value) == "":
        return default
    try:
        number = convert(_text(value))
    except ValueError:
        raise ConfigurationError(
            f"{_key(key)} = {value!r} is not {kind}; give a value from {low} to {high}"
        ) from None
    if not low <= number <= high:  # type: ignore[operator]
        raise ConfigurationError(f"{_key(key)} = {number} is out of range; give {low} to {high}")
    return number


def parse_int(key: str, value: Any, default: int, low: int, high: int) -> int:
    return _number(int, "a whole number", key, value, default, low, high)


def parse_float(key: str, value: Any, default: float, low: float, high: float) -> float:
    return _number(float, "a number", key, value, default, low, high)


def parse_region(key: str, value: Any) -> str:
    region = _text(value)
    if not region:
        raise ConfigurationError(
            f"{_key(key)} is not set: name the AWS region of your queues, e.g. us-east-1 "
            "(AWS_DEFAULT_REGION is also read)"
        )
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", region):
        raise ConfigurationError(
            f"{_key(key)} = {region!r} is not an AWS region name; use a name like us-east-1"
        )
    return region


def parse_endpoint_url(key: str, value: Any) -> str | None:
    url = _text(value)
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"{_key(key)} = {url!r} is not an http(s) URL; give e.g. http://127.0.0.1:5000 "
            "for a local SQS, or leave it unset for AWS"
        )
    return url


def parse_queue_name(key: str, value: Any, default: str) -> str:
    name = _text(value) or default
    stem = name.removesuffix(".fifo")
    if not _QUEUE_NAME.fullmatch(stem):
        raise ConfigurationError(
            f"{_key(key)} = {name!r} is not a valid queue name; use 1-80 letters, digits, "
            "'-' or '_' (and '.fifo' at the end for a FIFO queue)"
        )
    return name


def parse_queue_prefix(key: str, value: Any) -> str:
    prefix = _text(value)
    if not _QUEUE_PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            f"{_key(key)} = {prefix!r} is not a valid queue prefix; use up to 70 letters, "
            "digits, '-' or '_'"
        )
    return prefix


def parse_route(key: str, value: Any, default: str) -> str:
    route = _text(value) or default
    if (
        not route.startswith("/")
        or any(char.isspace() or char in "?#" for char in route)
        or not route.isascii()
    ):
        raise ConfigurationError(
            f"{_key(key)} = {route!r} is not a URL path; give a path such as /periodic_tasks "
            "(the url of your cron.yaml entries)"
        )
    return route


def parse_networks(key: str, value: Any) -> tuple[Network, ...]:
    text = _text(value) or defaults.LOOPBACK_NETWORKS
    return tuple(_network(key, item) for item in text.replace(",", " ").split())


def _network(key: str, item: str) -> Network:
    try:
        network = ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise ConfigurationError(
            f"{_key(key)}: {item!r} is not an IP network; give CIDR blocks separated by "
            "spaces, e.g. '127.0.0.0/8 ::1/128 172.17.0.0/16'"
        ) from None
    # strict=False above only so that this message can name the network that was meant.
    if str(network) != item and network.with_prefixlen != item:
        raise ConfigurationError(
            f"{_key(key)}: {item!r} has host bits set, which would silently mean "
            f"{network.with_prefixlen}; write the network itself, e.g. {network.with_prefixlen}"
        )
    if network.prefixlen == 0:
        raise ConfigurationError(
            f"{_key(key)}: {item!r} trusts every address, which turns the source check off; "
            "name only the networks the daemon connects from (loopback, and 172.17.0.0/16 "
            "on Docker)"
        )
    return network


def parse_suffix(key: str, value: Any, default: str) -> str:
    suffix = _text(value) or default
    if not _QUEUE_PREFIX.fullmatch(suffix):
        raise ConfigurationError(
            f"{_key(key)} = {suffix!r} is not a valid queue name suffix; use letters, digits, "
            "'-' or '_'"
        )
    return suffix


_PARSERS: Mapping[str, Callable[[str, Any], Any]] = {
    "secret": parse_secrets,
    "process_jobs": lambda k, v: parse_bool(k, v, default=False),
    "aws_region": parse_region,
    "endpoint_url": parse_endpoint_url,
    "queue_prefix": parse_queue_prefix,
    "default_queue": lambda k, v: parse_queue_name(k, v, default=defaults.DEFAULT_QUEUE),
    "periodic_tasks_route": lambda k, v: parse_route(k, v, default=defaults.PERIODIC_TASKS_ROUTE),
    "trusted_networks": parse_networks,
    "remote_addr_is_client": lambda k, v: parse_bool(k, v, default=False),
    "message_ttl": lambda k, v: parse_int(
        k,
        v,
        defaults.MESSAGE_TTL_SECONDS,
        defaults.MIN_MESSAGE_TTL_SECONDS,
        defaults.MAX_MESSAGE_TTL_SECONDS,
    ),
    "max_message_bytes": lambda k, v: parse_int(
        k,
        v,
        defaults.MAX_MESSAGE_BYTES,
        defaults.SQS_MIN_MESSAGE_BYTES,
        defaults.SQS_MAX_MESSAGE_BYTES,
    ),
    "enqueue_after_commit": lambda k, v: parse_bool(k, v, default=True),
    "connect_timeout": lambda k, v: parse_float(k, v, defaults.CONNECT_TIMEOUT, 0.1, 300.0),
    "read_timeout": lambda k, v: parse_float(k, v, defaults.READ_TIMEOUT, 0.1, 300.0),
    "max_attempts": lambda k, v: parse_int(k, v, defaults.MAX_ATTEMPTS, 1, 20),
    "dead_letter_suffix": lambda k, v: parse_suffix(k, v, default=defaults.DEAD_LETTER_SUFFIX),
    "max_receive_count": lambda k, v: parse_int(k, v, defaults.MAX_RECEIVE_COUNT, 1, 1000),
}


#: Environment variable that wins over ``elasticjobs.audit.url`` (a URL carries a password).
AUDIT_URL_VARIABLE = "ELASTICJOBS_AUDIT_URL"


def audit_url(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The audit log's URL, or "" when there is none (then the audit log is not included)."""
    return str(environ.get(AUDIT_URL_VARIABLE) or settings.get(f"{PREFIX}audit.url") or "").strip()
