"""Actions in real Chromium: a double-click acts once, confirmed or not.

A person's second click comes a moment after the first, once its POST is on its way
(Chromium itself drops a second submission made before the first request leaves), so
the tests hold the first POST until the second click is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs.devstack import DevStack

from .support import actions_taken, dead_letter, until, wait_for_state

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Route


def click_twice_while_the_first_is_in_flight(page: Page, button: Locator) -> list[str]:
    """Click, and click again while the first POST is held; the URLs of every POST sent."""
    posts: list[str] = []
    held: list[Route] = []
    releasing = False

    def hold(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        posts.append(route.request.url)
        if releasing:
            route.continue_()
        else:
            held.append(route)

    page.route("**/*", hold)
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None, "the button is not on screen"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    until(page, lambda: held, "the first click's POST to be sent")
    page.mouse.click(x, y)  # the mouse: locators would wait for the pending navigation
    page.wait_for_timeout(200)  # let a second submission (if any) leave the page
    releasing = True
    for route in held:
        route.continue_()
    return posts


def test_a_double_click_on_a_confirmed_action_enqueues_once(
    page: Page, stack: DevStack, dashboard: str, jobs: Any
) -> None:
    """Enqueue again, double-clicked and confirmed: one POST, one new job."""
    welcome = jobs.enqueue("send_welcome_email", n=1)
    wait_for_state(stack, welcome.job_id, "succeeded", "the welcome email to succeed")
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.goto(f"{dashboard}/jobs/{welcome.job_id}")

    posts = click_twice_while_the_first_is_in_flight(
        page, page.get_by_role("button", name="Enqueue again")
    )

    page.wait_for_url(lambda url: welcome.job_id not in url and "notice=enqueued_again" in url)
    assert len(posts) == 1
    assert questions == ["Send send_welcome_email again with the same arguments?"]
    assert actions_taken(stack, "enqueue_again") == 1


def test_a_double_click_on_redrive_redrives_once(
    page: Page, stack: DevStack, dashboard: str, jobs: Any, flag_file: Path
) -> None:
    """A dead letter's Redrive button, double-clicked: one POST, one redrive recorded."""
    flag_file.touch()
    charge = jobs.enqueue("charge_invoice", invoice=5, account=9)
    wait_for_state(stack, charge.job_id, "dead", "the charge to die")
    flag_file.unlink()
    letter = dead_letter(page, dashboard, charge.job_id)

    posts = click_twice_while_the_first_is_in_flight(
        page, letter.get_by_role("button", name="Redrive", exact=True)
    )

    page.wait_for_url("**notice=redriven**")
    assert len(posts) == 1
    assert actions_taken(stack, "redriven") == 1
    wait_for_state(stack, charge.job_id, "succeeded", "the redriven charge to succeed")
