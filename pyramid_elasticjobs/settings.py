"""Turn the ``elasticjobs.*`` ini keys (and their environment overrides) into typed settings.

Pure functions over plain dicts, so every rule is testable without a Configurator.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .exceptions import ConfigurationError, UnknownSettingWarning

PREFIX = "elasticjobs."

#: ini key -> environment variable that wins over it.
ENVIRONMENT_OVERRIDES: Mapping[str, str] = {
    "secret": "ELASTICJOBS_SECRET",
    "process_jobs": "PROCESS_ELASTIC_JOBS",
    "aws_region": "AWS_REGION",
    "endpoint_url": "ELASTICJOBS_ENDPOINT_URL",
}

#: Key namespaces read by other parts (the local daemon reads ``elasticjobs.sqsd.*``).
DELEGATED_NAMESPACES = ("sqsd.",)

MIN_SECRET_LENGTH = 32
SQS_MAX_MESSAGE_BYTES = 1_048_576
SQS_MIN_MESSAGE_BYTES = 1_024
LOOPBACK_NETWORKS = "127.0.0.0/8 ::1/128"

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0", ""})
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_QUEUE_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,70}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ElasticJobsSettings:
    """The parsed, validated settings; one instance per application."""

    secrets: tuple[str, ...]
    process_jobs: bool
    aws_region: str
    endpoint_url: str | None
    queue_prefix: str
    default_queue: str
    periodic_tasks_route: str
    trusted_networks: tuple[Network, ...]
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

    Raises :class:`ConfigurationError` naming the key and what it accepts; warns
    (:class:`UnknownSettingWarning`) about keys this version does not know.
    """
    environ = environ if environ is not None else {}
    raw = {key[len(PREFIX) :]: value for key, value in settings.items() if key.startswith(PREFIX)}
    for key, variable in ENVIRONMENT_OVERRIDES.items():
        if environ.get(variable):
            raw[key] = environ[variable]
    if not raw.get("aws_region") and environ.get("AWS_DEFAULT_REGION"):
        raw["aws_region"] = environ["AWS_DEFAULT_REGION"]
    unknown_keys = {key for key in raw if not key.startswith(DELEGATED_NAMESPACES)} - set(_PARSERS)
    for unknown in sorted(unknown_keys):
        warnings.warn(
            f"unknown setting {PREFIX}{unknown!s} ignored; known settings: "
            + ", ".join(PREFIX + key for key in sorted(_PARSERS)),
            UnknownSettingWarning,
            stacklevel=3,
        )
    values = {key: parse(key, raw.get(key)) for key, parse in _PARSERS.items()}
    values["secrets"] = values.pop("secret")
    return ElasticJobsSettings(**values)


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
            f"{_key(key)} is not set: give at least one random secret of {MIN_SECRET_LENGTH}+ "
            "characters (`python -c 'import secrets; print(secrets.token_urlsafe(48))'`); "
            "several secrets separated by spaces rotate keys: the first signs, all verify"
        )
    for position, secret in enumerate(secrets, start=1):
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"{_key(key)}: secret #{position} is {len(secret)} characters long; "
                f"each secret must have at least {MIN_SECRET_LENGTH} characters"
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
    if not route.startswith("/") or any(char.isspace() for char in route):
        raise ConfigurationError(
            f"{_key(key)} = {route!r} is not a URL path; give a path such as /periodic_tasks "
            "(the url of your cron.yaml entries)"
        )
    return route


def parse_networks(key: str, value: Any) -> tuple[Network, ...]:
    text = _text(value) or LOOPBACK_NETWORKS
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"{_key(key)}: {item!r} is not an IP network; give CIDR blocks separated by "
                "spaces, e.g. '127.0.0.0/8 ::1/128 172.17.0.0/16'"
            ) from None
    return tuple(networks)


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
    "default_queue": lambda k, v: parse_queue_name(k, v, default="default"),
    "periodic_tasks_route": lambda k, v: parse_route(k, v, default="/periodic_tasks"),
    "trusted_networks": parse_networks,
    "max_message_bytes": lambda k, v: parse_int(
        k, v, 262_144, SQS_MIN_MESSAGE_BYTES, SQS_MAX_MESSAGE_BYTES
    ),
    "enqueue_after_commit": lambda k, v: parse_bool(k, v, default=True),
    "connect_timeout": lambda k, v: parse_float(k, v, 5.0, 0.1, 300.0),
    "read_timeout": lambda k, v: parse_float(k, v, 30.0, 0.1, 300.0),
    "max_attempts": lambda k, v: parse_int(k, v, 3, 1, 20),
    "dead_letter_suffix": lambda k, v: parse_suffix(k, v, default="-dead-letters"),
    "max_receive_count": lambda k, v: parse_int(k, v, 10, 1, 1000),
}
