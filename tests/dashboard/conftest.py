"""Fixtures of the dashboard's tests: an app with the audit log on SQLite, moto's SQS with a
dead-letter queue, a session factory and a real ACL security policy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyramid.config import Configurator
from pyramid.session import SignedCookieSessionFactory
from sqlalchemy import Engine
from webtest import TestApp

from pyramid_elasticjobs.audit.engine import engine_for_url
from pyramid_elasticjobs.audit.migrate import upgrade
from pyramid_elasticjobs.audit.store import AuditStore, get_audit_store

from .support import (
    DEAD_LETTER_SUFFIX,
    MAX_RECEIVE_COUNT,
    NOBODY,
    OPERATOR,
    VIEWER,
    HeaderSecurityPolicy,
    Queues,
    Root,
    browser,
    redrive_policy,
)


@pytest.fixture
def audit_url(tmp_path: Path) -> str:
    """A SQLite audit log of the test's own, migrated to head."""
    url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    engine: Engine = engine_for_url(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def queues(sqs: Any, make_queue: Callable[..., str]) -> Queues:
    dead = make_queue(DEAD_LETTER_SUFFIX, MessageRetentionPeriod="1209600")
    default = make_queue("default", RedrivePolicy=redrive_policy(sqs, dead, MAX_RECEIVE_COUNT))
    return Queues(default=default, dead=dead, images=make_queue("images"))


@pytest.fixture
def make_dashboard(
    make_app: Callable[..., Any], audit_url: str, queues: Queues
) -> Iterator[Callable[..., Any]]:
    """Build an app with the dashboard: secured and with sessions unless told otherwise."""
    stores: list[AuditStore] = []

    def make_dashboard(*, secured: bool = True, sessions: bool = True, **overrides: str) -> Any:
        def configure(config: Configurator) -> None:
            if secured:
                config.set_root_factory(Root)
                config.set_security_policy(HeaderSecurityPolicy())
            if sessions:
                config.set_session_factory(
                    SignedCookieSessionFactory("dashboard-tests-0123456789", secure=False)
                )
            config.include("pyramid_elasticjobs.dashboard")

        settings = {
            "elasticjobs.audit.url": audit_url,
            # moto answers every receive at once: no long poll needed to see every message.
            "elasticjobs.dashboard.receive_wait_seconds": "0",
            **overrides,
        }
        app = make_app(configure, **settings)
        stores.append(get_audit_store(app.registry))
        return app

    yield make_dashboard
    for store in stores:
        store.engine.dispose()


@pytest.fixture
def dashboard_app(make_dashboard: Callable[..., Any]) -> Any:
    return make_dashboard()


@pytest.fixture
def store(dashboard_app: Any) -> AuditStore:
    return get_audit_store(dashboard_app.registry)


@pytest.fixture
def viewer(dashboard_app: Any) -> TestApp:
    return browser(dashboard_app, VIEWER)


@pytest.fixture
def operator(dashboard_app: Any) -> TestApp:
    return browser(dashboard_app, OPERATOR)


@pytest.fixture
def nobody(dashboard_app: Any) -> TestApp:
    return browser(dashboard_app, NOBODY)
