"""Browser tests: Playwright drives Debian's Chromium against a real stack (tests/e2e's fixtures).

The browser is the system's `/usr/bin/chromium` (`apt-get install chromium`; .ci/run installs it), never
one downloaded at test time. Without it the tests skip locally; under CI=true the CI guard fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from tests.harness import ServiceStack, require_installed

CHROMIUM = Path(os.environ.get("LEADFLOW_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
WIDE = ViewportSize(width=1280, height=900)
NARROW = ViewportSize(width=390, height=844)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One browser for the browser tests, closed when they are done: sync Playwright runs its own event
    loop in this thread, which must be gone before the async tests after them start theirs."""
    require_installed(CHROMIUM, "apt-get install --no-install-recommends chromium (or set LEADFLOW_CHROMIUM)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser, stack: ServiceStack) -> Iterator[BrowserContext]:
    browser_context = browser.new_context(base_url=stack.gateway_url, viewport=WIDE, locale="en-US")
    browser_context.set_default_timeout(15_000)
    try:
        yield browser_context
    finally:
        browser_context.close()


@pytest.fixture
def page(context: BrowserContext, stack: ServiceStack, api_key: str) -> Page:
    """A page already signed in (through the sign-in endpoint, which sets the session cookie)."""
    # As the page itself signs in: browsers send Origin with a POST.
    signed_in = context.request.post(
        "/ui/session", data={"api_key": api_key}, headers={"Origin": stack.gateway_url}
    )
    assert signed_in.status == 204, signed_in.text()
    return context.new_page()


@pytest.fixture
def api(stack: ServiceStack, api_key: str) -> Iterator[httpx.Client]:
    """The HTTP API with the Bearer key, to set up what a test is not about."""
    with httpx.Client(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as client:
        yield client


def screenshot(page: Page, name: str) -> None:
    """Saved only when LEADFLOW_SCREENSHOTS names a folder (docs/screenshots), so runs don't touch the repo."""
    folder = os.environ.get("LEADFLOW_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)
