"""Real headless Chromium (Debian's package, driven by Playwright) against the real stack.

Without Chromium or Playwright the tests are skipped on a developer's machine, and fail
under ``CI=true``, saying what to install: CI must never pass by running none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pyramid_elasticjobs.devstack import DevStack

from .support import (
    CHROMIUM_FLAGS,
    DESKTOP,
    INSTALL_HINT,
    MOUNT,
    TIMEOUT,
    chromium_path,
    in_ci,
    stack_settings,
    start_stack,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright


def _unavailable(reason: str) -> NoReturn:
    message = f"browser tests need Chromium: {reason}; {INSTALL_HINT}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the session; each test gets a context of its own."""
    executable = chromium_path()
    if executable is None:
        _unavailable("no Chromium binary found")
    chromium = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh desktop-sized page (own cookies), failing the test on any script error."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT * 1000)  # patience, as everywhere in the e2e tests
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    """While this file exists, every charge_invoice job fails (the cause to fix)."""
    return tmp_path / "gateway-down.flag"


@pytest.fixture
def stack(tmp_path: Path, flag_file: Path, queue_prefix: str) -> Iterator[DevStack]:
    """The dashboard's app on the real local stack, its audit log in a SQLite file."""
    stack = start_stack(stack_settings(tmp_path / "audit.sqlite", flag_file, queue_prefix))
    yield stack
    stack.stop()


@pytest.fixture
def dashboard(stack: DevStack) -> str:
    """The dashboard's URL on the running stack."""
    return stack.app_url + MOUNT


@pytest.fixture
def jobs(stack: DevStack) -> Any:
    """A job client of the running app (sends at once, as a script would)."""
    from pyramid_elasticjobs import get_client

    return get_client(stack.registry)
