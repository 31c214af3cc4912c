"""What every browser test shares: Debian's Chromium driven by Playwright (never a
downloaded browser), the marks such a test carries, and a phone-width check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.conftest import BACKEND

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def marks(*, timeout: int = 180, sqlite_only: bool = False) -> list[pytest.MarkDecorator]:
    """A browser test: real processes (integration), a database, and Chromium installed.
    `sqlite_only`: what the page's script does does not depend on the database."""
    found = [
        pytest.mark.usefixtures("db"),
        pytest.mark.integration,
        pytest.mark.timeout(timeout),
        pytest.mark.skipif(
            not CHROMIUM.exists(),
            reason="browser tests need Debian's Chromium: apt-get install -y chromium",
        ),
    ]
    if sqlite_only:
        found.append(
            pytest.mark.skipif(
                BACKEND != "sqlite", reason="a browser test of the page: SQLite only"
            )
        )
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    """A Chromium browser, closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sideways(page: Page) -> int:
    """How many pixels the page is wider than its window (0: nothing scrolls sideways)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def artifacts(request: pytest.FixtureRequest, name: str) -> Path:
    """test-artifacts/<backend>/<name>/, where a test's screenshots go."""
    return Path(str(request.config.rootpath)) / "test-artifacts" / BACKEND / name
