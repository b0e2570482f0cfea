"""The local daemon's options: aws-sqsd's (``aws:elasticbeanstalk:sqsd``) under local names.

One frozen object validates itself, so options built in code and options read
from an ini file fail the same way; :func:`options_from_settings` is the pure
function that reads ``elasticjobs.sqsd.<option>`` keys and command-line overrides.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pyramid_elasticjobs.exceptions import ConfigurationError, UnknownSettingWarning

SETTINGS_PREFIX = "elasticjobs.sqsd."

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.fifo)?$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: Numeric options: (low, high) as aws-sqsd accepts them, where it documents a range.
RANGES: Mapping[str, tuple[float, float]] = {
    "http_connections": (1, 100),
    "connect_timeout": (0.1, 60),
    "inactivity_timeout": (0.1, 36000),
    "visibility_timeout": (0, 43200),
    "error_visibility_timeout": (0, 43200),
    "max_retries": (1, 100),
    "wait_time_seconds": (0, 20),
    "summary_interval": (0, 86400),
}


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """How the local daemon polls one queue and posts to one application.

    Raises :class:`ConfigurationError` naming the option and what it accepts.
    """

    queue: str  # queue name or full queue URL
    region: str
    endpoint_url: str | None = None  # None = real AWS
    worker_url: str = "http://127.0.0.1:80"
    http_path: str = "/"
    mime_type: str = "application/json"
    http_connections: int = 50
    connect_timeout: float = 5.0
    inactivity_timeout: float = 299.0
    visibility_timeout: int = 300
    error_visibility_timeout: int = 2
    max_retries: int = 10
    cron_path: str | None = None
    wait_time_seconds: int = 20
    summary_interval: float = 60.0
    user_agent: str = "aws-sqsd/3.0.4"

    def __post_init__(self) -> None:
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigurationError(
                    f"{describe(name)} = {value} is out of range; give {_number(low)} "
                    f"to {_number(high)}"
                )
        for name, check in _TEXT_CHECKS.items():
            value = getattr(self, name)
            if value is not None:
                check(name, value)

    @property
    def queue_name(self) -> str:
        """The SQS queue name, also when ``queue`` is a URL (its last path segment)."""
        if is_url(self.queue):
            return urlsplit(self.queue).path.rstrip("/").rsplit("/", 1)[-1]
        return self.queue

    @property
    def is_fifo(self) -> bool:
        return self.queue_name.endswith(".fifo")


def flag(option: str) -> str:
    """The command-line flag of an option: ``--http-connections``, ``--cron`` for cron_path."""
    return "--cron" if option == "cron_path" else "--" + option.replace("_", "-")


def describe(option: str) -> str:
    """``http_connections (--http-connections, elasticjobs.sqsd.http_connections)``."""
    return f"{option} ({flag(option)}, {SETTINGS_PREFIX}{option})"


def accepted_range(option: str) -> str:
    """``1-100`` for http_connections."""
    low, high = RANGES[option]
    return f"{_number(low)}-{_number(high)}"


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_queue(name: str, value: str) -> None:
    if is_url(value):
        parts = urlsplit(value)
        if parts.netloc and _QUEUE_NAME.fullmatch(parts.path.rstrip("/").rsplit("/", 1)[-1]):
            return
    elif _QUEUE_NAME.fullmatch(value):
        return
    raise ConfigurationError(
        f"{describe(name)} = {value!r} is neither a queue name nor a queue URL; give a name "
        "of 1-80 letters, digits, '-' or '_' (plus '.fifo' for a FIFO queue), or the URL "
        "that CreateQueue/GetQueueUrl returned"
    )


def _check_region(name: str, value: str) -> None:
    if not _REGION.fullmatch(value):
        raise ConfigurationError(
            f"{describe(name)} = {value!r} is not an AWS region name; use a name like us-east-1"
        )


def _check_endpoint(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"{describe(name)} = {value!r} is not an http(s) URL; give e.g. "
            "http://127.0.0.1:5000 for a local SQS, or leave it unset for AWS"
        )


def _check_worker_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise ConfigurationError(
            f"{describe(name)} = {value!r} is not http://host:port; give e.g. "
            "http://127.0.0.1:6543 and put the path in http_path (the daemon speaks plain "
            "HTTP to an app on the same machine)"
        )
    try:
        parts.port  # noqa: B018 - urlsplit validates the port only when it is read
    except ValueError:
        raise ConfigurationError(
            f"{describe(name)} = {value!r} has an invalid port; give a port from 1 to 65535"
        ) from None


def _check_path(name: str, value: str) -> None:
    if not value.startswith("/") or any(char.isspace() for char in value):
        raise ConfigurationError(
            f"{describe(name)} = {value!r} is not a URL path; give a path such as / or /jobs"
        )


def _check_header_value(name: str, value: str) -> None:
    if not value.strip() or _CONTROL.search(value):
        raise ConfigurationError(
            f"{describe(name)} = {value!r} cannot be sent as an HTTP header; give a non-empty "
            "value without control characters"
        )


def _check_mime_type(name: str, value: str) -> None:
    _check_header_value(name, value)
    if "/" not in value:
        raise ConfigurationError(
            f"{describe(name)} = {value!r} is not a MIME type; give e.g. application/json"
        )


def _check_cron_path(name: str, value: str) -> None:
    if not value.strip():
        raise ConfigurationError(
            f"{describe(name)} is empty; give the path of a cron.yaml file, or leave it unset"
        )


_TEXT_CHECKS: Mapping[str, Callable[[str, str], None]] = {
    "queue": _check_queue,
    "region": _check_region,
    "endpoint_url": _check_endpoint,
    "worker_url": _check_worker_url,
    "http_path": _check_path,
    "mime_type": _check_mime_type,
    "user_agent": _check_header_value,
    "cron_path": _check_cron_path,
}

#: Numeric options -> int or float, read from the dataclass (its annotations are strings).
_FIELD_TYPES: Mapping[str, Callable[[str], Any]] = {
    field.name: {"int": int, "float": float}[str(field.type)]
    for field in dataclasses.fields(DaemonOptions)
    if str(field.type) in ("int", "float")
}

_REQUIRED: Mapping[str, str] = {
    "queue": "pass --queue NAME (or the queue URL), or a config file whose [app:main] sets "
    "elasticjobs.sqsd.queue or the application's elasticjobs.default_queue",
    "region": "pass --region (e.g. us-east-1), set AWS_REGION, or give a config file whose "
    "[app:main] sets elasticjobs.aws_region",
}

OPTION_NAMES = tuple(field.name for field in dataclasses.fields(DaemonOptions))


def options_from_settings(
    settings: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> DaemonOptions:
    """Build options from ini settings, the environment and command-line overrides.

    Precedence, highest first: ``overrides`` (values that are None are ignored),
    ``elasticjobs.sqsd.<option>``, then what the application itself reads: region
    from ``AWS_REGION``, ``elasticjobs.aws_region``, ``AWS_DEFAULT_REGION``; endpoint
    from ``ELASTICJOBS_ENDPOINT_URL``, ``elasticjobs.endpoint_url``; queue from
    ``elasticjobs.queue_prefix`` + ``elasticjobs.default_queue`` (``default`` when
    the settings hold any application key, as the app does).
    Unknown ``elasticjobs.sqsd.*`` keys warn (:class:`UnknownSettingWarning`).
    """
    environ = environ if environ is not None else {}
    raw: dict[str, Any] = {}
    for key, value in settings.items():
        if not key.startswith(SETTINGS_PREFIX):
            continue
        option = key[len(SETTINGS_PREFIX) :]
        if option not in OPTION_NAMES:
            warnings.warn(
                f"unknown setting {key} ignored; known settings: "
                + ", ".join(SETTINGS_PREFIX + name for name in OPTION_NAMES),
                UnknownSettingWarning,
                stacklevel=2,
            )
            continue
        raw[option] = value
    raw.update({key: value for key, value in (overrides or {}).items() if value is not None})
    values: dict[str, Any] = {
        name: _text(value) for name, value in raw.items() if _text(value) != ""
    }
    values.setdefault("region", _app_region(settings, environ))
    values.setdefault("endpoint_url", _app_endpoint(settings, environ))
    values.setdefault("queue", _app_queue(settings))
    for name, hint in _REQUIRED.items():
        if not values[name]:
            raise ConfigurationError(f"{describe(name)} is not set: {hint}")
    if not values["endpoint_url"]:
        values["endpoint_url"] = None
    for name, convert in _FIELD_TYPES.items():
        if name in values:
            values[name] = _convert(name, values[name], convert)
    return DaemonOptions(**values)


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _app_region(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    return (
        environ.get("AWS_REGION")
        or _text(settings.get("elasticjobs.aws_region"))
        or environ.get("AWS_DEFAULT_REGION")
        or ""
    )


def _app_endpoint(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    return environ.get("ELASTICJOBS_ENDPOINT_URL") or _text(
        settings.get("elasticjobs.endpoint_url")
    )


def _app_queue(settings: Mapping[str, Any]) -> str:
    app_keys = (key for key in settings if not key.startswith(SETTINGS_PREFIX))
    if not any(key.startswith("elasticjobs.") for key in app_keys):
        return ""
    default_queue = _text(settings.get("elasticjobs.default_queue")) or "default"
    return _text(settings.get("elasticjobs.queue_prefix")) + default_queue


def _convert(name: str, value: str, convert: Callable[[str], Any]) -> Any:
    try:
        return convert(value)
    except ValueError:
        low, high = RANGES[name]
        kind = "a whole number" if convert is int else "a number"
        raise ConfigurationError(
            f"{describe(name)} = {value!r} is not {kind}; give {_number(low)} to {_number(high)}"
        ) from None
