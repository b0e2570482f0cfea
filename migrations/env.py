"""Alembic's environment for the audit log: runs on the engine that pyramid_elasticjobs gives it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from pyramid_elasticjobs.audit.models import Base

config = context.config
engine: Engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=config.get_main_option("version_table"),
        # Only our tables: the host application's live in the same database.
        include_name=lambda name, type_, parent: (
            type_ != "table" or (name or "").startswith("elasticjobs_")
        ),
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
