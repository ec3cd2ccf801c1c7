"""Past one process (issue 20, "Measure"): what a message costs embedded, on
Redis + PostgreSQL with one process, and with two processes sharing the
customers; and from that, how many messages N processes would hold.

    .venv/bin/python bench/cluster.py                  # the configurations and the model: 5-8 minutes
    .venv/bin/python bench/cluster.py --quota 0.3      # ... and S(N) for N = 1, 2, 3 capped servers: 12-25 minutes
    .venv/bin/python bench/cluster.py --model-from bench/results/cluster-latest.json --receive-ms 0.1
                                                       # the model again from a run, other assumptions
    .venv/bin/python bench/cluster.py --customers 100 --rates 20 --round-seconds 2 --warmup-seconds 1 \
        --idle-seconds 1 --quiet-wait 1 --grace 3      # a smoke test: under a minute

Configurations (each a fresh database and fresh server processes, `run.py`
exactly as deployed, with the product's default settings):
  embedded  one process, SQLite, the in-memory Socket.IO manager (the default)
  one       one process, `--database postgresql://... --redis redis://...`
  two       two such processes; half the customers connect to each

Customers and texts are bench/run.py's sweep's: created in the store before
the servers start, with sessions (bench/loadgen.py), the sentences of
tests/data/dev.yaml, open-loop rounds at each of --rates (messages/s in all,
split evenly over the processes). Each round reads, before and after, the CPU
(/proc utime + stime) of every server process, of redis-server and of the
whole PostgreSQL process tree, and Redis's INFO commandstats: publishes and
commands per customer message.

The engines (redis-server, PostgreSQL from initdb) run on loopback in a temp
folder (bench/engines.py) and are always stopped. Results: a report on stdout,
JSON in bench/results/cluster-latest.json and bench/results/cluster-<time>/.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
import loadgen as lg
from engines import CpuCap, Engines, cpu_seconds

PY = sys.executable
perf = time.perf_counter

# The goals: each added process adds >= 80% of one process's throughput
# up to 8 processes (by the model), and the cluster's CPU per message is at most
# 1.3x the embedded one's.
UP_TO_PROCESSES = 8
GOALS: dict[str, float] = {
    "added_process_share": 0.8,
    "up_to_processes": UP_TO_PROCESSES,
    "cpu_ratio": 1.3,
    "p99_ms": 50,
}
MODEL_PROCESSES = (1, 2, 3, 4, 8)


@dataclass(frozen=True)
class Config:
    name: str
    processes: int
    cluster: bool
    label: str


CONFIGS = {
    "embedded": Config("embedded", 1, False, "embedded (SQLite, 1 process)"),
    "one": Config("one", 1, True, "1 process + Redis + PG"),
    "two": Config("two", 2, True, "2 processes + Redis + PG"),
}


def log(text: str) -> None:
    print(text, flush=True)


# -- server processes -------------------------------------------------------------------------------


class ServerProcess:
    """`run.py` on a free loopback port, as deployed; SIGTERM to stop it."""

    def __init__(self, tag: str, workdir: Path, store_args: list[str]) -> None:
        self.tag = tag
        self.out = workdir / f"{tag}.out"
        self.log = workdir / f"{tag}.log"
        self.command = [PY, str(REPO / "run.py"), "--port", "0", "--no-demo", *store_args]
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, group: Path | None = None, timeout: float = 90) -> str:
        # The flags decide where the data and the rooms are: no CHATBOT_* store setting leaks in.
        env = {k: v for k, v in os.environ.items() if k not in ("CHATBOT_DATABASE_URL", "CHATBOT_REDIS_URL")}
        with open(self.out, "w") as out, open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                self.command, stdout=out, stderr=err, cwd=REPO, env=env, start_new_session=True
            )
        if group is not None:
            CpuCap.add(group, self.proc.pid)  # before start-up's threads, which then stay in the group
        deadline = perf() + timeout
        while perf() < deadline:
            text = self.out.read_text()
            if "Listening on " in text:
                self.url = text.split("Listening on ", 1)[1].split()[0]
                return self.url
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.tag} exited: {self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.tag} did not start in {timeout} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            log(f"  ({self.tag} did not stop in 30 s: killed)")
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class Deployment:
    """One configuration, running: its servers, a load generator per server
    (holding that server's share of the customers), its cgroups if capped."""

    config: Config
    servers: list[ServerProcess]
    gens: list[lg.LoadGen] = field(default_factory=list)
    groups: list[Path] = field(default_factory=list)
    connect: list[dict[str, Any]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def deployment(
    config: Config,
    args: argparse.Namespace,
    engines: Engines,
    texts: dict[str, list[str]],
    workdir: Path,
    tag: str,
    customers: int,
    cap: CpuCap | None = None,
) -> AsyncIterator[Deployment]:
    """A fresh database with the customers, the servers, the customers connected; all stopped after."""
    if config.cluster:
        engines.redis.flush()
        url = engines.postgres.create_database(f"bench_{tag}".replace("-", "_"))
        store: str | Path = url
        store_args = ["--database", url, "--redis", engines.redis.url]
    else:
        store = workdir / f"{tag}.db"
        store_args = ["--db", str(store)]
    # loadgen's type says Path; the store takes a postgresql:// URL as well (chatbot/store/__init__.py)
    people = await lg.create_customers(store, customers)  # type: ignore[arg-type]
    servers = [ServerProcess(f"{tag}-p{i + 1}", workdir, store_args) for i in range(config.processes)]
    dep = Deployment(config, servers)
    try:
        for server in servers:
            group = cap.create(f"bench-{server.tag}", args.quota) if cap else None
            if group is not None:
                dep.groups.append(group)
            await server.start(group)
        await connect_customers(dep, people, texts)
        yield dep
    finally:
        for gen in dep.gens:
            await gen.close()
        for server in servers:
            server.stop()
        for group in dep.groups:
            if cap:
                cap.remove(group)
        if isinstance(store, Path):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store}{suffix}").unlink(missing_ok=True)


async def connect_customers(dep: Deployment, customers: list[lg.Customer], texts: dict[str, list[str]]) -> None:
    """Contiguous halves (thirds...), so each process gets both brands' customers, as a proxy would."""
    n = len(dep.servers)
    size = -(-len(customers) // n)
    for i, server in enumerate(dep.servers):
        part = customers[i * size : (i + 1) * size]
        gen = lg.LoadGen(server.url, part, texts, seed=7 + i)
        dep.gens.append(gen)
        dep.connect.append(await gen.connect_all(len(part)))
        await gen.wait_conversations()


# -- one measured round -----------------------------------------------------------------------------


@dataclass
class Snapshot:
    """Counters read before and after a round; a round's figures are the differences."""

    t: float
    servers: list[float]
    redis: float
    postgres: float
    redis_stats: dict[str, float]
    machine_busy: float
    own: float
    throttled: list[dict[str, float]]

    @classmethod
    def take(cls, dep: Deployment, engines: Engines) -> Snapshot:
        cluster = dep.config.cluster
        return cls(
            t=perf(),
            servers=[cpu_seconds(s.pid) for s in dep.servers],
            redis=cpu_seconds(engines.redis.pid) if cluster else 0.0,
            postgres=engines.postgres.cpu_seconds() if cluster else 0.0,
            redis_stats=engines.redis.stats() if cluster else {},
            machine_busy=lg.machine_busy_seconds(),
            own=lg.own_cpu_seconds(),
            throttled=[CpuCap.throttled(g) for g in dep.groups],
        )


async def wait_quiet(args: argparse.Namespace, dep: Deployment, engines: Engines) -> dict[str, float]:
    """The machine is shared: wait (at most --quiet-wait s) until processes other
    than ours use under --quiet-load cores for a second, so a round is not
    measured while something else eats the CPU. Returns what was seen."""
    started = perf()
    while True:
        before = Snapshot.take(dep, engines)
        await asyncio.sleep(1.0)
        other = other_load(before, Snapshot.take(dep, engines))
        waited = perf() - started
        if other <= args.quiet_load or waited >= args.quiet_wait:
            return {"other_load_before": round(max(0.0, other), 2), "waited_seconds": round(waited, 1)}


def other_load(a: Snapshot, b: Snapshot) -> float:
    """Cores used between two snapshots by processes that are not this benchmark's."""
    ours = sum(b.servers) - sum(a.servers) + (b.redis - a.redis) + (b.postgres - a.postgres) + (b.own - a.own)
    return max(0.0, (b.machine_busy - a.machine_busy) - ours) / (b.t - a.t)


async def idle_window(dep: Deployment, engines: Engines, seconds: float) -> dict[str, Any]:
    """Cores used with every customer connected and nobody typing: the upkeep of
    the connections (pings), presence heartbeats, the timers. A round's CPU per
    message includes its share of this, more so at low rates."""
    before = Snapshot.take(dep, engines)
    await asyncio.sleep(seconds)
    after = Snapshot.take(dep, engines)
    wall = after.t - before.t
    return {
        "seconds": round(wall, 1),
        "servers_cores": round((sum(after.servers) - sum(before.servers)) / wall, 4),
        "redis_cores": round((after.redis - before.redis) / wall, 4),
        "postgres_cores": round((after.postgres - before.postgres) / wall, 4),
        "other_load": round(other_load(before, after), 3),
    }


async def chat_round(
    dep: Deployment, engines: Engines, args: argparse.Namespace, rate: float, seconds: float, quiet: bool = True
) -> dict[str, Any]:
    """Open loop at `rate` messages/s in all, split evenly over the processes; CPU of everything around it."""
    waited = await wait_quiet(args, dep, engines) if quiet else {}
    gc.collect()
    gc.freeze()
    gc.disable()  # the generator must not pause mid-round and blame the servers
    conn_errors0 = [collections.Counter(g.errors) for g in dep.gens]
    before = Snapshot.take(dep, engines)
    try:
        name = f"{dep.config.name} {rate:g}/s"
        share = rate / len(dep.gens)
        reports = await asyncio.gather(*(g.chat(share, seconds, 1.0, args.grace, name=name) for g in dep.gens))
    finally:
        gc.enable()
        gc.unfreeze()
    after = Snapshot.take(dep, engines)
    sent_list = [s for g in dep.gens for s in g.current.sent]  # the round just run, from every generator
    out = round_figures(before, after, reports, sent_list)
    for g, errors0 in zip(dep.gens, conn_errors0, strict=True):
        for kind, count in (collections.Counter(g.errors) - errors0).items():
            out["error_kinds"][f"connection_{kind}"] = out["error_kinds"].get(f"connection_{kind}", 0) + count
    out.update(rate=rate, seconds=seconds, quiet=waited)
    out["passed"] = passes(out, args.p99_goal)
    return out


def round_figures(
    before: Snapshot, after: Snapshot, reports: list[dict[str, Any]], sent_list: list[lg.Sent]
) -> dict[str, Any]:
    wall = after.t - before.t
    sent = sum(r["sent"] for r in reports) or 1
    servers = [b - a for a, b in zip(before.servers, after.servers, strict=True)]
    redis, postgres = after.redis - before.redis, after.postgres - before.postgres
    rs0, rs1 = before.redis_stats, after.redis_stats

    def per_msg_ms(cpu: float) -> float:
        return round(cpu * 1000 / sent, 4)

    def per_msg(key: str, scale: float = 1.0) -> float | None:
        return round((rs1[key] - rs0[key]) * scale / sent, 3) if rs1 else None

    return {
        "sent": sum(r["sent"] for r in reports),
        "reply_ms": lg.summary_ms([s.t_reply - s.t_send for s in sent_list if s.replies]),
        "lost": sum(r["lost"] for r in reports),
        "errors": sum(r["errors"] for r in reports),
        "error_kinds": error_kinds(reports),
        "drops": sum(r["drops"] for r in reports),
        "wall_seconds": round(wall, 2),
        "cpu_ms_per_message": {
            "servers": per_msg_ms(sum(servers)),
            "redis": per_msg_ms(redis),
            "postgres": per_msg_ms(postgres),
            "total": per_msg_ms(sum(servers) + redis + postgres),
        },
        "server_cores": [round(c / wall, 3) for c in servers],
        "redis_cores": round(redis / wall, 3),
        "postgres_cores": round(postgres / wall, 3),
        "publishes_per_message": per_msg("publish"),
        "redis_commands_per_message": per_msg("commands"),
        "redis_command_us_per_message": per_msg("command_usec"),
        "redis_bytes_out_per_message": per_msg("net_output_bytes"),
        "generator_cores": round((after.own - before.own) / wall, 3),
        "other_load": round(other_load(before, after), 3),
        "throttled": [
            {k: round(t1[k] - t0.get(k, 0), 3) for k in t1}
            for t0, t1 in zip(before.throttled, after.throttled, strict=True)
        ],
    }


def error_kinds(reports: list[dict[str, Any]]) -> dict[str, int]:
    """What the errors were, over every generator (a connection's errors are counted in `errors` only)."""
    kinds: collections.Counter[str] = collections.Counter()
    for r in reports:
        kinds.update(r["error_kinds"])
        kinds["unexpected_replies"] += r["unexpected_replies"]
    return {k: v for k, v in kinds.items() if v}


def passes(r: dict[str, Any], p99_goal: float) -> bool:
    """p99 under the goal, nothing lost or dropped, no error. A second bot message
    to one customer message is not an error here: a message with two questions
    ("Will the policy change? I want to be sure before I pay") is answered twice,
    and which configuration draws such a text is chance (one generator per
    process, each its own draws). The loadgen counts it as an unexpected reply;
    the report shows the count beside each round."""
    p99 = r["reply_ms"]["p99"]
    errors = r["errors"] - r["error_kinds"].get("unexpected_replies", 0)
    return p99 is not None and p99 < p99_goal and r["lost"] == 0 and errors == 0 and r["drops"] == 0


def far_past(r: dict[str, Any], p99_goal: float) -> bool:
    """A server far past its limit only builds a backlog: stop raising the rate."""
    p99 = r["reply_ms"]["p99"]
    return p99 is None or p99 > 20 * p99_goal or r["lost"] > 0.05 * max(1, r["sent"])


def describe_idle(idle: dict[str, Any]) -> str:
    return (
        f"servers {idle['servers_cores']} cores, redis {idle['redis_cores']}, pg {idle['postgres_cores']} "
        f"(other load {idle['other_load']})"
    )


def describe(r: dict[str, Any]) -> str:
    c, q = r["cpu_ms_per_message"], r["reply_ms"]
    return (
        f"p50 {q['p50']} p99 {q['p99']} ms, lost {r['lost']}, errors {r['errors']}; CPU ms/msg servers "
        f"{c['servers']} redis {c['redis']} pg {c['postgres']}; publishes/msg {r['publishes_per_message']}; "
        f"other load {r['other_load']}"
    )


# -- phase 1: the configurations ----------------------------------------------------------------------


async def run_configs(
    args: argparse.Namespace, engines: Engines, texts: dict[str, list[str]], workdir: Path
) -> list[dict[str, Any]]:
    """Each configuration in turn (a name may repeat, for a second sample), each rate ascending."""
    runs: list[dict[str, Any]] = []
    for i, name in enumerate(args.configs):
        config = CONFIGS[name]
        log(f"{config.label}: {args.customers} customers ...")
        async with deployment(config, args, engines, texts, workdir, f"{name}-{i + 1}", args.customers) as dep:
            run: dict[str, Any] = {"config": name, "connect": dep.connect, "rounds": []}
            if args.warmup_seconds:
                # a fresh process's first turns pay for lazy imports and cold caches: not measured
                await chat_round(dep, engines, args, min(args.rates), args.warmup_seconds, quiet=False)
            run["idle"] = await idle_window(dep, engines, args.idle_seconds)
            log(f"  idle: {describe_idle(run['idle'])}")
            for rate in args.rates:
                r = await chat_round(dep, engines, args, rate, args.round_seconds)
                run["rounds"].append(r)
                log(f"  {name} {rate:g}/s: {describe(r)}")
                if far_past(r, args.p99_goal):
                    break
                await asyncio.sleep(args.pause)
        runs.append(run)
    return runs


SUMMARY_KEYS = ("publishes_per_message", "redis_commands_per_message", "redis_bytes_out_per_message")


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per configuration and rate: medians over repeated runs (one run: its figures)."""
    grouped: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for run in runs:
        for r in run["rounds"]:
            grouped.setdefault((run["config"], r["rate"]), []).append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (name, rate), rounds in grouped.items():

        def med(values: list[float | None]) -> float | None:
            kept = [v for v in values if v is not None]
            return round(statistics.median(kept), 4) if kept else None

        out.setdefault(name, {})[f"{rate:g}"] = {
            "rate": rate,
            "samples": len(rounds),
            "passed": all(r["passed"] for r in rounds),
            "p50_ms": med([r["reply_ms"]["p50"] for r in rounds]),
            "p99_ms": med([r["reply_ms"]["p99"] for r in rounds]),
            "lost": sum(r["lost"] for r in rounds),
            "errors": sum(r["errors"] for r in rounds),
            "unexpected_replies": sum(r["error_kinds"].get("unexpected_replies", 0) for r in rounds),
            "cpu_ms_per_message": {
                k: med([r["cpu_ms_per_message"][k] for r in rounds]) for k in ("servers", "redis", "postgres", "total")
            },
            **{k: med([r[k] for r in rounds]) for k in SUMMARY_KEYS},
            "other_load": med([r["other_load"] for r in rounds]),
        }
    return out


def idle_summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per configuration: the median idle cores of its runs."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(run["config"] for run in runs):
        idles = [run["idle"] for run in runs if run["config"] == name and "idle" in run]
        if idles:
            keys = ("servers_cores", "redis_cores", "postgres_cores")
            out[name] = {k: round(statistics.median(i[k] for i in idles), 4) for k in keys}
    return out


# -- the model ------------------------------------------------------------------------------------------


def model_rate(summary: dict[str, dict[str, dict[str, Any]]]) -> tuple[str | None, bool]:
    """The rate the model reads: the highest every configuration held (p99 under
    the goal, nothing lost); failing that, the highest all were measured at."""
    names = [n for n in CONFIGS if n in summary]
    common = set.intersection(*(set(summary[n]) for n in names)) if names else set()
    held = [k for k in common if all(summary[n][k]["passed"] for n in names)]
    if held:
        return max(held, key=float), True
    return (max(common, key=float), False) if common else (None, False)


def matched_two(summary: dict[str, dict[str, dict[str, Any]]], key: str) -> tuple[str, bool]:
    """Two processes at twice the rate read, so that each carries what the one
    process did: a process's CPU per message falls as its own rate rises (the
    store's group commit, the loop's wake-ups shared by more messages: one
    process here spent 5.4 ms a message at 100/s and 4.4 at 200/s), and two
    processes at the same total rate each run at half, which would count that
    loss of batching as the cost of a second process. Falls back to the same
    total rate when twice was not measured or did not hold."""
    double = f"{2 * float(key):g}"
    two = summary.get("two", {})
    if double in two and two[double]["passed"]:
        return double, True
    return key, False


def model(summary: dict[str, dict[str, dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    """S(N), the highest rate N processes hold at saturation, from the measured costs:

      per process:  (T/N)·s1 + T·(N-1)/N·x  <=  k        x = s2 - s1, the extra per message a listener costs
      Redis:        T·(rho1 + (N-1)·(rho2 - rho1))  <=  u     (one thread; fan-out grows with subscribers)
      PostgreSQL:   T·pi  <=  pg_cores·u

    s1: the servers' CPU per message with one process at the rate read; s2:
    with two processes at twice that rate (each at the rate read, see
    matched_two), summed over both; k: usable cores per process; u: usable
    share of a core."""
    key, held = model_rate(summary)
    needed = ("embedded", "one", "two")
    if key is None or not all(n in summary and key in summary[n] for n in needed):
        return {"skipped": "the model needs all three configurations measured at one common rate"}
    two_key, matched = matched_two(summary, key)
    emb, one, two = summary["embedded"][key], summary["one"][key], summary["two"][two_key]
    s_emb = emb["cpu_ms_per_message"]["servers"]
    s1, s2 = one["cpu_ms_per_message"]["servers"], two["cpu_ms_per_message"]["servers"]
    rho1, rho2 = one["cpu_ms_per_message"]["redis"], two["cpu_ms_per_message"]["redis"]
    pi = statistics.mean([one["cpu_ms_per_message"]["postgres"], two["cpu_ms_per_message"]["postgres"]])
    publishes = one["publishes_per_message"] or 0.0
    measured_listen = s2 - s1
    # --receive-ms replaces the measurement (e.g. the design study's 0.10-0.17 ms per publish);
    # noise can make the measured one negative, which is no evidence of a tax and is taken as none
    listen = args.receive_ms * publishes if args.receive_ms is not None else max(0.0, measured_listen)
    redis_step = max(0.0, rho2 - rho1)
    k = args.cores_per_process * args.usable
    u = args.usable

    def per_n(n: int) -> dict[str, Any]:
        servers = 1000 * k * n / (s1 + (n - 1) * listen)
        redis = 1000 * u / (rho1 + (n - 1) * redis_step) if rho1 > 0 else float("inf")
        postgres = 1000 * args.pg_cores * u / pi if pi > 0 else float("inf")
        limits = {"servers": servers, "redis": redis, "postgresql": postgres}
        bound = min(limits, key=lambda name: limits[name])
        cpu = s1 + (n - 1) * listen + rho1 + (n - 1) * redis_step + pi
        return {"n": n, "rate": limits[bound], "bound": bound, "limits": limits, "cluster_cpu_ms": cpu}

    table = [per_n(n) for n in range(1, UP_TO_PROCESSES + 1)]
    s_1 = table[0]["rate"]
    for prev, row in zip([None, *table], table, strict=False):
        row["efficiency"] = row["rate"] / (row["n"] * s_1)
        row["added_share"] = None if prev is None else (row["rate"] - prev["rate"]) / s_1
    worst_added = min(r["added_share"] for r in table[1:])
    noise_hides_tax = args.receive_ms is None and measured_listen <= 0
    measured_two = two["cpu_ms_per_message"]["total"]
    return {
        "rate_read": float(key),
        "two_rate_read": float(two_key),
        "two_at_matched_load": matched,
        "held_by_all": held,
        "inputs_ms": {
            "embedded_server": s_emb,
            "one_server": s1,
            "two_servers": s2,
            "listen_tax_per_message": round(listen, 4),
            "listen_tax_measured": round(measured_listen, 4),
            "listen_tax_source": "--receive-ms" if args.receive_ms is not None else "two minus one",
            "listen_tax_per_publish": round(listen / publishes, 4) if publishes else None,
            "redis_one": rho1,
            "redis_two": rho2,
            "postgresql": round(pi, 4),
            "publishes_per_message": publishes,
        },
        "assumptions": {"cores_per_process": args.cores_per_process, "usable": u, "pg_cores": args.pg_cores},
        "embedded_rate": 1000 * k / s_emb if s_emb else None,
        # JSON has no infinity: a cap that does not apply (an engine that cost nothing) is null
        "table": [{**r, "limits": {b: _finite(v) for b, v in r["limits"].items()}} for r in table],
        "worst_added_share": worst_added,
        # a tax hidden by noise proves nothing either way: no verdict then
        "scaling_goal_met": None if noise_hides_tax else worst_added >= GOALS["added_process_share"],
        "cpu_ratio_one": one["cpu_ms_per_message"]["total"] / s_emb if s_emb else None,
        "cpu_ratio_two": measured_two / s_emb if s_emb else None,
        "cpu_ratio_eight": table[-1]["cluster_cpu_ms"] / s_emb if s_emb else None,
        "cpu_goal_met": bool(s_emb) and measured_two <= GOALS["cpu_ratio"] * s_emb,
    }


def _finite(v: float) -> float | None:
    return round(v, 1) if v != float("inf") else None


# -- phase 2: capped servers, scaling shown directly ------------------------------------------------


async def climb(dep: Deployment, engines: Engines, args: argparse.Namespace, rates: list[int]) -> list[dict[str, Any]]:
    """Rounds at rising rates until one fails (a capped server past its limit only builds a backlog)."""
    if args.warmup_seconds:
        await chat_round(dep, engines, args, rates[0], args.warmup_seconds, quiet=False)
    rounds = []
    for rate in rates:
        r = await chat_round(dep, engines, args, rate, args.quota_seconds)
        rounds.append(r)
        log(f"  {dep.config.label}, {rate:g}/s: {describe(r)}; throttled {r['throttled']}")
        if not r["passed"]:
            break
        await asyncio.sleep(args.pause)
    return rounds


async def run_quota(
    args: argparse.Namespace, engines: Engines, texts: dict[str, list[str]], workdir: Path, s1_ms: float | None
) -> dict[str, Any]:
    """N = 1, 2, 3 servers, each held to --quota of a core by a cgroup: the highest
    rate each N holds with p99 under the goal, climbing a ladder of rates around
    N times one capped process's CPU-bound rate, stopping at the first failure."""
    cap = CpuCap()
    why = cap.check()
    if why:
        log(f"quota phase skipped: {why}")
        return {"skipped": why}
    per_process = args.quota_base or 1000 * args.quota / (s1_ms or 4.0)
    out: dict[str, Any] = {"quota": args.quota, "cgroup": cap.kind, "per_process_estimate": round(per_process, 1)}
    out["by_processes"] = []
    busy = max(args.quota_processes) * args.quota
    if busy > (os.cpu_count() or 1) - 0.5:
        log(f"  note: {busy:g} cores of capped servers leave little for the engines and the generator")
    try:
        for n in args.quota_processes:
            config = Config(f"quota-{n}", n, True, f"{n} x {args.quota:g} core")
            log(f"quota {args.quota:g} core each, {n} process(es) ...")
            tag, customers = f"quota-{n}", args.quota_customers
            async with deployment(config, args, engines, texts, workdir, tag, customers, cap=cap) as dep:
                rounds = await climb(dep, engines, args, [round(n * per_process * f) for f in args.quota_steps])
            best = max((r["rate"] for r in rounds if r["passed"]), default=0)
            out["by_processes"].append({"n": n, "max_rate": best, "rounds": rounds})
    finally:
        cap.remove_all()
    base = next((row["max_rate"] for row in out["by_processes"] if row["n"] == 1), 0)
    for row in out["by_processes"]:
        row["efficiency"] = row["max_rate"] / (row["n"] * base) if base else None
    return out


# -- report ------------------------------------------------------------------------------------------


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def configs_table(summary: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    names = [n for n in CONFIGS if n in summary]
    rates = sorted({k for n in names for k in summary[n]}, key=float)
    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("p50 ms", lambda s: s["p50_ms"]),
        ("p99 ms", lambda s: s["p99_ms"]),
        (
            "lost / errors (of which second answers)",
            lambda s: f"{s['lost']} / {s['errors']} ({s['unexpected_replies']})",
        ),
        ("servers CPU ms/msg", lambda s: s["cpu_ms_per_message"]["servers"]),
        ("Redis CPU ms/msg", lambda s: s["cpu_ms_per_message"]["redis"]),
        ("PostgreSQL CPU ms/msg", lambda s: s["cpu_ms_per_message"]["postgres"]),
        ("all CPU ms/msg", lambda s: s["cpu_ms_per_message"]["total"]),
        ("publishes/msg", lambda s: s["publishes_per_message"]),
        ("Redis commands/msg", lambda s: s["redis_commands_per_message"]),
        ("Redis bytes out/msg", lambda s: s["redis_bytes_out_per_message"]),
        ("other load (cores)", lambda s: s["other_load"]),
    ]
    lines: list[str] = []
    for rate in rates:
        lines += [
            f"### {rate}/s",
            "",
            "| | " + " | ".join(CONFIGS[n].label for n in names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for label, get in rows:
            cells = [fmt(get(summary[n][rate])) if rate in summary[n] else "not run" for n in names]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def idle_lines(idle: dict[str, dict[str, float]]) -> list[str]:
    if not idle:
        return []
    lines = ["Idle, everyone connected and nobody typing (cores; part of each round's CPU per message):", ""]
    for name, i in idle.items():
        lines.append(
            f"- {CONFIGS[name].label}: servers {i['servers_cores']}, Redis {i['redis_cores']}, "
            f"PostgreSQL {i['postgres_cores']}"
        )
    return [*lines, ""]


def tax_warning(i: dict[str, Any]) -> list[str]:
    if i["listen_tax_source"] != "two minus one":
        return [
            f"- the receive cost is given (--receive-ms), not measured; measured: {i['listen_tax_measured']} ms/msg"
        ]
    if i["listen_tax_measured"] <= 0:
        return [
            f"- ⚠ two processes cost {i['listen_tax_measured']} ms/msg LESS than one: noise hides the tax, so "
            "the scaling verdict is no evidence; repeat the configurations (--configs embedded,one,two,one,two) "
            "or give the receive cost (--receive-ms 0.1)"
        ]
    return []


def assumption_lines(m: dict[str, Any]) -> list[str]:
    i, a = m["inputs_ms"], m["assumptions"]
    source = (
        f"two processes {i['two_servers']} minus one" if i["listen_tax_source"] == "two minus one" else "--receive-ms"
    )
    return [
        "Assumptions:",
        f"- a process's capacity is {a['cores_per_process']:g} core x {a['usable']:g} usable "
        f"(the rest is the headroom a p99 needs) / its CPU per message; S(1) cluster "
        f"{m['table'][0]['rate']:,.0f}/s, embedded {fmt(m['embedded_rate'])}/s",
        f"- servers: {i['one_server']} ms/msg with one process; every further process adds "
        f"{i['listen_tax_per_message']} ms/msg to the cluster (the broadcast tax; {source}), i.e. "
        f"{fmt(i['listen_tax_per_publish'])} ms per publish received, at {i['publishes_per_message']} "
        "publishes per bot turn",
        f"- Redis: one thread ({a['usable']:g} core usable); {i['redis_one']} ms/msg with one subscriber, "
        f"+{max(0.0, i['redis_two'] - i['redis_one']):.4f} ms/msg per further subscriber",
        f"- PostgreSQL: {i['postgresql']} ms/msg spread over {a['pg_cores']:g} cores; no lock contention modelled",
        "- saturation, not a latency goal; the generator, the proxy and the network are not counted",
        *tax_warning(i),
    ]


def model_lines(m: dict[str, Any]) -> list[str]:
    if "skipped" in m:
        return [f"Model skipped: {m['skipped']}", ""]
    lines = [
        "| N processes | S(N) msg/s | bound by | servers cap | Redis cap | PostgreSQL cap | "
        "S(N)/(N*S(1)) | added by the Nth, share of S(1) | cluster CPU ms/msg |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in m["table"]:
        if r["n"] not in MODEL_PROCESSES:
            continue
        lim = r["limits"]
        lines.append(
            f"| {r['n']} | {r['rate']:,.0f} | {r['bound']} | {lim['servers']:,.0f} | {fmt(lim['redis'])} | "
            f"{fmt(lim['postgresql'])} | {r['efficiency']:.2f} | {fmt(r['added_share'], 2)} | "
            f"{r['cluster_cpu_ms']:.3f} |"
        )
    verdict = {True: "met", False: "NOT met", None: "not shown (see ⚠)"}[m["scaling_goal_met"]]
    cpu_verdict = "met" if m["cpu_goal_met"] else "NOT met"
    lines += [
        "",
        f"Read at {m['rate_read']:g}/s"
        + ("" if m["held_by_all"] else " (NOT held by every configuration)")
        + (
            f", two processes at {m['two_rate_read']:g}/s (each at the rate read)."
            if m.get("two_at_matched_load")
            else ", two processes at the same total rate (twice it was not held or not measured)."
        ),
        *assumption_lines(m),
        "",
        f"Goal, each added process adds >= {GOALS['added_process_share']:.0%} of S(1) up to "
        f"{UP_TO_PROCESSES}: worst {m['worst_added_share']:.2f}: **{verdict}**",
        f"Goal, cluster CPU per message <= {GOALS['cpu_ratio']}x embedded (servers + Redis + PostgreSQL): "
        f"measured with one process {fmt(m.get('cpu_ratio_one'))}x, with two {fmt(m['cpu_ratio_two'])}x, "
        "by the model at 8 "
        f"{fmt(m['cpu_ratio_eight'])}x: **{cpu_verdict}**",
        "",
    ]
    return lines


def quota_lines(q: dict[str, Any] | None) -> list[str]:
    if not q:
        return []
    if "skipped" in q:
        return ["## Capped servers", "", f"Skipped on this machine: {q['skipped']}", ""]
    lines = [
        f"## Capped servers ({q['quota']:g} core each, cgroup {q['cgroup']})",
        "",
        "| N | highest rate held | S(N)/(N*S(1)) | rates tried |",
        "|---:|---:|---:|---|",
    ]
    for row in q["by_processes"]:
        tried = ", ".join(f"{r['rate']:g}{'' if r['passed'] else ' ✗'}" for r in row["rounds"])
        lines.append(f"| {row['n']} | {row['max_rate']:g} | {fmt(row['efficiency'], 2)} | {tried} |")
    return [*lines, ""]


def report(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        f"# Past one process {res['started']} ({res['customers']} customers, {res['round_seconds']} s rounds, "
        f"PostgreSQL fsync {'on' if res['pg_fsync'] else 'off'})",
        f"machine: {m['nproc']} cores, load average {m['loadavg']}, Python {m['python']}",
        "",
        "## The configurations",
        "",
        *configs_table(res["summary"]),
        *idle_lines(res.get("idle", {})),
        "## How far N processes would go (the model)",
        "",
        *model_lines(res["model"]),
        *quota_lines(res.get("quota")),
    ]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------------


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="embedded,one,two", help="in order; a name may repeat (medians are kept)")
    p.add_argument("--rates", default="100,200", help="messages/s in all, a rate every configuration holds")
    p.add_argument("--customers", type=int, default=5000, help="connected customers (bench/run.py's full sweep)")
    p.add_argument("--round-seconds", type=float, default=20)
    p.add_argument("--warmup-seconds", type=float, default=5, help="an unmeasured round first, at the lowest rate")
    p.add_argument("--idle-seconds", type=float, default=5, help="CPU with everyone connected and nobody typing")
    p.add_argument("--p99-goal", type=float, default=GOALS["p99_ms"])
    p.add_argument("--grace", type=float, default=10, help="seconds to wait for a round's last replies")
    p.add_argument("--pause", type=float, default=1)
    p.add_argument("--quiet-load", type=float, default=0.3, help="wait before a round until others use less")
    p.add_argument("--quiet-wait", type=float, default=30, help="... but no longer than this many seconds")
    p.add_argument("--pg-fsync", choices=("on", "off"), default="on", help="on: as deployed (default)")
    p.add_argument("--cores-per-process", type=float, default=1.0, help="model: one GIL, one core")
    p.add_argument(
        "--usable", type=float, default=0.85, help="model: share of a core usable with a p99 (0.86 at 250/s today)"
    )
    p.add_argument("--pg-cores", type=float, default=float(os.cpu_count() or 1), help="model: PostgreSQL's cores")
    p.add_argument(
        "--receive-ms",
        type=float,
        default=None,
        help="model: CPU ms a process spends on each publish from another, instead of the measured 'two' minus 'one'",
    )
    p.add_argument(
        "--model-from",
        type=Path,
        help="measure nothing: redo the model from a results JSON (e.g. bench/results/cluster-latest.json) "
        "with the model options given here",
    )
    p.add_argument("--quota", type=float, default=0.0, help="also run capped servers, each at this share of a core")
    p.add_argument("--quota-processes", default="1,2,3")
    p.add_argument("--quota-steps", default="0.6,0.8,0.9,1.0,1.1,1.25,1.4", help="x N x one capped process's rate")
    p.add_argument("--quota-base", type=float, default=0.0, help="one capped process's rate (default: from 'one')")
    p.add_argument("--quota-seconds", type=float, default=15)
    p.add_argument(
        "--quota-customers",
        type=int,
        default=1000,
        help="fewer than --customers: their pings' upkeep, split over N capped processes, must not flatter N > 1",
    )
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--tmp", default=None, help="where the engines' folder goes (default: the system's temp dir)")
    args = p.parse_args(argv)
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        p.error(f"unknown configurations {unknown}; known: {', '.join(CONFIGS)}")
    args.rates = floats(args.rates)
    args.quota_processes = [int(x) for x in floats(args.quota_processes)]
    args.quota_steps = floats(args.quota_steps)
    return args


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "python": platform.python_version(),
        "settings": {k: v for k, v in os.environ.items() if k.startswith("CHATBOT_")},
    }


async def main_async(args: argparse.Namespace, res: dict[str, Any], workdir: Path) -> None:
    texts = lg.load_texts()
    with Engines(fsync=args.pg_fsync == "on", tmp=args.tmp) as engines:
        log(f"engines: redis-server on {engines.redis.port}, PostgreSQL on {engines.postgres.port}")
        res["runs"] = await run_configs(args, engines, texts, workdir)
        res["summary"] = summarize(res["runs"])
        res["idle"] = idle_summary(res["runs"])
        res["model"] = model(res["summary"], args)
        if args.quota:
            one = res["summary"].get("one", {})
            s1 = max((v["cpu_ms_per_message"]["servers"] for v in one.values()), default=None)
            res["quota"] = await run_quota(args, engines, texts, workdir, s1)


def remodel(args: argparse.Namespace) -> int:
    """The model again from measured figures, with other assumptions (--usable, --pg-cores, --receive-ms ...)."""
    res = json.loads(args.model_from.read_text())
    print("\n".join(model_lines(model(res["summary"], args))))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.model_from:
        return remodel(args)
    lg.use_uvloop()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = args.out / f"cluster-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {
        "started": stamp,
        "customers": args.customers,
        "round_seconds": args.round_seconds,
        "pg_fsync": args.pg_fsync == "on",
        "goals": GOALS,
        "machine": machine(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    t0 = perf()
    asyncio.run(main_async(args, res, workdir))
    res["seconds"] = round(perf() - t0, 1)
    text = report(res)
    res["report"] = text
    payload = json.dumps(res, indent=2, default=str)
    (workdir / "cluster.json").write_text(payload)
    (args.out / "cluster-latest.json").write_text(payload)
    print()
    print(text)
    print(f"\n{res['seconds']} s; results in {workdir} and {args.out / 'cluster-latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
