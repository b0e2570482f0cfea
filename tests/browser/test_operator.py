"""An operator's day in real Chromium: overview, filters, a failed job's traceback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs.devstack import DevStack

from .support import dead_letter, wait_for_state

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_an_operator_follows_a_failure_from_the_overview_to_its_traceback(
    page: Page, stack: DevStack, dashboard: str, jobs: Any, flag_file: Path
) -> None:
    """Overview -> failed jobs filter -> the job -> its attempts' tracebacks."""
    flag_file.touch()
    welcome = jobs.enqueue("send_welcome_email", n=1)
    charge = jobs.enqueue("charge_invoice", invoice=1042, account=77)
    wait_for_state(stack, welcome.job_id, "succeeded", "the welcome email to succeed")
    wait_for_state(stack, charge.job_id, "dead", "the charge to die after its last receive")

    page.goto(dashboard + "/")
    dead_card = page.locator(".card-dead")
    assert dead_card.locator(".count").inner_text() == "1"
    dead_card.click()

    page.wait_for_url("**/jobs?state=dead")
    rows = page.locator("table.jobs tbody tr")
    assert rows.count() == 1
    assert "ChargeDeclined" in rows.first.locator("td.error").inner_text()
    rows.first.get_by_role("link", name="charge_invoice").click()

    page.wait_for_url(f"**/jobs/{charge.job_id}")
    attempts = page.locator("article.attempt")
    assert attempts.count() == 2
    first = attempts.first
    assert "declined the card of account 77" in first.locator(".error").inner_text()
    traceback = first.locator("pre.traceback")
    assert not traceback.is_visible()
    first.get_by_text("Traceback", exact=True).click()
    assert traceback.is_visible()
    assert "raise ChargeDeclined(" in traceback.inner_text()


def test_the_jobs_filters_narrow_the_list_and_survive_in_the_url(
    page: Page, stack: DevStack, dashboard: str, jobs: Any, flag_file: Path
) -> None:
    """Choosing a job name and a state lists only those, with a bookmarkable URL."""
    flag_file.touch()
    welcome = [jobs.enqueue("send_welcome_email", n=n) for n in range(3)]
    charge = jobs.enqueue("charge_invoice", invoice=7, account=1)
    for enqueued in welcome:
        wait_for_state(stack, enqueued.job_id, "succeeded", "the welcome emails to succeed")
    wait_for_state(stack, charge.job_id, "dead", "the charge to die")

    page.goto(dashboard + "/jobs")
    assert page.locator("table.jobs tbody tr").count() == 4
    page.locator("select[name=name]").select_option("send_welcome_email")
    page.locator("select[name=state]").select_option("succeeded")
    page.get_by_role("button", name="Filter").click()

    page.wait_for_url("**/jobs?state=succeeded&name=send_welcome_email**")
    names = page.locator("table.jobs tbody th a").all_inner_texts()
    assert names == ["send_welcome_email"] * 3
    page.reload()
    assert page.locator("select[name=name]").input_value() == "send_welcome_email"
    assert page.locator("select[name=state]").input_value() == "succeeded"


def test_an_operator_finds_a_dead_letter_with_its_error_and_redrives_it_once_fixed(
    page: Page, stack: DevStack, dashboard: str, jobs: Any, flag_file: Path
) -> None:
    """Dead letters -> the queue -> why it died -> fix the cause -> Redrive -> it succeeds."""
    flag_file.touch()
    charge = jobs.enqueue("charge_invoice", invoice=1042, account=77)
    wait_for_state(stack, charge.job_id, "dead", "the charge to die after its last receive")

    letter = dead_letter(page, dashboard, charge.job_id)
    why = letter.locator("dt:text-is('Why it died') + dd")
    assert "declined the card of account 77" in why.inner_text()

    flag_file.unlink()  # the operator fixes the cause
    letter.get_by_role("button", name="Redrive", exact=True).click()

    assert "Redrive done" in page.locator(".notice").inner_text()
    wait_for_state(stack, charge.job_id, "succeeded", "the redriven charge to succeed")
    page.goto(f"{dashboard}/jobs/{charge.job_id}")
    assert page.locator("h1 .state").inner_text() == "succeeded"
    assert page.locator("article.attempt").count() == 3
