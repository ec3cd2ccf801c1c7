"""A throwaway HAProxy in front of a cluster's processes, for the test that
checks routing through a real load balancer (tests/test_cluster_haproxy.py):
`haproxy -f haproxy.cfg -db` (in the foreground) on a free loopback port,
its configuration and log in a temporary folder removed at the end. The
configuration is the sample of docs/deployment.md ("HAProxy in front") with
the addresses filled in, the log on stdout, and the name of the server that
answered in an `X-Server` header for the tests to read. Without `haproxy` the
tests skip, saying why; with CHATBOT_ENGINES_REQUIRED=1 (.ci/run) that is a
failure instead (tests/engines.py)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from engines import _unavailable, free_port

SERVER_HEADER = "X-Server"

CONFIG = """\
global
    maxconn 4096

defaults
    mode http
    log global
    option httplog
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout client-fin 30s
    timeout server-fin 30s

frontend chat
    bind {bind}
{front}    default_backend chatbot

backend chatbot
    balance url_param affinity
    hash-type consistent
    option httpchk GET /healthz
    http-check expect status 200
{extra}{servers}
"""


def haproxy_config(bind: str, servers: dict[str, str], *, log: str = "", front: str = "", extra: str = "") -> str:
    """haproxy.cfg for `servers` (name -> http://host:port), listening on
    `bind`; `log`, `front` and `extra` are lines added to the global, frontend
    and backend sections."""
    lines = "".join(f"    server {name} {urlsplit(url).netloc} check inter 2s\n" for name, url in servers.items())
    config = CONFIG.format(bind=bind, servers=lines, front=front, extra=extra)
    return config.replace("global\n", f"global\n{log}", 1)


def require_haproxy() -> str:
    binary = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )  # Debian's is in /usr/sbin, off a user's PATH
    if binary is None:
        _unavailable("haproxy is not installed (Debian: apt-get install haproxy)")
    assert binary is not None
    return binary


# A network that blocks WebSockets (some corporate proxies do): the upgrade is refused, so
# clients that try WebSocket first (the widget, the console) fall back to long-polling.
REFUSE_WEBSOCKETS = "    http-request deny deny_status 403 if { hdr(upgrade) -i websocket }\n"


class HAProxy:
    def __init__(self, binary: str, servers: dict[str, str], refuse_websockets: bool = False) -> None:
        self.binary = binary
        self.servers = servers
        self.front = REFUSE_WEBSOCKETS if refuse_websockets else ""
        self.folder = Path(tempfile.mkdtemp(prefix="chatbot-haproxy-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "haproxy.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, attempts: int = 3) -> None:
        config = self.folder / "haproxy.cfg"
        for _ in range(attempts):
            self.port = free_port()  # free when asked; another process may take it first: try another
            header = f"    http-response set-header {SERVER_HEADER} %s\n"  # %s: the server's name
            log = "    log stdout format raw local0\n"
            bind = f"127.0.0.1:{self.port}"
            config.write_text(haproxy_config(bind, self.servers, log=log, front=self.front, extra=header))
            with self.log_path.open("ab") as out:
                self.process = subprocess.Popen(
                    [self.binary, "-f", str(config), "-db"], stdout=out, stderr=subprocess.STDOUT
                )
            if self._all_serving():
                return
            self.stop()
        raise RuntimeError(f"haproxy did not start, or not every server came up\n{self.log()[-3000:]}")

    def _all_serving(self, timeout: float = 20) -> bool:
        """The port answers, and requests without an affinity (round robin)
        have reached every server: all of them are up behind it."""
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and seen != set(self.servers):
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    seen.add(response.headers.get(SERVER_HEADER, ""))
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        return seen == set(self.servers)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def haproxy_in_front(servers: dict[str, str], refuse_websockets: bool = False) -> Iterator[HAProxy]:
    """HAProxy on a free loopback port in front of `servers` (name -> URL),
    every server up behind it; stopped and removed after."""
    proxy = HAProxy(require_haproxy(), servers, refuse_websockets)
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.remove()
