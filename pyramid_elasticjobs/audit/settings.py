"""The ``elasticjobs.audit.*`` keys, parsed like the core's: typed, frozen, naming the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.settings import (
    AUDIT_URL_VARIABLE as URL_VARIABLE,
)
from pyramid_elasticjobs.settings import (
    PREFIX,
    audit_url,
    namespace_settings,
    parse_bool,
    parse_float,
    parse_int,
)

NAMESPACE = "audit."

DEFAULT_RETENTION_DAYS = 30
DEFAULT_PRUNE_BATCH = 5_000
#: After a failed write the log stops trying for this long, so jobs never wait on a dead
#: database; then the next write tries again.
DEFAULT_PAUSE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """Where the audit log lives and how long it keeps records."""

    url: str = field(repr=False)  # may carry a database password
    retention_days: int
    auto_upgrade: bool
    prune_batch: int
    pause_seconds: float

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for messages."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)


def parse_audit_settings(
    settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> AuditSettings:
    """Read ``elasticjobs.audit.*``; :class:`ConfigurationError` names the key at fault."""
    environ = environ if environ is not None else {}
    raw = namespace_settings(settings, NAMESPACE, _KNOWN, "the audit log")
    url = audit_url(settings, environ)
    if not url:
        raise ConfigurationError(
            f"{PREFIX}{NAMESPACE}url (or the {URL_VARIABLE} environment variable) is not set: "
            "give a SQLAlchemy URL such as sqlite:///%(here)s/elasticjobs.sqlite or "
            "postgresql+psycopg://user@host/dbname"
        )
    _check_url(url)
    return AuditSettings(
        url=url,
        retention_days=parse_int(
            NAMESPACE + "retention_days", raw.get("retention_days"), DEFAULT_RETENTION_DAYS, 1, 3650
        ),
        auto_upgrade=parse_bool(NAMESPACE + "auto_upgrade", raw.get("auto_upgrade"), False),
        prune_batch=parse_int(
            NAMESPACE + "prune_batch", raw.get("prune_batch"), DEFAULT_PRUNE_BATCH, 100, 100_000
        ),
        pause_seconds=parse_float(
            NAMESPACE + "pause_seconds", raw.get("pause_seconds"), DEFAULT_PAUSE_SECONDS, 0.0, 300.0
        ),
    )


_KNOWN = frozenset({"url", "retention_days", "auto_upgrade", "prune_batch", "pause_seconds"})


def _check_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"{PREFIX}{NAMESPACE}url is not a SQLAlchemy URL; give e.g. "
            "sqlite:////var/app/elasticjobs.sqlite or postgresql+psycopg://user@host/dbname"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"{PREFIX}{NAMESPACE}url uses {parsed.get_backend_name()!r}; the audit log supports "
            "sqlite and postgresql"
        )
