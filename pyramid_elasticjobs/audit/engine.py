"""The audit log's own engine: never the application's session, so a job's rollback keeps
the record of its failure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

from .settings import AuditSettings

#: How long a connection may wait for the database: a job never waits longer on the log.
CONNECT_TIMEOUT_SECONDS = 3
#: SQLite writers wait this long for each other's locks (50 workers on one file).
SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_audit_engine(settings: AuditSettings) -> Engine:
    return engine_for_url(settings.url)


def engine_for_url(url: str, **options: Any) -> Engine:
    """An engine tuned for many short transactions from worker threads."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        **options,
    )


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    # WAL lets readers (the dashboard) run while a worker writes; NORMAL is durable in WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
