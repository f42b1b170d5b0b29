"""Headless Chromium (Debian's, installed when missing) driven by Playwright for Python.

The browser is started per test, so that nothing a page stored (a token, say) leaks
into the next one. Screenshots go to the test's tmp dir; with UPDATE_SCREENSHOTS=1
they are also copied to docs/screenshots, where the README links them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from devstack.browser import CHROMIUM_ARGS, ensure_chromium
from devstack.paths import REPO_ROOT

# Fixtures of the other suites, used here as they are: the in-process api, the system.
from tests.api.conftest import api  # noqa: F401
from tests.e2e.conftest import make_system, sandbox_admin  # noqa: F401

SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# What one wait for the page may take: a paced campaign sends for seconds.
WAIT_MS = 30_000

expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="session")
def chromium() -> str:
    return ensure_chromium()


@pytest.fixture
def page(chromium: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=list(CHROMIUM_ARGS)
        )
        context = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="UTC")
        context.set_default_timeout(WAIT_MS)
        try:
            yield context.new_page()
        finally:
            # Closed before the system stops: an open event stream would hold the api.
            context.close()
            browser.close()


Screenshot = Callable[[Page, str], Path]


@pytest.fixture
def screenshot(tmp_path: Path) -> Screenshot:
    def take(page: Page, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=path, full_page=True, animations="disabled")
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SCREENSHOTS / path.name)
        return path

    return take
