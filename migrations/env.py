"""Alembic's environment for the audit log.

pyramid_elasticjobs (``elasticjobs db``, ``auto_upgrade``) hands it an engine through
``config.attributes["engine"]``. Run by the ``alembic`` command instead, it connects to the
ini's ``sqlalchemy.url``. Either way the history lives in ``elasticjobs_alembic_version``
unless ``version_table`` says otherwise: never in the host application's ``alembic_version``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.util.exc import CommandError
from sqlalchemy import Engine

from pyramid_elasticjobs.audit.engine import engine_for_url
from pyramid_elasticjobs.audit.migrate import VERSION_TABLE
from pyramid_elasticjobs.audit.models import Base

config = context.config


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    """Only our tables: the host application's live in the same database."""
    return type_ != "table" or (name or "").startswith("elasticjobs_")


def _engine() -> tuple[Engine, bool]:
    """The engine to migrate, and whether it is ours to dispose of."""
    given: Engine | None = config.attributes.get("engine")
    if given is not None:
        return given, False
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise CommandError(
            "no database to migrate: set sqlalchemy.url in the alembic ini file, or run "
            "`elasticjobs db upgrade INI`, which reads elasticjobs.audit.url"
        )
    return engine_for_url(url), True


engine, owned = _engine()
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=config.get_main_option("version_table") or VERSION_TABLE,
            include_name=_ours,
            render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    if owned:
        engine.dispose()
