"""Live refresh that a person can use: the overview's numbers change in place, and nothing else.

Each test makes the numbers change (jobs run through the real stack) and waits for the
page to fetch them at least twice, so a refresh that destroyed something would have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs.devstack import DevStack

from .support import PHONE, until, wait_for_state

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response, Route

LIVE = "/live.json"


class Refreshes:
    """Counts the page's answered fetches of live.json."""

    def __init__(self, page: Page) -> None:
        self.count = 0
        page.on("response", self._seen)

    def _seen(self, response: Response) -> None:
        if LIVE in response.url and response.ok:
            self.count += 1

    def wait(self, page: Page, more: int, what: str) -> None:
        """Let the page run until it has fetched ``more`` fresh sets of numbers."""
        target = self.count + more
        until(page, lambda: self.count >= target, what)


def run_welcome_emails(stack: DevStack, jobs: Any, first: int, count: int) -> None:
    """Run ``count`` welcome emails through the stack, until the audit log has them all."""
    for n in range(first, first + count):
        enqueued = jobs.enqueue("send_welcome_email", n=n)
        wait_for_state(stack, enqueued.job_id, "succeeded", "a welcome email to succeed")


def card(page: Page, outcome: str) -> str:
    return page.locator(f".card-{outcome} .count").inner_text()


def test_a_text_selection_survives_refreshes_that_change_the_numbers(
    page: Page, stack: DevStack, dashboard: str, jobs: Any
) -> None:
    """A selected row, numbers and all, stays selected while the cards around it change."""
    run_welcome_emails(stack, jobs, 0, 1)
    refreshes = Refreshes(page)
    page.goto(dashboard + "/")
    row = page.locator("tr", has=page.get_by_role("link", name="send_welcome_email"))
    row.evaluate(
        "row => { const range = document.createRange(); range.selectNodeContents(row);"
        " const selection = document.getSelection(); selection.removeAllRanges();"
        " selection.addRange(range); }"
    )
    selected = page.evaluate("document.getSelection().toString()")
    assert "send_welcome_email" in selected

    run_welcome_emails(stack, jobs, 1, 2)
    until(
        page,
        lambda: card(page, "succeeded") == "3",
        "the succeeded card to show 3",
    )
    refreshes.wait(page, 2, "two more refreshes")

    assert page.evaluate("document.getSelection().toString()") == selected
    assert row.evaluate("row => document.getSelection().containsNode(row, true)")
    page.evaluate("document.getSelection().removeAllRanges()")
    succeeded = row.locator("td").nth(1)  # the columns follow the cards: enqueued, succeeded
    until(
        page,
        lambda: succeeded.inner_text() == "3",
        "the row's numbers to catch up once nothing is selected",
    )


def test_the_scroll_position_survives_refreshes_at_phone_width(
    page: Page, stack: DevStack, dashboard: str, jobs: Any
) -> None:
    """Scrolled halfway down a phone-sized overview, refreshes that change numbers move nothing."""
    run_welcome_emails(stack, jobs, 0, 1)
    page.set_viewport_size(PHONE)
    refreshes = Refreshes(page)
    page.goto(dashboard + "/")
    bottom = page.evaluate("document.documentElement.scrollHeight - window.innerHeight")
    assert bottom > 200, "the overview should be taller than a phone's screen"
    page.evaluate(f"window.scrollTo(0, {bottom // 2})")
    scrolled = page.evaluate("window.scrollY")

    run_welcome_emails(stack, jobs, 1, 2)
    until(
        page,
        lambda: card(page, "succeeded") == "3",
        "the succeeded card to show 3",
    )
    refreshes.wait(page, 2, "two more refreshes")

    assert page.evaluate("window.scrollY") == scrolled


def test_a_form_being_filled_in_keeps_its_values_through_refreshes(
    page: Page, stack: DevStack, dashboard: str, jobs: Any
) -> None:
    """Typed text, a choice and the focus in a form on the refreshing page are left alone.

    No page with live numbers has a form of its own yet, so the test adds one to the
    overview, as a later page would have (filters beside live counts).
    """
    run_welcome_emails(stack, jobs, 0, 1)
    refreshes = Refreshes(page)
    page.goto(dashboard + "/")
    page.locator("main").evaluate(
        "main => main.insertAdjacentHTML('beforeend', '<form class=filters>"
        "<label>Note <input name=note></label><label>State <select name=state>"
        "<option>any</option><option>dead</option></select></label></form>')"
    )
    note = page.locator("input[name=note]")
    note.fill("invoice 1042 declined")
    page.locator("select[name=state]").select_option("dead")
    note.focus()

    run_welcome_emails(stack, jobs, 1, 2)
    until(
        page,
        lambda: card(page, "succeeded") == "3",
        "the succeeded card to show 3",
    )
    refreshes.wait(page, 2, "two more refreshes")

    assert note.input_value() == "invoice 1042 declined"
    assert page.locator("select[name=state]").input_value() == "dead"
    assert note.evaluate("input => document.activeElement === input")


def test_the_page_says_when_it_has_lost_contact_with_the_server(
    page: Page, stack: DevStack, dashboard: str
) -> None:
    """Stop the server: a banner appears and the numbers are marked stale, not shown as fresh."""
    refreshes = Refreshes(page)
    page.goto(dashboard + "/")
    banner = page.locator("[data-connection]")
    refreshes.wait(page, 1, "a first refresh")
    assert banner.is_hidden()

    stack.stop()

    banner.wait_for(state="visible")
    assert "Lost contact" in banner.inner_text()
    stale = page.locator("[data-live].stale")
    assert stale.count() == page.locator("[data-live]").count() > 0


def test_a_server_that_stops_answering_is_lost_contact_until_it_answers_again(
    page: Page, stack: DevStack, dashboard: str
) -> None:
    """Requests held unanswered (a hung server): the banner shows, then goes with the answers."""
    refreshes = Refreshes(page)
    page.goto(dashboard + "/")
    refreshes.wait(page, 1, "a first refresh")
    banner = page.locator("[data-connection]")
    held: list[Route] = []
    page.route("**/live.json*", lambda route: held.append(route))  # accepted, never answered

    banner.wait_for(state="visible")
    assert held, "the page gave up on an unanswered request"
    page.unroute("**/live.json*")  # the page itself aborted the held ones

    banner.wait_for(state="hidden")
    assert page.locator("[data-live].stale").count() == 0


def test_refreshing_numbers_are_not_announced_as_a_live_region(
    page: Page, stack: DevStack, dashboard: str, jobs: Any
) -> None:
    """No live number sits inside an aria-live region (or a role that implies one)."""
    run_welcome_emails(stack, jobs, 0, 1)
    page.goto(dashboard + "/")
    live_numbers = page.locator("[data-live]")
    assert live_numbers.count() > 0
    announced = live_numbers.evaluate_all(
        "elements => elements.filter(element => element.closest("
        "'[aria-live]:not([aria-live=off]), [role=status], [role=log], [role=alert], "
        "[role=timer], [role=marquee]')).length"
    )
    assert announced == 0
