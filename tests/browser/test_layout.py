"""Every page at phone width: readable without scrolling the page sideways."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs.devstack import DevStack

from .support import PHONE, dead_letter, wait_for_state

if TYPE_CHECKING:
    from playwright.sync_api import Page


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling)."""
    width: int = page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"
    )
    return width


def test_no_page_scrolls_sideways_at_phone_width(
    page: Page, stack: DevStack, dashboard: str, jobs: Any, flag_file: Path
) -> None:
    """375 px wide: overview, jobs, a failed job, failures, dead letters, a DLQ, health."""
    flag_file.touch()
    welcome = jobs.enqueue("send_welcome_email", n=1)
    charge = jobs.enqueue("charge_invoice", invoice=1042, account=77)
    wait_for_state(stack, welcome.job_id, "succeeded", "the welcome email to succeed")
    wait_for_state(stack, charge.job_id, "dead", "the charge to die")
    page.set_viewport_size(PHONE)
    dead_letter(page, dashboard, charge.job_id)
    queue_page = page.url

    widths = {}
    for path in ("/", "/jobs", f"/jobs/{charge.job_id}", "/failures", "/dead-letters", "/health"):
        page.goto(dashboard + path)
        page.locator("details").evaluate_all("all => all.forEach(d => { d.open = true; })")
        widths[path] = overflow(page)
    page.goto(queue_page)
    page.locator("details").evaluate_all("all => all.forEach(d => { d.open = true; })")
    widths["dead-letter queue"] = overflow(page)

    assert widths == dict.fromkeys(widths, 0)
