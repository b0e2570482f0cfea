"""The local daemon's options: aws-sqsd's (``aws:elasticbeanstalk:sqsd``) under local names.

One frozen object validates (and types) itself, so options built in code and options
read from an ini file fail the same way; :func:`options_from_settings` is the pure
function that reads ``elasticjobs.sqsd.<option>`` keys and command-line overrides.
Region, endpoint, queue names and numbers are checked by the application's own
validators (:mod:`pyramid_elasticjobs.settings`), so both speak one vocabulary.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pyramid_elasticjobs import defaults as core_defaults
from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.settings import (
    ENVIRONMENT_OVERRIDES,
    PREFIX,
    parse_endpoint_url,
    parse_float,
    parse_int,
    parse_queue_name,
    parse_region,
)

from . import defaults
from .defaults import RANGES

log = logging.getLogger("pyramid_elasticjobs.daemon")

#: The daemon's keys are ``elasticjobs.sqsd.<option>``; the validators add ``elasticjobs.``.
NAMESPACE = "sqsd."
SETTINGS_PREFIX = PREFIX + NAMESPACE

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

__all__ = [
    "RANGES",
    "SETTINGS_PREFIX",
    "DaemonOptions",
    "accepted_range",
    "flag",
    "options_from_settings",
]


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """How the local daemon polls one queue and posts to one application.

    Numbers may be given as text (as an ini file holds them): they are converted.
    Raises :class:`ConfigurationError` naming the option and what it accepts.
    """

    queue: str  # queue name or full queue URL
    region: str
    endpoint_url: str | None = None  # None = real AWS
    worker_url: str = defaults.WORKER_URL
    http_path: str = defaults.HTTP_PATH
    mime_type: str = defaults.MIME_TYPE
    http_connections: int = defaults.HTTP_CONNECTIONS
    connect_timeout: float = defaults.CONNECT_TIMEOUT
    inactivity_timeout: float = defaults.INACTIVITY_TIMEOUT
    visibility_timeout: int = defaults.VISIBILITY_TIMEOUT
    error_visibility_timeout: int = defaults.ERROR_VISIBILITY_TIMEOUT
    max_retries: int = defaults.MAX_RETRIES
    cron_path: str | None = None
    wait_time_seconds: int = defaults.WAIT_TIME_SECONDS
    summary_interval: float = defaults.SUMMARY_INTERVAL
    user_agent: str = defaults.USER_AGENT

    def __post_init__(self) -> None:
        for name, parse in _PARSERS.items():
            value = getattr(self, name)
            if value is not None:
                # Frozen: the typed value replaces the given one (text from an ini file).
                object.__setattr__(self, name, _parsed(name, parse, value))

    @property
    def queue_name(self) -> str:
        """The SQS queue name, also when ``queue`` is a URL (its last path segment)."""
        return _queue_name_of(self.queue) if is_url(self.queue) else self.queue

    @property
    def is_fifo(self) -> bool:
        return self.queue_name.endswith(".fifo")


def flag(option: str) -> str:
    """The command-line flag of an option: ``--http-connections``, ``--cron`` for cron_path."""
    return "--cron" if option == "cron_path" else "--" + option.replace("_", "-")


def accepted_range(option: str) -> str:
    """``1-100`` for http_connections."""
    low, high = RANGES[option]
    return f"{low}-{high}"


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _queue_name_of(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def _parsed(name: str, parse: Callable[[str, Any], Any], value: Any) -> Any:
    """Run a validator; its message names the ini key, and here gains the flag."""
    try:
        return parse(NAMESPACE + name, value)
    except ConfigurationError as error:
        raise ConfigurationError(f"{flag(name)} or {error}") from None


def _ini_key(key: str) -> str:
    """The ini key as the application's validators name it (``elasticjobs.sqsd.queue``)."""
    return PREFIX + key


# -- checks of the daemon's own options (same message form as the application's) ---------


def _parse_queue(key: str, value: Any) -> str:
    text = str(value).strip()
    if not is_url(text):
        return parse_queue_name(key, text, "")
    name = _queue_name_of(text)
    try:
        parse_queue_name(key, name, "")
    except ConfigurationError:
        raise ConfigurationError(
            f"{_ini_key(key)} = {text!r} is not a queue URL (its last path segment "
            f"{name!r} is not a queue name); give the URL that CreateQueue or GetQueueUrl "
            "returned, or the queue's name"
        ) from None
    return text


def _parse_worker_url(key: str, value: Any) -> str:
    text = str(value).strip()
    parts = urlsplit(text)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise ConfigurationError(
            f"{_ini_key(key)} = {text!r} is not http://host:port; give e.g. "
            "http://127.0.0.1:6543 and put the path in http_path (the daemon speaks plain "
            "HTTP to an app on the same machine)"
        )
    try:
        parts.port  # noqa: B018 - urlsplit validates the port only when it is read
    except ValueError:
        raise ConfigurationError(
            f"{_ini_key(key)} = {text!r} has an invalid port; give a port from 1 to 65535"
        ) from None
    return text


def _parse_path(key: str, value: Any) -> str:
    text = str(value).strip()
    if not text.startswith("/") or any(char.isspace() for char in text):
        raise ConfigurationError(
            f"{_ini_key(key)} = {text!r} is not a URL path; give a path such as / or /jobs"
        )
    return text


def _parse_header_value(key: str, value: Any) -> str:
    text = str(value)
    if not text.strip() or _CONTROL.search(text):
        raise ConfigurationError(
            f"{_ini_key(key)} = {text!r} cannot be sent as an HTTP header; give a non-empty "
            "value without control characters"
        )
    return text.strip()


