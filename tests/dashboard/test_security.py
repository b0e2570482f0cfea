"""Secure by default: permissions on every page and action, CSRF, read-only mode, start-up
refusals, the anonymous banner and the security headers."""

from __future__ import annotations

from typing import Any

import pytest
from pyramid.exceptions import ConfigurationExecutionError
from webtest import TestApp

from pyramid_elasticjobs.audit.queries import AuditQueries
from pyramid_elasticjobs.audit.store import AuditStore
from pyramid_elasticjobs.exceptions import ConfigurationError

from .support import (
    ACTIONS,
    MANAGE_PAGES,
    NOBODY,
    OPERATOR,
    PAGES,
    VIEWER,
    Queues,
    World,
    browser,
    dead_letter,
    message_ids,
    record_job,
    visible,
)


@pytest.fixture
def world(
    dashboard_app: Any, store: AuditStore, queues: Queues, sqs: Any, operator: TestApp
) -> World:
    envelope = dead_letter(sqs, dashboard_app, queues.default)
    job_id = record_job(store, job_id=envelope.job_id, arguments={"image_id": 7})
    (message_id,) = message_ids(sqs, queues.dead)
    made = World(job_id, queues.dead_name, message_id)
    operator.get(made.path("/dead-letters/{dead}"))  # a snapshot, for the edit form
    return made


def assert_nothing_done(sqs: Any, queues: Queues, store: AuditStore) -> None:
    assert visible(sqs, queues.dead) == 1
    assert visible(sqs, queues.images) == 0
    assert AuditQueries(store.engine).actions() == []


@pytest.mark.parametrize("template", PAGES + MANAGE_PAGES)
def test_every_page_is_refused_without_the_view_permission(
    template: str, world: World, dashboard_app: Any
) -> None:
    """Someone logged in without a permission, and someone not logged in, get 403."""
    for user in (NOBODY, None):
        browser(dashboard_app, user).get(world.path(template), status=403)


@pytest.mark.parametrize("template", PAGES)
def test_every_page_is_shown_with_the_view_permission(
    template: str, world: World, viewer: TestApp
) -> None:
    """A viewer sees every page, with the security headers."""
    response = viewer.get(world.path(template), status=200)
    assert_security_headers(response)


def test_the_edit_form_needs_the_manage_permission(world: World, viewer: TestApp) -> None:
    """A viewer may look at dead letters, not open the form that changes one."""
    viewer.get(world.path(MANAGE_PAGES[0]), status=403)


@pytest.mark.parametrize("template", ACTIONS)
def test_every_action_is_refused_without_the_manage_permission(
    template: str, world: World, viewer: TestApp, sqs: Any, queues: Queues, store: AuditStore
) -> None:
    """A viewer's POST is refused and changes nothing (the permission is checked first)."""
    viewer.post(world.path(template), {"csrf_token": "any", **world.fields()}, status=403)
    assert_nothing_done(sqs, queues, store)


@pytest.mark.parametrize("template", ACTIONS)
def test_every_action_refuses_a_missing_or_wrong_csrf_token(
    template: str, world: World, operator: TestApp, sqs: Any, queues: Queues, store: AuditStore
) -> None:
    """Without the session's token, or with another one, an operator's POST is refused."""
    operator.post(world.path(template), world.fields(), status=400)
    operator.post(world.path(template), {"csrf_token": "forged", **world.fields()}, status=400)
    assert_nothing_done(sqs, queues, store)


@pytest.mark.parametrize("template", ACTIONS)
def test_a_get_never_acts(
    template: str, world: World, operator: TestApp, sqs: Any, queues: Queues, store: AuditStore
) -> None:
    """GET on an action's URL is no action (only the edit form answers a GET)."""
    status = 200 if template.endswith("/edit") else 404
    operator.get(world.path(template), {"message_id": world.message_id}, status=status)
    assert_nothing_done(sqs, queues, store)


def test_read_only_removes_every_action_and_refuses_them(
    make_dashboard: Any, queues: Queues, sqs: Any
) -> None:
    """No POST form on any page, every action and the edit form answer 404, nothing changes."""
    app = make_dashboard(**{"elasticjobs.dashboard.read_only": "true"})
    envelope = dead_letter(sqs, app, queues.default)
    from pyramid_elasticjobs.audit import get_audit_store

    store = get_audit_store(app.registry)
    job_id = record_job(store, job_id=envelope.job_id, arguments={"image_id": 7})
    (message_id,) = message_ids(sqs, queues.dead)
    world = World(job_id, queues.dead_name, message_id)
    operator = browser(app, OPERATOR)

    for template in PAGES:
        text = operator.get(world.path(template)).text
        assert 'method="post"' not in text
        if not template.endswith(".json"):
            assert "Read-only" in text
    for template in MANAGE_PAGES:
        operator.get(world.path(template), status=404)
    for template in ACTIONS:
        operator.post(world.path(template), world.fields(), status=404)
    assert_nothing_done(sqs, queues, store)


def test_without_a_security_policy_the_dashboard_refuses_to_start(make_dashboard: Any) -> None:
    """The error says how to add a policy, and names the development-only way out."""
    with pytest.raises(ConfigurationExecutionError) as error:
        make_dashboard(secured=False)
    assert isinstance(error.value.evalue, ConfigurationError)
    assert "needs a security policy" in str(error.value.evalue)
    assert "set_security_policy" in str(error.value.evalue)
    assert "allow_anonymous" in str(error.value.evalue)


def test_without_csrf_storage_the_dashboard_refuses_to_start_unless_read_only(
    make_dashboard: Any,
) -> None:
    """Actions need a session or a CSRF storage policy; a read-only dashboard needs neither."""
    with pytest.raises(ConfigurationExecutionError) as error:
        make_dashboard(sessions=False)
    assert isinstance(error.value.evalue, ConfigurationError)
    assert "set_session_factory" in str(error.value.evalue)
    make_dashboard(sessions=False, **{"elasticjobs.dashboard.read_only": "true"})


@pytest.mark.parametrize("template", PAGES)
def test_allow_anonymous_shows_a_banner_on_every_page(
    template: str, make_dashboard: Any, queues: Queues, sqs: Any
) -> None:
    """Without a policy but with allow_anonymous, every page says so."""
    app = make_dashboard(secured=False, **{"elasticjobs.dashboard.allow_anonymous": "true"})
    envelope = dead_letter(sqs, app, queues.default)
    from pyramid_elasticjobs.audit import get_audit_store

    record_job(get_audit_store(app.registry), job_id=envelope.job_id)
    world = World(envelope.job_id, queues.dead_name, "")
    response = browser(app, None).get(world.path(template))
    if template.endswith(".json"):
        return  # data, not a page
    assert "has no security policy" in response.html.find(class_="banner").text


def assert_security_headers(response: Any) -> None:
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_refusals_carry_the_security_headers_too(world: World, dashboard_app: Any) -> None:
    """A 403 and a 404 of the dashboard are framed and cached no more than its pages."""
    assert_security_headers(browser(dashboard_app, NOBODY).get(world.path("/"), status=403))
    assert_security_headers(
        browser(dashboard_app, VIEWER).get(world.path("/jobs/no-such-job"), status=404)
    )
