"""The real server in a subprocess, for the browser tests: `python run.py` on
a port of its own with its own database (and intents), stopped after."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = float(os.environ.get("BROWSER_TEST_STARTUP_TIMEOUT", "120"))
LISTENING = re.compile(r"Listening on (http://\S+)")


@contextlib.contextmanager
def run_server(
    db: Path, port: int = 0, intents: Path | None = None, **env_vars: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python run.py` on `port` (0: a free one) with the database `db` (demo
    data seeded when new), the intents folder `intents` (the repository's by
    default) and extra environment variables; yields its URL and process, and
    stops it after."""
    log_path = db.parent / f"server-{port or 'any'}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", **env_vars)
    command = [sys.executable, "run.py", "--host", "127.0.0.1", "--port", str(port), "--db", str(db)]
    if intents is not None:
        command += ["--intents", str(intents)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
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
            reader.join(5)
            proc.stdout.close()
            log.flush()
            output = log_path.read_text("utf-8", "replace")[-4000:]
            pytest.fail(
                (
                    f"the server did not print 'Listening on http://HOST:PORT' within {STARTUP_TIMEOUT:.0f}s"
                    if alive
                    else f"the server exited with code {proc.returncode}"
                )
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
            assert proc.stdout is not None
            proc.stdout.close()


def always_open_intents(target: Path, agent_chat_cap: int | None = None) -> Path:
    """A copy of the repository's intents where cltiktok's team never closes
    (so a customer who asks for a person is queued whatever the real clock says)."""
    shutil.copytree(REPO / "intents", target)
    path = target / "cltiktok" / "brand.yaml"
    yaml = YAML()  # round trip: the rest of the file stays as it is
    data = yaml.load(path.read_text(encoding="utf-8"))
    data["hours"]["days"] = [1, 2, 3, 4, 5, 6, 7]
    data["hours"]["open"] = "00:00"
    data["hours"]["close"] = "23:59"
    if agent_chat_cap is not None:
        data["service_levels"]["agent_chat_cap"] = agent_chat_cap
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    return target
