"""The ``elasticjobs.dashboard.*`` keys: typed, frozen, errors naming the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.settings import (
    PREFIX,
    namespace_settings,
    parse_bool,
    parse_int,
    parse_queue_name,
)

NAMESPACE = "dashboard."
DEFAULT_PATH = "/elasticjobs"
DEFAULT_VIEW_PERMISSION = "elasticjobs.view"
DEFAULT_MANAGE_PERMISSION = "elasticjobs.manage"
DEFAULT_PAGE_SIZE = 50
DEFAULT_REFRESH_SECONDS = 5
#: Dead letters received (and released at once) to show one dead-letter queue.
DEFAULT_SAMPLE_SIZE = 20
#: Each receive's long poll: above 0, SQS asks all its servers, not a sample of them.
DEFAULT_RECEIVE_WAIT_SECONDS = 1
#: Redrives of everything matching a filter send at most this many messages a second ...
DEFAULT_REDRIVE_RATE = 10
#: ... and look at most at this many messages per request (the page offers to go on).
DEFAULT_REDRIVE_BATCH = 100


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """Where the dashboard is mounted and who may look and act."""

    path: str
    view_permission: str
    manage_permission: str
    allow_anonymous: bool
    read_only: bool
    queues: tuple[str, ...]
    page_size: int
    refresh_seconds: int
    sample_size: int = DEFAULT_SAMPLE_SIZE
    receive_wait_seconds: int = DEFAULT_RECEIVE_WAIT_SECONDS
    redrive_rate: int = DEFAULT_REDRIVE_RATE
    redrive_batch: int = DEFAULT_REDRIVE_BATCH


def parse_dashboard_settings(settings: Mapping[str, Any]) -> DashboardSettings:
    """Read ``elasticjobs.dashboard.*``; :class:`ConfigurationError` names the key at fault."""
    raw = namespace_settings(settings, NAMESPACE, _KNOWN, "the dashboard")
    return DashboardSettings(
        path=_path(raw.get("path")),
        view_permission=_permission(
            "view_permission", raw.get("view_permission"), DEFAULT_VIEW_PERMISSION
        ),
        manage_permission=_permission(
            "manage_permission", raw.get("manage_permission"), DEFAULT_MANAGE_PERMISSION
        ),
        allow_anonymous=parse_bool(
            NAMESPACE + "allow_anonymous", raw.get("allow_anonymous"), False
        ),
        read_only=parse_bool(NAMESPACE + "read_only", raw.get("read_only"), False),
        queues=tuple(
            parse_queue_name(NAMESPACE + "queues", name, "")
            for name in str(raw.get("queues") or "").replace(",", " ").split()
        ),
        page_size=parse_int(
            NAMESPACE + "page_size", raw.get("page_size"), DEFAULT_PAGE_SIZE, 10, 500
        ),
        refresh_seconds=parse_int(
            NAMESPACE + "refresh_seconds",
            raw.get("refresh_seconds"),
            DEFAULT_REFRESH_SECONDS,
            0,
            3600,
        ),
        sample_size=parse_int(
            NAMESPACE + "sample_size", raw.get("sample_size"), DEFAULT_SAMPLE_SIZE, 1, 200
        ),
        receive_wait_seconds=parse_int(
            NAMESPACE + "receive_wait_seconds",
            raw.get("receive_wait_seconds"),
            DEFAULT_RECEIVE_WAIT_SECONDS,
            0,
            20,
        ),
        redrive_rate=parse_int(
            NAMESPACE + "redrive_rate", raw.get("redrive_rate"), DEFAULT_REDRIVE_RATE, 1, 500
        ),
        redrive_batch=parse_int(
            NAMESPACE + "redrive_batch", raw.get("redrive_batch"), DEFAULT_REDRIVE_BATCH, 1, 5000
        ),
    )


_KNOWN = frozenset(
    {
        "path",
        "view_permission",
        "manage_permission",
        "allow_anonymous",
        "read_only",
        "queues",
        "page_size",
        "refresh_seconds",
        "sample_size",
        "receive_wait_seconds",
        "redrive_rate",
        "redrive_batch",
    }
)


def _path(value: Any) -> str:
    path = str(value or DEFAULT_PATH).strip().rstrip("/")
    if not path.startswith("/") or any(char.isspace() or char in "?#{}" for char in path):
        raise ConfigurationError(
            f"{PREFIX}{NAMESPACE}path = {value!r} is not a URL path; give e.g. {DEFAULT_PATH}"
        )
    return path


def _permission(key: str, value: Any, default: str) -> str:
    permission = str(value or default).strip()
    if not permission or any(char.isspace() for char in permission):
        raise ConfigurationError(
            f"{PREFIX}{NAMESPACE}{key} = {value!r} is not a permission name; give e.g. {default}"
        )
    return permission
