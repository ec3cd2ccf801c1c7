"""A throwaway Redis for the tests that run the server as a cluster: one
`redis-server` per test session (per pytest-xdist worker) on a free loopback
port, persisting nothing, in a temporary folder removed at the end. Nothing of
the machine's own Redis service is used. Without `redis-server` (or the
`redis` package) those tests skip, saying why; with CHATBOT_ENGINES_REQUIRED=1
(.ci/run) that is a failure instead (tests/engines.py)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from engines import _unavailable, free_port


class RedisServer:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.folder = Path(tempfile.mkdtemp(prefix="chatbot-redis-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, attempts: int = 3) -> None:
        for _ in range(attempts):
            self.port = free_port()
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._answers():
                return
            self.stop()
        raise RuntimeError("redis-server did not start")

    def _answers(self, timeout: float = 10) -> bool:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                if redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping():
                    return True
            except redis.ConnectionError:
                time.sleep(0.05)
        return False

    def restart(self) -> None:
        """Start again on the same port after `stop()` (clients reconnect to the same URL)."""
        port = self.port
        self.process = subprocess.Popen(
            [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not self._answers():
            raise RuntimeError(f"redis-server did not start again on port {port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class Watcher:
    """What is published on some channels of a Redis, as an outsider sees it."""

    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub

    async def published(self, quiet: float = 0.3) -> list[bytes]:
        """What arrived since the last call, once nothing more comes for `quiet` seconds."""
        found = []
        while (message := await self.pubsub.get_message(timeout=quiet)) is not None:
            if message["type"] in ("message", "pmessage"):
                found.append(message["data"])
        return found


@contextlib.asynccontextmanager
async def watching(url: str, channels: tuple[str, ...] = (), patterns: tuple[str, ...] = ()) -> AsyncIterator[Watcher]:
    """Subscribed to `channels` and `patterns` (confirmed) for the block."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    pubsub = client.pubsub()
    try:
        if channels:
            await pubsub.subscribe(*channels)
        if patterns:
            await pubsub.psubscribe(*patterns)
        confirmed = 0
        while confirmed < len(channels) + len(patterns):
            message = await pubsub.get_message(timeout=5)
            assert message is not None, "not subscribed after 5 s"
            confirmed += message["type"] in ("subscribe", "psubscribe")
        yield Watcher(pubsub)
    finally:
        await pubsub.aclose()
        await client.aclose()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed (Debian: apt-get install redis-server)")
    try:
        import redis  # noqa: F401
    except ImportError:
        _unavailable("the redis package is not installed (make setup-test installs requirements-cluster.lock)")
    server = RedisServer(str(binary))
    server.start()
    yield server
    server.remove()
