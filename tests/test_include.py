"""config.include('pyramid_elasticjobs'): what it adds to an application."""

from __future__ import annotations

from typing import Any

import pytest
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationExecutionError
from pyramid.interfaces import IRequestExtensions
from pyramid.scripting import prepare

from pyramid_elasticjobs import ConfigurationError, JobClient, get_client
from pyramid_elasticjobs.runtime import RUNTIME_KEY


def test_request_has_a_client(app: Any) -> None:
    """request.elasticjobs is a JobClient for the app's registry."""
    env = prepare(registry=app.registry)
    try:
        assert isinstance(env["request"].elasticjobs, JobClient)
        assert env["request"].elasticjobs.registry is app.registry
    finally:
        env["closer"]()


def test_client_is_not_a_request_property(app: Any) -> None:
    """Not a reified property: those make Pyramid build a request class per request."""
    extensions = app.registry.getUtility(IRequestExtensions)
    assert "elasticjobs" not in extensions.descriptors
    assert "elasticjobs" in extensions.methods


def test_settings_can_change_after_include(settings: dict[str, str]) -> None:
    """Settings are read at commit, so an app may still adjust them after the include."""
    config = Configurator(settings=settings)
    config.include("pyramid_elasticjobs")
    config.get_settings()["elasticjobs.default_queue"] = "late"
    config.commit()
    assert config.registry[RUNTIME_KEY].settings.default_queue == "late"


def test_bad_settings_fail_at_start_up(settings: dict[str, str]) -> None:
    """An invalid setting stops the app from being built."""
    with (
        pytest.raises(ConfigurationExecutionError, match=r"elasticjobs\.max_message_bytes = 'x'"),
        Configurator(settings={**settings, "elasticjobs.max_message_bytes": "x"}) as config,
    ):
        config.include("pyramid_elasticjobs")


def test_client_without_include_explains_what_is_missing() -> None:
    """get_client on an app without the include says to include it."""
    with pytest.raises(ConfigurationError, match=r"config\.include\('pyramid_elasticjobs'\)"):
        get_client(Configurator().registry)


@pytest.mark.parametrize("explicit", [False, True], ids=["by its URL alone", "also included"])
def test_audit_url_includes_the_audit_log_once(
    settings: dict[str, str], tmp_path: Any, explicit: bool
) -> None:
    """elasticjobs.audit.url brings the audit log in; including it as well subscribes it once."""
    from zope.interface import providedBy

    from pyramid_elasticjobs import JobEnqueued
    from pyramid_elasticjobs.ledger import get_ledger

    audit = {"elasticjobs.audit.url": f"sqlite:///{tmp_path}/audit.sqlite"}
    with Configurator(settings={**settings, **audit}) as config:
        config.include("pyramid_elasticjobs")
        if explicit:
            config.include("pyramid_elasticjobs.audit")
    registry = config.registry
    assert get_ledger(registry) is not None
    event = JobEnqueued.__new__(JobEnqueued)
    subscribers = registry.adapters.subscriptions((providedBy(event),), None)
    assert len(subscribers) == 1


def test_without_an_audit_url_the_audit_log_stays_out(app: Any) -> None:
    """No URL, no audit log: no ledger, and SQLAlchemy is not needed."""
    from pyramid_elasticjobs.ledger import get_ledger

    assert get_ledger(app.registry) is None
