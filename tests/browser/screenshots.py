"""Screenshots of every dashboard page, for the README: ``python -m tests.browser.screenshots``.

Taken in headless Chromium from the real local stack (embedded SQS, waitress, the SQS
daemons) with an audit log on SQLite: three days of a busy app's history from
``bench.audit_data``, then real jobs run through the stack (welcome emails that succeed,
charges that fail into the dead-letter queue while the payment gateway is "down").
Writes ``docs/images/dashboard-*.png`` (1280 px wide; one shot 375 px wide).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.audit import get_audit_store

from . import app as browser_app
from .support import (
    CHROMIUM_FLAGS,
    DESKTOP,
    INSTALL_HINT,
    MOUNT,
    PHONE,
    TIMEOUT,
    chromium_path,
    dead_letter,
    stack_settings,
    start_stack,
    wait_for_state,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
#: The tallest a desktop shot gets: long lists are cut, as a reader's screen would.
MAX_HEIGHT = 1400
OPERATOR = "ada@example.com"


def shoot(page: Page, path: Path, *, max_height: int = MAX_HEIGHT) -> None:
    """The page from its top to the end of its content, at most ``max_height`` pixels."""
    content = page.evaluate(
        "Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + scrollY)"
    )
    height = min(content, max_height)
    width = page.viewport_size["width"] if page.viewport_size else DESKTOP["width"]
    page.screenshot(
        path=path,
        full_page=True,
        clip={"x": 0, "y": 0, "width": width, "height": height},
        animations="disabled",
        caret="hide",
    )
    print(f"wrote {path.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.browser.screenshots", description=__doc__
    )
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder (docs/images)")
    args = parser.parse_args(argv)
    executable = chromium_path()
    if executable is None:
        print(f"no Chromium: {INSTALL_HINT}", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))  # bench/, for its audit data
    from bench.audit_data import insert_scale_data

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
    )
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        flag = Path(scratch) / "gateway-down.flag"
        settings = {
            **stack_settings(Path(scratch) / "audit.sqlite", flag, "shop-"),
            browser_app.OPERATOR_KEY: OPERATOR,
            "elasticjobs.dashboard.refresh_seconds": "5",
        }
        stack = start_stack(settings)
        try:
            insert_scale_data(
                get_audit_store(stack.registry).engine, jobs=3_000, attempts=7_500, days=3
            )
            jobs = get_client(stack.registry)
            welcome = [jobs.enqueue("send_welcome_email", n=n) for n in range(12)]
            flag.touch()
            charges = [
                jobs.enqueue("charge_invoice", invoice=invoice, account=account)
                for invoice, account in ((1042, 77), (1043, 3141), (1044, 77))
            ]
            for enqueued in welcome:
                wait_for_state(stack, enqueued.job_id, "succeeded", "a welcome email")
            for enqueued in charges:
                wait_for_state(stack, enqueued.job_id, "dead", "a charge to die")
            dashboard = stack.app_url + MOUNT
            with sync_playwright() as driver:
                browser = driver.chromium.launch(
                    executable_path=executable, args=list(CHROMIUM_FLAGS)
                )
                page = browser.new_page(viewport=DESKTOP)
                page.set_default_timeout(TIMEOUT * 1000)
                for charge in charges:
                    dead_letter(page, dashboard, charge.job_id)
                shoot(page, args.out / "dashboard-dead-letter-queue.png")
                for path, name in (
                    ("/", "overview"),
                    ("/jobs", "jobs"),
                    ("/failures", "failures"),
                    ("/dead-letters", "dead-letters"),
                    ("/health", "health"),
                ):
                    page.goto(dashboard + path)
                    shoot(page, args.out / f"dashboard-{name}.png")
                page.goto(f"{dashboard}/jobs/{charges[0].job_id}")
                page.locator("article.attempt details").first.evaluate("d => { d.open = true; }")
                shoot(page, args.out / "dashboard-job.png")
                page.set_viewport_size(PHONE)
                page.goto(dashboard + "/")
                shoot(page, args.out / "dashboard-overview-phone.png", max_height=2400)
                browser.close()
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
