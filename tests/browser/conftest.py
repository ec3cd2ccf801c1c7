"""Fixtures for the browser tests: the real server in a subprocess and headless
Debian Chromium driven by Playwright's sync API.

The demo pages declare a strict Content-Security-Policy (script-src 'self';
style-src 'self'), and a test fails on any CSP violation or uncaught script
error on its pages, so the widget is checked to run without inline code.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_TIMEOUT = float(os.environ.get("BROWSER_TEST_STARTUP_TIMEOUT", "120"))
LISTENING = re.compile(r"Listening on (http://\S+)")


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


@contextlib.contextmanager
def run_server(db: Path, port: int = 0, **env_vars: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python run.py` on `port` (0: a free one) with the database `db` (demo
    data seeded when new) and extra environment variables; yields its URL and
    process, and stops it after."""
    log_path = db.parent / f"server-{port or 'any'}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", **env_vars)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "run.py", "--host", "127.0.0.1", "--port", str(port), "--db", str(db)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        found: dict[str, str] = {}
        ready = threading.Event()

        def read_stdout() -> None:
            # keep draining stdout for the whole run so the server never blocks on it
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                log.write(b"[stdout] " + raw)
                log.flush()
                m = LISTENING.search(line)
                if m and not ready.is_set():
                    found["url"] = m.group(1).rstrip("/")
                    ready.set()
            ready.set()  # the process ended

        reader = threading.Thread(target=read_stdout, name="server-stdout", daemon=True)
        reader.start()
        ready.wait(STARTUP_TIMEOUT)
        if "url" not in found:
            alive = proc.poll() is None
            if alive:
                proc.kill()
            proc.wait(10)
            log.flush()
            output = log_path.read_text("utf-8", "replace")[-4000:]
            pytest.fail(
                ("the server did not print 'Listening on http://HOST:PORT' within "
                 f"{STARTUP_TIMEOUT:.0f}s" if alive else f"the server exited with code {proc.returncode}")
                + f"\n--- server output ---\n{output}",
                pytrace=False,
            )
        try:
            yield found["url"], proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            reader.join(5)


@pytest.fixture
def server_process():
    """For tests that stop and start servers of their own: `run_server`."""
    return run_server


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
