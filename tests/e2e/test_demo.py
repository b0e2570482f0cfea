"""The demo app of development.ini, served by DevStack and used over real HTTP."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyramid.paster import get_appsettings

from pyramid_elasticjobs import JobRejected
from pyramid_elasticjobs.audit import get_audit_store
from pyramid_elasticjobs.devstack import DevStack
from pyramid_elasticjobs.devstack.apps import paste_app_factory
from tests.support import make_envelope

from .support import DAEMON_OPTIONS, DEVELOPMENT_INI, TIMEOUT, Browser, wait_for


@pytest.fixture
def demo(queue_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevStack]:
    """development.ini's demo app, on queues and an audit log of this test's own."""
    # The variable wins over the ini's URL: the tests never touch the developer's var/.
    monkeypatch.setenv("ELASTICJOBS_AUDIT_URL", f"sqlite:///{tmp_path}/audit.sqlite")
    build = paste_app_factory(str(DEVELOPMENT_INI))
    with DevStack(
        get_appsettings(str(DEVELOPMENT_INI)),
        app_factory=lambda overrides: build(
            {**overrides, "elasticjobs.queue_prefix": queue_prefix}
        ),
        daemon_overrides=DAEMON_OPTIONS,
    ) as stack:
        yield stack


@pytest.fixture
def browser(demo: DevStack) -> Browser:
    return Browser(demo.app_url)


def test_the_page_offers_each_kind_of_job_and_links_to_the_dashboard(browser: Browser) -> None:
    """Five buttons, each a CSRF-protected POST form, and the dashboard one link away."""
    page = browser.get("/")

    assert len(re.findall(r'<form class="card" method="post"', page)) == 5
    assert len(re.findall(r'name="csrf_token" value="\w+"', page)) == 5
    for title in ("welcome email", "CRM", "slow report", "20 minutes", "invalid arguments"):
        assert title in page
    assert f'href="{browser.base_url}/elasticjobs/"' in page
    assert "<h1>Overview" in browser.get("/elasticjobs/")


def test_a_button_enqueues_its_job_and_the_dashboard_shows_it_succeed(
    demo: DevStack, browser: Browser
) -> None:
    """The welcome email button flashes the job id with a link to it; the job then runs."""
    page = browser.post("/jobs/welcome")

    match = re.search(r"Enqueued send_welcome_email as (\w+)", page)
    assert match, page
    job_id = match.group(1)
    assert f"/elasticjobs/jobs/{job_id}" in page
    store = get_audit_store(demo.registry)
    wait_for(lambda: (job := store.job(job_id)) and job.state == "succeeded", TIMEOUT, "success")
    assert "state-succeeded" in browser.get(f"/elasticjobs/jobs/{job_id}")


def test_invalid_arguments_are_refused_with_each_field_error_shown(
    demo: DevStack, browser: Browser
) -> None:
    """The schema's errors come back on the page, field by field, and nothing is enqueued."""
    page = browser.post("/jobs/invalid")

    assert "Refused: send_welcome_email" in page
    assert re.search(r"<code>user_id</code>: Not a valid integer\.", page)
    assert re.search(r"<code>email</code>: Not a valid email address\.", page)
    assert get_audit_store(demo.registry).recent_jobs() == []


def test_the_always_failing_job_ends_in_the_dead_letter_queue(
    demo: DevStack, browser: Browser
) -> None:
    """After max_receive_count failures the dashboard counts one dead letter."""
    page = browser.post("/jobs/failing")
    job_id = re.search(r"Enqueued sync_to_crm as (\w+)", page)
    assert job_id, page

    def dead_letters() -> int:
        return sum(queue["dlq_visible"] or 0 for queue in browser.dashboard_numbers()["sqs"])

    wait_for(dead_letters, TIMEOUT, "the failing job to reach the dead-letter queue")
    attempts = get_audit_store(demo.registry).attempts(job_id.group(1))
    assert sorted(attempt.receive_count for attempt in attempts) == [1, 2, 3]


def test_a_post_without_the_csrf_token_is_refused(demo: DevStack, browser: Browser) -> None:
    """Enqueueing is a state change: without the session's token the answer is 400."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.post("/jobs/welcome", csrf_token="forged")

    assert refused.value.code == 400
    assert get_audit_store(demo.registry).recent_jobs() == []


def test_job_names_and_reasons_are_escaped_in_the_dashboard(
    demo: DevStack, browser: Browser
) -> None:
    """Job names and reasons come from messages: the pages show them as text, never markup."""
    envelope = make_envelope("<script>alert(1)</script>")
    demo.registry.notify(JobRejected(envelope, demo.registry, None, 422, "<b>bad</b>"))
    get_audit_store(demo.registry).flush()

    page = browser.get("/elasticjobs/jobs")
    detail = browser.get(f"/elasticjobs/jobs/{envelope.job_id}")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bad&lt;/b&gt;" in detail
    assert "<script>alert" not in page + detail
    assert "<b>bad" not in detail
