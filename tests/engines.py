"""A throwaway PostgreSQL server for the store's tests, started once per test
session (per pytest-xdist worker) on a free loopback port, in a fresh
temporary folder that is removed at the end; each test gets a database of
its own on it. Nothing of the machine's own PostgreSQL service is used.

Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin, off
PATH. PostgreSQL refuses to run as root: as root, the folder is given to the
`postgres` user (the Debian package makes it) and the binaries run through
`runuser -u postgres --`. Without the binaries (or psycopg) the tests that
need the server are skipped, saying why; with CHATBOT_ENGINES_REQUIRED=1
(.ci/run) that is a failure instead, so CI cannot skip them silently."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARIES = "/usr/lib/postgresql/*/bin"
REQUIRED = "CHATBOT_ENGINES_REQUIRED"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRED) == "1":
        pytest.fail(f"{reason} ({REQUIRED}=1)")
    pytest.skip(reason)


def find_binaries() -> Path | None:
    """The newest PostgreSQL's bin folder holding initdb and pg_ctl, or None."""
    found = [Path(p) for p in glob.glob(BINARIES) if (Path(p) / "initdb").exists() and (Path(p) / "pg_ctl").exists()]
    on_path = shutil.which("initdb")
    if not found and on_path:
        found = [Path(on_path).resolve().parent]
    return max(found, key=lambda p: [int(n) for n in p.parent.name.split(".") if n.isdigit()] or [0], default=None)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """initdb, pg_ctl start and stop, as the `postgres` user when run as root."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        # Not pytest's tmp_path: /tmp/pytest-of-root is mode 700, closed to the postgres user.
        self.folder = Path(tempfile.mkdtemp(prefix="chatbot-postgres-"))
        self.data = self.folder / "data"
        self.port = 0
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def start(self, attempts: int = 3) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        for attempt in range(1, attempts + 1):
            self.port = free_port()  # free when asked; another process may take it first: try another
            options = (
                f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c full_page_writes=off"  # a throwaway server: its host never crashes mid-test
            )
            try:
                self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options)
                return
            except subprocess.CalledProcessError:
                if attempt == attempts:
                    raise

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def require_psycopg() -> None:
    """psycopg is the cluster extra (make setup-test installs it)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -r requirements-cluster.lock)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session, started when a test first asks for it."""
    require_psycopg()
    binaries = find_binaries()
    if binaries is None:
        _unavailable(f"PostgreSQL is not installed (no initdb under {BINARIES}; apt-get install postgresql)")
    assert binaries is not None
    if os.geteuid() == 0 and not _has_user("postgres"):
        _unavailable("running as root needs the postgres user to run PostgreSQL as (apt-get install postgresql)")
    server = PostgresServer(binaries)
    try:
        server.start()
    except subprocess.CalledProcessError as e:
        log = server.log()
        server.stop()
        pytest.fail(f"PostgreSQL did not start: {e.stderr or e.stdout}\n{log}")
    yield server
    server.stop()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server, for this test alone."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.url(name)
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
