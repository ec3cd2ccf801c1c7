"""Fixtures that start the real server, in this process, on a free port, and
talk to it with the official clients (aiohttp, socketio.AsyncClient)."""

from __future__ import annotations

from pathlib import Path

import pytest
from async_browser import chromium  # noqa: F401 - Chromium on the async API, for the cluster's browser tests
from engines import postgres_database, postgres_server  # noqa: F401 - the store's fixtures (tests/engines.py)
from redis_engine import redis_server  # noqa: F401 - the cluster tests' Redis (tests/redis_engine.py)

from helpers import ChatClient, Server, forget_stopped_apps, make_settings, start_server


@pytest.fixture
async def server(tmp_path: Path):
    srv = await start_server(make_settings(tmp_path))
    yield srv
    await srv.runner.cleanup()


@pytest.fixture
async def clients():
    """Make connected clients; every one is closed at the end of the test."""
    made: list[ChatClient] = []

    async def make(
        server: Server, creds: dict | None = None, namespace: str = "/chat", auth: dict | None = None
    ) -> ChatClient:
        client = ChatClient(server.url, namespace)
        made.append(client)
        if creds is not None:
            auth = {**(auth or {}), "token": await server.login(creds)}
        await client.connect(auth)
        return client

    yield make
    for client in made:
        await client.close()


# Tests that must share one pytest-xdist worker (make test: -n, --dist
# loadgroup), by node id prefix: the browser tests share one server and one
# Chromium (and see below); test_wheel.py builds one wheel and one virtualenv.
# By path, not by @pytest.mark.xdist_group: pytest-xdist 3.8.0 marks a group in
# item._nodeid, which pytest 9.2 no longer reads, so the mark is silently
# ignored (pytest-dev/pytest-xdist#1386).
SERIAL_GROUPS = {"tests/browser/": "browser", "tests/test_wheel.py::": "wheel"}
BROWSER_GROUP = "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in
    this thread while its browser is open, and async tests need the thread's
    loop to themselves. Under pytest-xdist the worker that runs the browser
    group is given nothing after it (pytest_xdist_make_scheduler below)."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """--dist loadgroup with SERIAL_GROUPS, and the browser group the last
    thing its worker runs. The largest unit, it goes first; with one worker, last."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Scheduling(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            for prefix, group in SERIAL_GROUPS.items():
                if nodeid.startswith(prefix):
                    return group
            return str(super()._split_scope(nodeid))

        def _holds_browser(self, node: object) -> bool:
            return BROWSER_GROUP in self.assigned_work.get(node, {})

        def _assign_work_unit(self, node: object) -> None:
            if self._holds_browser(node):
                return
            if len(self.nodes) == 1 and len(self.workqueue) > 1 and next(iter(self.workqueue)) == BROWSER_GROUP:
                self.workqueue.move_to_end(BROWSER_GROUP)
            super()._assign_work_unit(node)

        def _reschedule(self, node: object) -> None:
            if self._holds_browser(node) and self.workqueue:
                return  # the other workers take what is left
            super()._reschedule(node)

    return Scheduling(config, log)


@pytest.fixture(autouse=True)
def _forget_stopped_apps():
    yield
    forget_stopped_apps()
