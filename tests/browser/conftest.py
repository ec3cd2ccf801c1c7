"""Fixtures for the browser tests: the real server in a subprocess and headless
Debian Chromium driven by Playwright's sync API.

The demo pages declare a strict Content-Security-Policy (script-src 'self';
style-src 'self'), and a test fails on any CSP violation or uncaught script
error on its pages, so the widget is checked to run without inline code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from server_process import run_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    """Skip on a developer machine; fail in CI, where the browser must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sync_playwright_cls():
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} not found: install Debian's chromium (make browser)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the environment
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    return sync_playwright


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `python run.py` on a free port with a fresh database (demo data seeded).

    CHATBOT_TEST_URL=http://HOST:PORT points the tests at a server that is
    already running instead (for working on the widget)."""
    external = os.environ.get("CHATBOT_TEST_URL")
    if external:
        yield external.rstrip("/")
        return
    with run_server(tmp_path_factory.mktemp("browser-server") / "chat.db") as (url, _):
        yield url


@pytest.fixture(scope="session")
def browser(sync_playwright_cls):
    with sync_playwright_cls() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class PageWatch:
    """What went wrong on the pages of one test: script errors, CSP violations, dialogs."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.csp: list[str] = []
        self.dialogs: list[str] = []

    def attach(self, page) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        page.on("console", self._console)

        def on_dialog(dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def _console(self, msg) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.csp.append(msg.text)


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def new_context(browser, live_server: str, watch: PageWatch):
    """A factory of isolated browser contexts (own localStorage and cookies)."""
    contexts = []

    def make(**kwargs):
        kwargs.setdefault("viewport", {"width": 1280, "height": 860})
        kwargs.setdefault("base_url", live_server)
        ctx = browser.new_context(**kwargs)
        ctx.set_default_timeout(10_000)
        ctx.on("page", watch.attach)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()
    assert not watch.csp, f"Content-Security-Policy violations: {watch.csp}"
    assert not watch.errors, f"uncaught script errors: {watch.errors}"


@pytest.fixture
def context(new_context):
    return new_context()


@pytest.fixture
def page(context):
    return context.new_page()
