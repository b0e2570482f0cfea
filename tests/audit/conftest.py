"""Fixtures of the audit log's tests: each test runs on SQLite and on a real PostgreSQL.

PostgreSQL tests need ELASTICJOBS_TEST_POSTGRESQL_URL (``bash .ci/run`` sets it): without it
they skip locally, and fail under ``CI=true``, where a missing server is a broken CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from pyramid_elasticjobs.audit.migrate import upgrade
from pyramid_elasticjobs.audit.store import AuditStore, get_audit_store

from .support import (
    HOW_TO_RUN_POSTGRESQL,
    RUNS,
    Outage,
    add_audit_jobs,
    create_database,
    drop_database,
    engine_for,
    postgresql_server_url,
)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.sqlite'}"
        return
    server_url = postgresql_server_url()
    if server_url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test on PostgreSQL. {HOW_TO_RUN_POSTGRESQL}")
        pytest.skip(HOW_TO_RUN_POSTGRESQL)
    url = create_database(server_url)
    yield url
    drop_database(server_url, url)


@pytest.fixture
def database(database_url: str) -> Iterator[Engine]:
    """The test database with the audit log's schema (migrated to head): the test's engine."""
    with engine_for(database_url) as engine:
        upgrade(engine)
        yield engine


@pytest.fixture
def outage(database: Engine, database_url: str) -> Iterator[Outage]:
    """The test database, which the test can make fail and come back (see Outage)."""
    outage = Outage(database_url, database)
    yield outage
    outage.close()


@pytest.fixture
def audit_runs() -> Iterator[list[str]]:
    """The job ids of the runs of tests/audit/support.py's jobs during this test."""
    RUNS.clear()
    yield RUNS
    RUNS.clear()


@pytest.fixture
def make_audit_app(
    make_app: Callable[..., Any], make_queue: Callable[..., str], audit_runs: list[str]
) -> Iterator[Callable[..., Any]]:
    """Build an app whose audit log is at ``url`` (its engine disposed after the test)."""
    make_queue("default")
    make_queue("images")
    stores: list[AuditStore] = []

    def make_audit_app(url: str, **overrides: str) -> Any:
        app = make_app(add_audit_jobs, **{"elasticjobs.audit.url": url, **overrides})
        stores.append(get_audit_store(app.registry))
        return app

    yield make_audit_app
    for store in stores:
        store.engine.dispose()


@pytest.fixture
def audit_app(make_audit_app: Callable[..., Any], database: Engine, database_url: str) -> Any:
    """An app recording into the test database."""
    return make_audit_app(database_url)


@pytest.fixture
def store(audit_app: Any) -> AuditStore:
    return get_audit_store(audit_app.registry)
