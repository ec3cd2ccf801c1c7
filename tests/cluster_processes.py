"""Server processes of one cluster for a test module: a fresh PostgreSQL
database on the session's server (tests/engines.py), the session's Redis
(tests/redis_engine.py), and `run.py` processes on both (as docs/deployment.md
runs them), each with its own folder and log. Removed at the end."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from browser.server_process import always_open_intents, run_server
from engines import PostgresServer
from redis_engine import RedisServer

NAMES = ("one", "two", "three", "four")


@dataclass
class Cluster:
    urls: list[str]
    database_url: str
    folders: list[Path]  # each process's folder: its log is server-any.log there
    processes: list[subprocess.Popen] = field(default_factory=list)  # a test may kill one

    def servers(self) -> dict[str, str]:
        """Each process's name (its folder's) and URL."""
        return {folder.name: url for folder, url in zip(self.folders, self.urls, strict=True)}


def forget_limits(redis_url: str) -> None:
    """Every test logs in from 127.0.0.1, and a cluster's per-address login
    limit lives in Redis (web/cluster_limits.py): each cluster starts with
    the budgets full, whatever the earlier clusters on this Redis spent."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter("chatbot:limit:*"))
        if keys:
            client.delete(*keys)


@contextlib.contextmanager
def fresh_database(postgres_server: PostgresServer, prefix: str = "cluster") -> Iterator[str]:
    """The URL of a new database on the session's server, dropped after."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url(name)
    finally:
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def cluster_processes(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    folder: Path,
    count: int = 2,
    intents: Path | list[Path] | None = None,
    **env_vars: str,
) -> Iterator[Cluster]:
    """`count` processes of one cluster on a database of their own. `intents`:
    one folder for all, or one per process; by default the repository's with
    cltiktok's team always open (so a person can be asked for whatever the
    real clock says)."""
    env = {
        "CHATBOT_REDIS_URL": redis_server.url,
        "CHATBOT_SEMANTIC": "false",  # the matcher is not what is tested here: a lighter start
        **env_vars,
    }
    if intents is None:
        intents = always_open_intents(folder / "intents")
    each = intents if isinstance(intents, list) else [intents] * count
    folders = [folder / name for name in NAMES[:count]]
    forget_limits(redis_server.url)
    with fresh_database(postgres_server) as database_url, contextlib.ExitStack() as stack:
        started = []
        for process, its_intents in zip(folders, each, strict=True):
            process.mkdir(exist_ok=True)
            db = process / "unused.db"  # run.py wants a SQLite path; the data are on PostgreSQL
            started.append(
                stack.enter_context(run_server(db, intents=its_intents, CHATBOT_DATABASE_URL=database_url, **env))
            )
        yield Cluster([url for url, _ in started], database_url, folders, [proc for _, proc in started])


async def login_body(url: str, creds: dict[str, str]) -> dict:
    """POST /api/login on the process (or proxy) at `url`: the answer's body."""
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/api/login", json=creds) as response:
            assert response.status == 200, await response.text()
            body: dict = await response.json()
            return body


async def login(url: str, creds: dict[str, str]) -> str:
    """A session's token, logged in at `url`."""
    return str((await login_body(url, creds))["token"])
