"""What the tests share: the demo accounts, a real server started in this
process on a free port, and an official-client wrapper that records events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from chatbot.clock import ManualClock
from chatbot.knowledge import Models
from chatbot.settings import Settings
from chatbot.web.app import create_app

ALICE = {"brand": "cltiktok", "email": "alice@example.com", "password": "alice-demo-pass"}
BOB = {"brand": "cltiktok", "email": "bob@example.com", "password": "bob-demo-pass"}
SUNNY = {"brand": "cltiktok", "email": "sunny@example.com", "password": "sunny-demo-pass"}
DANA = {"brand": "cltiktok", "email": "dana@cltiktok.example", "password": "dana-demo-pass"}
ELI = {"brand": "cltiktok", "email": "eli@cltiktok.example", "password": "eli-demo-pass"}
OLGA = {"brand": "cltiktok", "email": "olga@cltiktok.example", "password": "olga-demo-pass"}
CAROL = {"brand": "ttr-e", "email": "carol@example.com", "password": "carol-demo-pass"}
TOM = {"brand": "ttr-e", "email": "tom@ttr-e.example", "password": "tom-demo-pass"}
OMAR = {"brand": "ttr-e", "email": "omar@ttr-e.example", "password": "omar-demo-pass"}
DATA = Path(__file__).parent / "data"


@dataclass
class Server:
    url: str
    app: web.Application
    clock: ManualClock
    runner: web.AppRunner

    async def login(self, creds: dict[str, str]) -> str:
        async with aiohttp.ClientSession() as s:
            async with s.post(self.url + "/api/login", json=creds) as r:
                assert r.status == 200, await r.text()
                return (await r.json())["token"]

    async def post(self, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as s:
            async with s.post(self.url + path, json=body, headers=headers) as r:
                return r.status, (await r.json(content_type=None) if r.status != 204 else None)

    async def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as s:
            async with s.get(self.url + path, headers=headers) as r:
                return r.status, await r.json(content_type=None)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(**{"db": tmp_path / "chat.db", "watch_intents": False, "tick_seconds": 0, **overrides})


def shared_models(settings: Settings) -> Models:
    """One language detector and sentence encoder for every server this test
    process starts (they are read-only; loading them per server costs a
    second or two and ~200 MB each)."""
    key = (settings.intents_dir, settings.semantic)
    if key not in _SHARED:
        _SHARED[key] = Models.load(settings.intents_dir, semantic=settings.semantic)
    return _SHARED[key]


_SHARED: dict[tuple[Path, bool], Models] = {}


def forget_stopped_apps() -> None:
    """aiohttp keeps each application's middleware chain in a module-level
    lru_cache (web_app._cached_build_middleware, up to 1,024 entries) whose keys
    hold the application, so every server a test process starts and stops
    stays in memory with its matchers (~60 MB each: 16 GB over the stories).
    A serving process has one app; a test process has hundreds."""
    from aiohttp import web_app

    web_app._cached_build_middleware.cache_clear()


async def start_server(settings: Settings, clock: ManualClock | None = None) -> Server:
    clock = clock or ManualClock()
    app = create_app(settings, clock=clock, models=shared_models(settings))
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_seconds)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Server(f"http://{host}:{port}", app, clock, runner)


class ChatClient:
    """socketio.AsyncClient that records every event, for assertions."""

    def __init__(self, url: str, namespace: str = "/chat") -> None:
        self.url, self.namespace = url, namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.connect_error: Any = None
        self._arrived = asyncio.Condition()

        @self.sio.on("connect_error", namespace=namespace)
        async def _refused(data: Any = None) -> None:
            self.connect_error = data

        @self.sio.on("*", namespace=namespace)
        async def _any(event: str, data: Any = None) -> None:
            async with self._arrived:
                self.events.append((event, data))
                self._arrived.notify_all()

    async def connect(
        self, auth: dict | None = None, headers: dict | None = None, transports: tuple[str, ...] = ("websocket",)
    ) -> None:
        await self.sio.connect(
            self.url,
            namespaces=[self.namespace],
            auth=auth,
            headers=headers or {},
            transports=list(transports),
            wait_timeout=5,
        )

    async def call(self, event: str, data: Any, timeout: float = 5) -> Any:
        return await self.sio.call(event, data, namespace=self.namespace, timeout=timeout)

    async def emit(self, event: str, data: Any) -> None:
        await self.sio.emit(event, data, namespace=self.namespace)

    async def send(self, text: str, client_id: str | None = None) -> dict:
        ack = await self.call("message", {"client_id": client_id or str(uuid.uuid4()), "text": text})
        assert ack["ok"], ack
        return ack["message"]

    def received(self, event: str, where: Callable[[Any], bool] = lambda d: True) -> list[Any]:
        return [d for e, d in self.events if e == event and where(d)]

    async def wait_for(
        self, event: str, where: Callable[[Any], bool] = lambda d: True, count: int = 1, timeout: float = 5
    ) -> Any:
        async def _wait() -> Any:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.received(event, where)) >= count)
                return self.received(event, where)[count - 1]

        return await asyncio.wait_for(_wait(), timeout)

    async def bot_reply(self, after_seq: int, timeout: float = 5) -> dict:
        return await self.wait_for(
            "message", lambda m: m["sender"]["type"] == "bot" and m["seq"] > after_seq, timeout=timeout
        )

    async def ask(self, text: str) -> dict:
        """Send a message and return the bot's answer to it."""
        sent = await self.send(text)
        return await self.bot_reply(sent["seq"])

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        # A connection refused at the WebSocket handshake leaves python-engineio's
        # own aiohttp session open (it is closed on disconnect only).
        http = self.sio.eio.http
        if http is not None and not http.closed:
            await http.close()
