"""The audit log: what ran, what failed, why, and what died, recorded with SQLAlchemy.

``config.include("pyramid_elasticjobs.audit")``, or just set ``elasticjobs.audit.url``:
then ``config.include("pyramid_elasticjobs")`` includes it. Needs the ``audit`` extra
(SQLAlchemy, alembic). The core never imports this package.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pyramid.config import PHASE1_CONFIG

from pyramid_elasticjobs.ledger import LEDGER_KEY

from .engine import create_audit_engine
from .settings import AuditSettings, parse_audit_settings
from .store import STORE_KEY, AuditStore, get_audit_store
from .subscribers import AuditRecorder

if TYPE_CHECKING:
    from pyramid.config import Configurator

__all__ = ["AuditSettings", "AuditStore", "get_audit_store", "includeme"]

SETTINGS_KEY = "elasticjobs.audit.settings"


def includeme(config: Configurator) -> None:
    """Record every job event in the audit log; its settings are read at commit."""
    AuditRecorder(config.registry).subscribe(config)

    def register() -> None:
        settings = parse_audit_settings(config.get_settings(), os.environ)
        engine = create_audit_engine(settings)
        if settings.auto_upgrade:
            from .migrate import upgrade

            upgrade(engine)
        store = AuditStore(engine, pause_seconds=settings.pause_seconds)
        config.registry[SETTINGS_KEY] = settings
        config.registry[STORE_KEY] = store
        config.registry[LEDGER_KEY] = store

    # After the core's own settings (same phase, later action), before any tween is built.
    config.action("elasticjobs.audit.settings", register, order=PHASE1_CONFIG)
