"""The demo's audit log: what a job leaves there after the real stack, as its dashboard shows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticjobs_demo import main as demo_app
from pyramid.paster import get_appsettings

from pyramid_elasticjobs import ConfigurationError
from pyramid_elasticjobs.audit import get_audit_store, migrate
from pyramid_elasticjobs.devstack import DevStack
from pyramid_elasticjobs.devstack.apps import paste_app_factory

from .support import DAEMON_OPTIONS, DEVELOPMENT_INI, MAX_RECEIVE_COUNT, TIMEOUT, Browser, wait_for


@pytest.fixture
def audit_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's audit database, in a folder that does not exist yet."""
    path = tmp_path / "var" / "audit.sqlite"
    monkeypatch.setenv("ELASTICJOBS_AUDIT_URL", f"sqlite:///{path}")
    return path


@pytest.fixture
def demo(queue_prefix: str, audit_file: Path) -> Iterator[DevStack]:
    """development.ini's demo app, on queues and an audit log of this test's own."""
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


def enqueued_job_id(page: str, job: str) -> str:
    match = re.search(rf"Enqueued {job} as (\w+)", page)
    assert match, page
    return match.group(1)


def test_the_demo_creates_its_audit_folder_and_tables_at_start(
    demo: DevStack, audit_file: Path
) -> None:
    """auto_upgrade in development.ini: a fresh clone's start creates var/ and the schema."""
    store = get_audit_store(demo.registry)

    assert audit_file.is_file()
    assert migrate.current_revision(store.engine) == migrate.head_revision(store.engine)


def test_a_job_run_through_the_stack_leaves_its_row_and_attempt_in_the_audit_log(
    demo: DevStack, browser: Browser
) -> None:
    """Enqueued from the page, run by the daemon: one succeeded row, one attempt answered 200."""
    job_id = enqueued_job_id(browser.post("/jobs/welcome"), "send_welcome_email")
    store = get_audit_store(demo.registry)

    job = wait_for(
        lambda: (row := store.job(job_id)) is not None and row.state == "succeeded" and row,
        TIMEOUT,
        "the welcome email to be recorded as succeeded",
    )
    [attempt] = store.attempts(job_id)

    assert (job.name, job.queue, job.attempts) == ("send_welcome_email", "default", 1)
    assert job.arguments == {"user_id": 42, "email": "ada@example.com"}
    assert job.finished_at is not None
    assert job.message_id == attempt.message_id
    assert (attempt.receive_count, attempt.outcome, attempt.status) == (1, "succeeded", 200)
    assert attempt.exception_class is None


def test_the_failing_job_is_recorded_dead_with_each_failed_attempt(
    demo: DevStack, browser: Browser
) -> None:
    """max_receive_count failed attempts, each with the job's exception; the job ends dead."""
    job_id = enqueued_job_id(browser.post("/jobs/failing"), "sync_to_crm")
    store = get_audit_store(demo.registry)

    job = wait_for(
        lambda: (row := store.job(job_id)) is not None and row.state == "dead" and row,
        TIMEOUT,
        "the failing job to be recorded as dead",
    )
    attempts = store.attempts(job_id)

    assert [attempt.receive_count for attempt in attempts] == list(range(1, MAX_RECEIVE_COUNT + 1))
    assert {(attempt.outcome, attempt.status) for attempt in attempts} == {("failed", 500)}
    assert {attempt.exception_class for attempt in attempts} == {
        "elasticjobs_demo.jobs.CrmUnavailable"
    }
    assert "crm.example.invalid refused account 7" in (attempts[-1].traceback or "")
    assert job.last_error == (
        f"elasticjobs_demo.jobs.CrmUnavailable: crm.example.invalid refused account 7 "
        f"(attempt {MAX_RECEIVE_COUNT})"
    )


def test_the_dashboards_totals_come_from_the_audit_logs_rollups(
    demo: DevStack, browser: Browser
) -> None:
    """After one welcome email, the demo's dashboard counts it enqueued and succeeded."""
    browser.post("/jobs/welcome")

    totals = wait_for(
        lambda: (current := browser.dashboard_numbers()["totals"]).get("succeeded") and current,
        TIMEOUT,
        "the succeeded count",
    )

    assert (totals["enqueued"], totals["succeeded"]) == (1, 1)
    assert '<span class="count" data-live="totals/succeeded">1</span>' in browser.get(
        "/elasticjobs/?period=1h"
    )


def test_the_record_survives_a_restart_of_the_app(
    demo: DevStack, browser: Browser, queue_prefix: str
) -> None:
    """A new app on the same audit file shows the job the previous one ran."""
    job_id = enqueued_job_id(browser.post("/jobs/welcome"), "send_welcome_email")
    store = get_audit_store(demo.registry)
    wait_for(lambda: (job := store.job(job_id)) and job.state == "succeeded", TIMEOUT, "success")
    demo.stop()

    with DevStack(
        get_appsettings(str(DEVELOPMENT_INI)),
        app_factory=lambda overrides: paste_app_factory(str(DEVELOPMENT_INI))(
            {**overrides, "elasticjobs.queue_prefix": queue_prefix}
        ),
        daemon_overrides=DAEMON_OPTIONS,
    ) as restarted:
        page = Browser(restarted.app_url).get(f"/elasticjobs/jobs/{job_id}")

    assert "send_welcome_email" in page
    assert "state-succeeded" in page


def test_the_demo_refuses_to_start_without_an_audit_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its dashboard needs the log: the error names the setting and the variable."""
    monkeypatch.delenv("ELASTICJOBS_AUDIT_URL", raising=False)
    settings = {
        key: value
        for key, value in get_appsettings(str(DEVELOPMENT_INI)).items()
        if not key.startswith("elasticjobs.audit.")
    }

    with pytest.raises(ConfigurationError, match=r"elasticjobs\.audit\.url \(or ELASTICJOBS_AUDIT"):
        demo_app({}, **settings)
