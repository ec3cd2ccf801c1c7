"""The engines bench/cluster.py runs the server on, and what it reads of them:
a throwaway redis-server and PostgreSQL on loopback in a temp folder (always
stopped and removed), the CPU seconds of processes and process trees from
/proc, and a CPU quota for a process (a cgroup) where the machine allows one.

The test suite has its own engines (tests/engines.py, tests/redis_engine.py);
the bench does not import from tests/ (pytest would come with them), and it
wants two things they do not: PostgreSQL with fsync on, as a deployment runs
it, and the PIDs whose CPU it charges to each engine."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
PG_BINARIES = "/usr/lib/postgresql/*/bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- CPU from /proc ---------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, reaped_children: bool = False) -> float:
    """utime + stime of a process, all its threads; with `reaped_children`, plus
    what its children that exited (and were waited for) used: cutime + cstime."""
    fields = _stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def children(root: int) -> list[int]:
    """Every live descendant of `root`, from the parent field of /proc/*/stat."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent_of[int(entry)] = int(_stat_fields(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    found: list[int] = []
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        kids = [child for child, parent in parent_of.items() if parent == pid]
        found += kids
        frontier += kids
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process tree: the root with its reaped children (PostgreSQL's
    postmaster waits for every backend, so a backend that ended during a round
    is counted there) plus every live descendant."""
    total = cpu_seconds(root, reaped_children=True)
    for pid in children(root):
        try:
            total += cpu_seconds(pid)
        except (OSError, IndexError):
            continue  # ended between the listing and the read: its parent's cutime has it now
    return total


# -- Redis ------------------------------------------------------------------------------------------


class RedisEngine:
    """redis-server on a free loopback port, persisting nothing."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, attempts: int = 3) -> None:
        if self.binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        for _ in range(attempts):
            self.port = free_port()  # free when asked; another process may take it first: try another
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                + ["--dir", str(self.folder)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the terminal must not stop it before the bench does
            )
            if self._answers():
                return
            self.stop()
        raise RuntimeError("redis-server did not start")

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def _answers(self, timeout: float = 10) -> bool:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                if self.client().ping():
                    return True
            except redis.ConnectionError:
                time.sleep(0.05)
        return False

    def stats(self) -> dict[str, float]:
        """Counters a round's deltas come from: PUBLISH calls, every command but
        INFO (the bench's own reads), Redis's own microseconds in them, bytes out."""
        client = self.client()
        commands = client.info("commandstats")
        net = client.info("stats")
        client.close()
        calls = {name.removeprefix("cmdstat_"): v for name, v in commands.items()}
        return {
            "publish": calls.get("publish", {}).get("calls", 0),
            "commands": sum(v["calls"] for name, v in calls.items() if name != "info"),
            "command_usec": sum(v["usec"] for name, v in calls.items() if name != "info"),
            "net_output_bytes": net.get("total_net_output_bytes", 0),
        }

    def flush(self) -> None:
        """Between configurations: the presence and lock keys of the last one go."""
        client = self.client()
        client.flushall()
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


# -- PostgreSQL -------------------------------------------------------------------------------------


def find_pg_binaries() -> Path | None:
    """The newest PostgreSQL's bin folder with initdb and pg_ctl (Debian keeps them off PATH)."""
    found = [Path(p) for p in glob.glob(PG_BINARIES) if (Path(p) / "initdb").exists() and (Path(p) / "pg_ctl").exists()]
    return max(found, key=lambda p: [int(n) for n in p.parent.name.split(".") if n.isdigit()] or [0], default=None)


class PostgresEngine:
    """initdb and pg_ctl in a folder of its own; as root through `runuser -u
    postgres` (PostgreSQL refuses to run as root), the folder given to that user."""

    def __init__(self, folder: Path, fsync: bool = True) -> None:
        binaries = find_pg_binaries()
        if binaries is None:
            raise RuntimeError(f"PostgreSQL is not installed (no initdb under {PG_BINARIES})")
        self.binaries = binaries
        self.folder = folder
        self.data = folder / "data"
        self.fsync = fsync
        self.port = 0
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(folder, "postgres", "postgres")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def start(self, attempts: int = 3) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        # fsync on (the default here) is what a deployment runs: each commit waits for the
        # disk, which is latency, not CPU; off measures the same CPU without this VM's 4-6 ms flush.
        durability = "" if self.fsync else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1{durability}"
            try:
                self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options)
                return
            except subprocess.CalledProcessError:
                if attempt == attempts:
                    raise

    @property
    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def cpu_seconds(self) -> float:
        """The postmaster, its background workers and every backend."""
        return tree_cpu_seconds(self.postmaster_pid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")


class Engines:
    """Both engines in one temp folder (opened to the postgres user when root);
    a context manager, so they stop however the bench ends."""

    def __init__(self, fsync: bool = True, tmp: str | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-cluster-", dir=tmp))
        (self.folder / "redis").mkdir()
        (self.folder / "pg").mkdir()
        self.redis = RedisEngine(self.folder / "redis")
        self.postgres = PostgresEngine(self.folder / "pg", fsync=fsync)
        if self.postgres.as_root:
            shutil.chown(self.folder, "postgres", "postgres")

    def __enter__(self) -> Engines:
        try:
            self.redis.start()
            self.postgres.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.redis.stop()
        finally:
            try:
                self.postgres.stop()
            finally:
                shutil.rmtree(self.folder, ignore_errors=True)


# -- a CPU quota per process ------------------------------------------------------------------------


class CpuCap:
    """A cgroup per capped process with a CFS quota: `share` of one core.

    cgroup v2 (/sys/fs/cgroup/cgroup.controllers lists cpu): a child group with
    cpu.max. cgroup v1 (a `cpu` hierarchy at /sys/fs/cgroup/cpu): a child group
    with cpu.cfs_quota_us. Either needs root and a writable hierarchy (not the
    case in most containers). `systemd-run --scope -p CPUQuota=` is the same
    kernel knob and needs systemd as PID 1, so it is not tried separately."""

    PERIOD_US = 100_000

    def __init__(self) -> None:
        self.kind, self.root, self.reason = self._probe()
        self.groups: list[Path] = []

    @staticmethod
    def _probe() -> tuple[str, Path | None, str]:
        v2 = Path("/sys/fs/cgroup")
        v1 = Path("/sys/fs/cgroup/cpu")
        if os.geteuid() != 0:
            return "none", None, "not root: creating a cgroup needs root"
        if (v2 / "cgroup.controllers").exists():
            if "cpu" not in (v2 / "cgroup.controllers").read_text().split():
                return "none", None, "cgroup v2 without the cpu controller at /sys/fs/cgroup"
            return "v2", v2, ""
        if (v1 / "cpu.cfs_quota_us").exists():
            return "v1", v1, ""
        return "none", None, "no cgroup cpu controller (neither v2 cpu.max nor a v1 cpu hierarchy)"

    def check(self) -> str:
        """'' when a capped group can be made here, or why not (tried for real, then removed)."""
        if self.root is None:
            return self.reason
        try:
            group = self.create("bench-cluster-probe", 0.5)
        except OSError as e:
            return f"cannot create a {self.kind} cgroup with a CPU quota: {e}"
        self.remove(group)
        return ""

    def create(self, name: str, share: float) -> Path:
        assert self.root is not None
        if self.kind == "v2":
            # a child's cpu.max exists only once the parent hands the controller down
            (self.root / "cgroup.subtree_control").write_text("+cpu")
        group = self.root / f"{name}-{os.getpid()}"
        group.mkdir(exist_ok=True)
        quota = max(1000, int(share * self.PERIOD_US))
        if self.kind == "v2":
            (group / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        self.groups.append(group)
        return group

    @staticmethod
    def add(group: Path, pid: int) -> None:
        """Move a process (all its threads) into the group; what it starts later stays there."""
        (group / "cgroup.procs").write_text(str(pid))

    @staticmethod
    def throttled(group: Path) -> dict[str, float]:
        """How often and how long the kernel held the group back (cpu.stat)."""
        out: dict[str, float] = {}
        for line in (group / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in ("nr_periods", "nr_throttled"):
                out[key] = int(value)
            elif key == "throttled_usec":  # v2
                out["throttled_seconds"] = int(value) / 1e6
            elif key == "throttled_time":  # v1, nanoseconds
                out["throttled_seconds"] = int(value) / 1e9
        return out

    def remove(self, group: Path) -> None:
        """rmdir works once the group's processes have ended; retried briefly for the last exits."""
        for _ in range(50):
            try:
                group.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
        if group in self.groups:
            self.groups.remove(group)

    def remove_all(self) -> None:
        for group in list(self.groups):
            self.remove(group)
