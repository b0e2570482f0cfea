"""Helpers of the browser tests: where Chromium is, how it is launched, the stack's settings.

Fixtures live in conftest.py; test modules (and ``screenshots``) import helpers from here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from pyramid_elasticjobs.audit import get_audit_store
from pyramid_elasticjobs.audit.models import ActionRecord, JobRecord
from pyramid_elasticjobs.devstack import DevStack
from tests.e2e.support import DAEMON_OPTIONS, TIMEOUT, wait_for
from tests.support import REGION, SECRET

from . import app as browser_app

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, ViewportSize

__all__ = ["DAEMON_OPTIONS", "TIMEOUT", "wait_for"]

#: Debian's package (apt-get install chromium); ELASTICJOBS_CHROMIUM names another binary.
CHROMIUM_VARIABLE = "ELASTICJOBS_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
#: Headless in a container, nothing fetched from the network (PROTOCOL.md's tooling facts).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
INSTALL_HINT = (
    "install Debian's chromium (apt-get install chromium) and the dev extra's playwright "
    f"(pip install -e '.[dev]'), or point {CHROMIUM_VARIABLE} at a Chromium binary; "
    "`playwright install` cannot download browsers here"
)
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 740}
MOUNT = "/elasticjobs"
#: Receives before SQS moves a message to the dead-letter queue: quick deaths for tests.
MAX_RECEIVE_COUNT = 2
#: The overview's refresh interval in the tests, in seconds.
REFRESH_SECONDS = 1


def chromium_path() -> str | None:
    """The Chromium binary to drive, or None when there is none."""
    configured = os.environ.get(CHROMIUM_VARIABLE)
    if configured:
        return configured if Path(configured).is_file() else None
    return DEFAULT_CHROMIUM if Path(DEFAULT_CHROMIUM).is_file() else shutil.which("chromium")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def stack_settings(audit_path: Path, flag_path: Path, queue_prefix: str) -> dict[str, str]:
    """The dashboard's app on the real stack: audit log on SQLite, anonymous, quick refresh."""
    return {
        "elasticjobs.secret": SECRET,
        "elasticjobs.aws_region": REGION,
        "elasticjobs.endpoint_url": "http://127.0.0.1:0",
        "elasticjobs.queue_prefix": queue_prefix,
        "elasticjobs.process_jobs": "true",
        "elasticjobs.max_receive_count": str(MAX_RECEIVE_COUNT),
        "elasticjobs.remote_addr_is_client": "true",
        "elasticjobs.audit.url": f"sqlite:///{audit_path}",
        "elasticjobs.audit.auto_upgrade": "true",
        "elasticjobs.dashboard.allow_anonymous": "true",
        "elasticjobs.dashboard.refresh_seconds": str(REFRESH_SECONDS),
        browser_app.FLAG_KEY: str(flag_path),
    }


def start_stack(settings: Mapping[str, str], **daemon: Any) -> DevStack:
    """A DevStack serving the browser tests' app with ``settings``, started."""
    stack = DevStack(
        dict(settings),
        app_factory=lambda overrides: browser_app.main({}, **{**settings, **overrides}),
        daemon_overrides={**DAEMON_OPTIONS, **daemon},
    )
    return stack.start()


def wait_for_state(stack: DevStack, job_id: str, state: str, what: str) -> JobRecord:
    """The job's audit row, once it is in ``state``."""
    store = get_audit_store(stack.registry)

    def probe() -> JobRecord | None:
        row = store.job(job_id)
        return row if row is not None and row.state == state else None

    found = wait_for(probe, TIMEOUT, what)
    assert found is not None
    return found


def actions_taken(stack: DevStack, action: str) -> int:
    """How many times the audit log recorded an operator's ``action``."""
    engine = get_audit_store(stack.registry).engine
    with engine.connect() as connection:
        counted = connection.scalar(
            select(func.count()).select_from(ActionRecord).where(ActionRecord.action == action)
        )
    return int(counted or 0)


def poll(probe: Callable[[], Any], what: str) -> Any:
    """``wait_for`` with the tests' patience."""
    return wait_for(probe, TIMEOUT, what)


def until(page: Page, condition: Callable[[], Any], what: str) -> Any:
    """``poll`` while the page runs: its timers and fetches go on between the checks."""

    def probe() -> Any:
        page.wait_for_timeout(50)  # time.sleep would stop Playwright's event loop too
        return condition()

    return poll(probe, what)


def dead_letter(page: Page, dashboard: str, job_id: str, queue: str = "billing") -> Locator:
    """Open ``queue``'s dead-letter queue from the dead letters page; the job's letter.

    SQS moves a message into the DLQ on the receive after its last, so the page is
    reloaded until the letter is listed.
    """
    page.goto(dashboard + "/dead-letters")
    page.get_by_role("link", name=f"{queue}-dead-letters").click()
    letter = page.locator("article.letter", has_text=job_id)

    def listed() -> bool:
        if letter.count():
            return True
        page.reload()
        return False

    poll(listed, f"the dead letter of job {job_id} to be listed")
    return letter
