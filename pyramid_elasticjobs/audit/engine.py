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
#: PostgreSQL's counterpart: a write queued behind a lock (a migration, an operator's long
#: transaction) gives up after this long, and the store logs it, instead of holding the job.
POSTGRESQL_LOCK_TIMEOUT_MS = 5_000
#: A PostgreSQL server that vanished without closing its connections (a network partition,
#: a failover) is given up after this long, not after the kernel's retransmissions (minutes).
POSTGRESQL_TCP_TIMEOUT_SECONDS = 10


def create_audit_engine(settings: AuditSettings) -> Engine:
    return engine_for_url(settings.url)


def engine_for_url(url: str, **options: Any) -> Engine:
    """An engine tuned for many short transactions from worker threads."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            # libpq's own settings, on the client side: they hold behind a pooler too.
            "keepalives": 1,
            "keepalives_idle": POSTGRESQL_TCP_TIMEOUT_SECONDS // 2,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": POSTGRESQL_TCP_TIMEOUT_SECONDS * 1000,
        },
        **options,
    )
    event.listen(engine, "connect", _postgresql_session)
    return engine


def _postgresql_session(connection: Any, record: Any) -> None:
    # Set once per connection (not per transaction: no round trip on a job's path). A SET
    # after connecting, not a startup option, which poolers such as PgBouncer refuse.
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = {POSTGRESQL_LOCK_TIMEOUT_MS}")
    connection.commit()  # outside a committed transaction the SET would be rolled back


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    # WAL lets readers (the dashboard) run while a worker writes; NORMAL is durable in WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
