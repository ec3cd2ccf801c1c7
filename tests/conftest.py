"""Fixtures that start the real server, in this process, on a free port, and
talk to it with the official clients (aiohttp, socketio.AsyncClient)."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ChatClient, Server, make_settings, start_server


@pytest.fixture
async def server(tmp_path: Path):
    srv = await start_server(make_settings(tmp_path))
    yield srv
    await srv.runner.cleanup()


@pytest.fixture
async def clients():
    """Make connected clients; every one is closed at the end of the test."""
    made: list[ChatClient] = []

    async def make(server: Server, creds: dict | None = None, namespace: str = "/chat",
                   auth: dict | None = None) -> ChatClient:
        client = ChatClient(server.url, namespace)
        made.append(client)
        if creds is not None:
            auth = {**(auth or {}), "token": await server.login(creds)}
        await client.connect(auth)
        return client

    yield make
    for client in made:
        await client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in
    this thread while its browser is open, and async tests need the thread's
    loop to themselves."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