def _parse_mime_type(key: str, value: Any) -> str:
    text = _parse_header_value(key, value)
    if "/" not in text:
        raise ConfigurationError(
            f"{_ini_key(key)} = {text!r} is not a MIME type; give e.g. application/json"
        )
    return text


def _parse_cron_path(key: str, value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ConfigurationError(
            f"{_ini_key(key)} is empty; give the path of a cron.yaml file, or leave it unset"
        )
    return text


def _parse_endpoint(key: str, value: Any) -> str | None:
    return parse_endpoint_url(key, value)


def _number_parser(option: str, kind: type) -> Callable[[str, Any], Any]:
    low, high = RANGES[option]
    default = _FIELD_DEFAULTS[option]
    if kind is int:
        return lambda key, value: parse_int(key, value, default, int(low), int(high))
    return lambda key, value: parse_float(key, value, default, low, high)


_FIELD_DEFAULTS: Mapping[str, Any] = {
    field.name: field.default for field in dataclasses.fields(DaemonOptions)
}

_PARSERS: Mapping[str, Callable[[str, Any], Any]] = {
    "queue": _parse_queue,
    "region": parse_region,
    "endpoint_url": _parse_endpoint,
    "worker_url": _parse_worker_url,
    "http_path": _parse_path,
    "mime_type": _parse_mime_type,
    "user_agent": _parse_header_value,
    "cron_path": _parse_cron_path,
    **{
        field.name: _number_parser(field.name, {"int": int, "float": float}[str(field.type)])
        for field in dataclasses.fields(DaemonOptions)
        if field.name in RANGES
    },
}

OPTION_NAMES = tuple(field.name for field in dataclasses.fields(DaemonOptions))

_REQUIRED: Mapping[str, str] = {
    "queue": "pass --queue NAME (or the queue URL), or a config file whose [app:main] sets "
    "elasticjobs.sqsd.queue or the application's elasticjobs.default_queue",
    "region": "pass --region (e.g. us-east-1), set AWS_REGION, or give a config file whose "
    "[app:main] sets elasticjobs.aws_region",
}


# -- reading settings ---------------------------------------------------------------------


def options_from_settings(
    settings: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> DaemonOptions:
    """Build options from ini settings, the environment and command-line overrides.

    Precedence, highest first: ``overrides`` (values that are None are ignored),
    ``elasticjobs.sqsd.<option>``, then what the application itself reads (with the
    environment variables of :data:`~pyramid_elasticjobs.settings.ENVIRONMENT_OVERRIDES`
    winning over its keys, as in the application): the region, the endpoint, and the
    queue ``elasticjobs.queue_prefix`` + ``elasticjobs.default_queue`` (``default``
    when the settings hold any application key, as the app does).
    Each unknown ``elasticjobs.sqsd.*`` key is logged as a warning, naming the likely key.
    """
    environ = environ if environ is not None else {}
    raw = _sqsd_settings(settings)
    raw.update({key: value for key, value in (overrides or {}).items() if value is not None})
    values: dict[str, Any] = {
        name: _text(value) for name, value in raw.items() if _text(value) != ""
    }
    if "region" not in values:
        values["region"] = _app_region(settings, environ)
    if "endpoint_url" not in values:
        values["endpoint_url"] = _app_endpoint(settings, environ)
    if "queue" not in values:
        values["queue"] = _app_queue(settings)
    for name, hint in _REQUIRED.items():
        if not values[name]:
            raise ConfigurationError(f"{flag(name)} or {SETTINGS_PREFIX}{name} is not set: {hint}")
    return DaemonOptions(**values)


def _sqsd_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key, value in settings.items():
        if not key.startswith(SETTINGS_PREFIX):
            continue
        option = key[len(SETTINGS_PREFIX) :]
        if option in OPTION_NAMES:
            raw[option] = value
        else:
            log.warning("%s", _unknown_key_message(key))
    return raw


def _unknown_key_message(key: str) -> str:
    option = key[len(SETTINGS_PREFIX) :]
    close = difflib.get_close_matches(option, OPTION_NAMES, n=1, cutoff=0.5)
    hint = (
        f"did you mean {SETTINGS_PREFIX}{close[0]}?"
        if close
        else "known settings: " + ", ".join(SETTINGS_PREFIX + name for name in OPTION_NAMES)
    )
    return f"unknown setting {key} is ignored; {hint}"


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _app_setting(settings: Mapping[str, Any], environ: Mapping[str, str], key: str) -> str:
    """An application key, its environment variable winning as in the application."""
    variable = ENVIRONMENT_OVERRIDES.get(key)
    return (variable and environ.get(variable)) or _text(settings.get(PREFIX + key))


def _app_region(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    region = _app_setting(settings, environ, "aws_region") or environ.get("AWS_DEFAULT_REGION")
    # Checked under the application's key, so the error names where the value came from.
    return parse_region("aws_region", region) if region else ""


def _app_endpoint(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    return parse_endpoint_url("endpoint_url", _app_setting(settings, environ, "endpoint_url"))


def _app_queue(settings: Mapping[str, Any]) -> str:
    app_keys = (key for key in settings if not key.startswith(SETTINGS_PREFIX))
    if not any(key.startswith(PREFIX) for key in app_keys):
        return ""
    name = parse_queue_name(
        "default_queue", settings.get(PREFIX + "default_queue"), core_defaults.DEFAULT_QUEUE
    )
    return _text(settings.get(PREFIX + "queue_prefix")) + name
