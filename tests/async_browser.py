"""Chromium through Playwright's async API, for tests that drive a browser
and server processes from one event loop (the cluster's): the sync API of
tests/browser/ holds the thread's loop while it is open."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's, as tests/browser/conftest.py uses it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SHOP = "/static/shop/cltiktok.html"
SLOW = 15_000  # ms: answers take well under a second; CI machines are slow


@pytest.fixture
async def chromium() -> AsyncIterator[object]:
    """Headless Debian Chromium (tests/browser/conftest.py's rule: skip without
    it on a developer machine, fail in CI)."""
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} not found: install Debian's chromium (make browser)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: browser tests must run)", pytrace=False)
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def open_widget_signed_in(page, account: dict[str, str] | None) -> None:
    """The demo shop (on the page's base URL: a process, or a proxy in front),
    the widget open; `account` signs in (None: the context's other tab already did)."""
    from playwright.async_api import expect

    await page.goto(SHOP)
    await page.get_by_test_id("launcher").click()
    if account is not None:
        await page.get_by_test_id("email").fill(account["email"])
        await page.get_by_test_id("password").fill(account["password"])
        await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=SLOW)
