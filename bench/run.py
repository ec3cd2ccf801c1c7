"""The benchmark: how many customers one server process holds, and how fast
the bot answers, beside what the bare stack (bench/echo_server.py) does on
the same machine with the same generator and rates.

    .venv/bin/python bench/run.py --quick        # about 2-3 minutes
    .venv/bin/python bench/run.py                # the full run (the 5-minute hold), about 15 minutes

Phases (each bounded in time and count, loopback only):
  micro   bench/micro.py: parse latency, store write rate, loop stalls
  sweep   N customers connected to each server; open-loop chat rounds at each
          rate, echo and product alternating; the highest rate with p99 under
          the goal, for both
  hold    10,000 customers connected and held; drops, memory per idle
          connection; then a chat round with all of them connected
  deflate customers that offer permessage-deflate, as browsers do: memory
          per connection once the server has sent them something
  login   real logins through POST /api/login (argon2): logins per second

Customers are created in the product's database before its server starts,
with the project's store (one argon2 hash shared by all), and get sessions
the way Auth.login stores them (SHA-256 of a random token), so the 10,000
connections do not wait on 10,000 argon2 verifications; the login phase
measures those separately.

Results: a report on stdout and JSON in bench/results/ (latest.json and a
time-stamped copy). Servers are started by this script and always stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
import loadgen as lg  # noqa: E402

PY = sys.executable
NOISY = 0.3  # cores used by other processes above which a measurement is flagged
QUIET_WAIT = 30  # seconds a chat round waits at most for the machine to calm down
perf = time.perf_counter


def _product_defaults() -> str:
    """The runtime tunings the product runs with by default (chatbot/settings.py),
    as a --tune value: the echo server gets the same unless told otherwise."""
    from chatbot.settings import Settings

    d = {name: field.default for name, field in Settings.model_fields.items()}
    parts = ["uvloop"] * d["uvloop"] + ["gc-freeze"] * d["gc_freeze"]
    parts.append("gc-threshold=" + "/".join(str(x) for x in d["gc_threshold"]))
    if d["gc_young_seconds"] or d["gc_full_seconds"]:
        parts.append(f"gc-pace={d['gc_young_seconds']:g}/{d['gc_young_pause_ms']:g}/{d['gc_full_seconds']:g}")
    return ",".join(parts)


PRODUCT_DEFAULTS = _product_defaults()

GOALS = {
    "hold_connections": 10_000,
    "hold_seconds": 300,
    "kb_per_idle_connection": 40,
    "rate_500": {"p50_ms": 5, "p99_ms": 25},
    "sweep_p99_ms": 50,
    "min_rate": 1000,
    "min_share_of_echo": 0.5,
    "parse_p99_ms": 1.0,
    "loop_stall_ms": 1.0,
}


# -- the machine ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
    except OSError:
        mem_kb = 0
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for module, dist in (
        ("aiohttp", "aiohttp"),
        ("socketio", "python-socketio"),
        ("engineio", "python-engineio"),
        ("uvloop", "uvloop"),
    ):
        try:
            versions[module] = version(dist)
        except PackageNotFoundError:
            versions[module] = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": versions,
        "fd_limit": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0],
    }


# -- servers ------------------------------------------------------------------------------------------


class Server:
    def __init__(
        self,
        kind: str,
        workdir: Path,
        tuning: list[str],
        db: Path | None = None,
        env: dict[str, str] | None = None,
        tag: str | None = None,
    ) -> None:
        tag = tag or kind
        self.kind = kind
        self.workdir = workdir
        self.db = db
        self.gc_log = workdir / f"{tag}-gc.json"
        self.log = workdir / f"{tag}.log"
        self.out = workdir / f"{tag}.out"
        self.tuning = tuning + ["--gc-log", str(self.gc_log)]
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.watch: lg.ProcWatch | None = None
        self.start_seconds = 0.0

    product_repo: Path | None = None

    def command(self) -> list[str]:
        if self.kind == "echo":
            return [PY, str(HERE / "echo_server.py"), "--port", "0", *self.tuning]
        # the product exactly as run.py starts it, through a wrapper that can apply tunings
        return [PY, str(HERE / "tuned_server.py"), *self.tuning, "--", "--port", "0", "--db", str(self.db), "--no-demo"]

    async def start(self, timeout: float = 90) -> str:
        env = {**os.environ, **(self.env or {})}
        if self.kind == "product" and self.product_repo:
            env["BENCH_PRODUCT_REPO"] = str(self.product_repo)
        t0 = perf()
        with open(self.out, "w") as out, open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=log, cwd=REPO, env=env, start_new_session=True
            )
        while perf() - t0 < timeout:
            text = self.out.read_text()
            if "Listening on " in text:
                self.url = text.split("Listening on ", 1)[1].split()[0]
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited: {self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"{self.kind} server did not start in {timeout} s")
        self.start_seconds = perf() - t0
        self.watch = lg.ProcWatch(self.proc.pid)
        return self.url

    stop_seconds: float | None = None

    def stop(self) -> dict[str, Any]:
        """SIGTERM, as the wire contract says it stops cleanly on; the seconds it takes are kept."""
        if self.proc and self.proc.poll() is None:
            t0 = perf()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                log(f"  ({self.kind} server did not stop in 30 s: killed)")
                self.proc.kill()
                self.proc.wait(5)
            self.stop_seconds = round(perf() - t0, 2)
        try:
            return json.loads(self.gc_log.read_text())
        except (OSError, ValueError):
            return {}


async def wait_quiet(args: argparse.Namespace, watches: list[lg.ProcWatch]) -> dict[str, Any]:
    """Other sessions may share this machine: wait (bounded) until what other
    processes use stays under --quiet-load cores for a second, so a round is
    not measured while something else eats the CPU. Returns what was seen."""
    started = perf()
    while True:
        busy0, own0 = lg.machine_busy_seconds(), lg.own_cpu_seconds()
        ours0 = sum(w.cpu_seconds() for w in watches)
        await asyncio.sleep(1.0)
        other = (
            lg.machine_busy_seconds()
            - busy0
            - (lg.own_cpu_seconds() - own0)
            - (sum(w.cpu_seconds() for w in watches) - ours0)
        )
        waited = perf() - started
        if other <= args.quiet_load or waited >= args.quiet_wait:
            return {"other_load_before": round(max(0.0, other), 2), "waited_seconds": round(waited, 1)}


async def settle(watch: lg.ProcWatch, seconds: float = 1.0) -> int:
    await asyncio.sleep(seconds)
    return watch.rss_kb()


async def measured(server: Server, fn, *args, **kwargs) -> dict[str, Any]:
    """Run one load step, with the server's CPU and peak RSS and the machine's other load beside it."""
    gc.collect()
    gc.freeze()
    gc.disable()  # the generator must not pause mid-round and blame the server
    (user0, sys0), cs0 = server.watch.cpu_split(), server.watch.context_switches()
    cpu0, own0, busy0, t0 = user0 + sys0, lg.own_cpu_seconds(), lg.machine_busy_seconds(), perf()
    wall0 = time.time()
    try:
        with lg.Sampler(server.watch) as sampler:
            result = await fn(*args, **kwargs)
    finally:
        gc.enable()
        gc.unfreeze()
    wall = perf() - t0
    user1, sys1 = server.watch.cpu_split()
    server_cpu = user1 + sys1 - cpu0
    own = lg.own_cpu_seconds() - own0
    busy = lg.machine_busy_seconds() - busy0
    result["server"] = {
        "cpu_seconds": round(server_cpu, 3),
        "cpu_share": round(server_cpu / wall, 3),
        "user_seconds": round(user1 - user0, 3),
        "system_seconds": round(sys1 - sys0, 3),
        "context_switches": server.watch.context_switches() - cs0,
        "peak_rss_mb": round(sampler.peak_kb / 1024, 1),
        "rss_mb": round(server.watch.rss_kb() / 1024, 1),
    }
    result["machine_other_cpu_share"] = round(max(0.0, busy - server_cpu - own) / wall, 3)
    result["window"] = [round(wall0, 3), round(time.time(), 3)]
    sent = result.get("sent")
    if sent:
        result["server"]["cpu_ms_per_message"] = round(server_cpu * 1000 / sent, 3)
        result["server"]["context_switches_per_message"] = round(result["server"]["context_switches"] / sent, 1)
    return result


def full_collections(gc_log: dict[str, Any], window: list[float]) -> list[float]:
    """Durations (ms) of the server's full GC passes that ended inside a measured window."""
    return [event[1] for event in gc_log.get("gen2_events", []) if window[0] <= event[0] <= window[1]]


def gc_pauses(gc_log: dict[str, Any], window: list[float]) -> dict[str, Any]:
    """The server's GC passes over 2 ms that ended inside a measured window, per generation."""
    out: dict[str, Any] = {}
    for t, gen, wall, cpu, *_ in gc_log.get("long_pauses", []):
        if window[0] <= t <= window[1]:
            g = out.setdefault(f"gen{gen}", {"count": 0, "max_ms": 0.0, "max_cpu_ms": 0.0, "total_ms": 0.0})
            g["count"] += 1
            g["max_ms"] = max(g["max_ms"], wall)
            g["max_cpu_ms"] = max(g["max_cpu_ms"], cpu)
            g["total_ms"] = round(g["total_ms"] + wall, 1)
    return out


def passes(r: dict[str, Any], p99_ms: float) -> bool:
    p99 = r["reply_ms"]["p99"]
    return p99 is not None and p99 < p99_ms and r["lost"] == 0 and r["errors"] == 0 and r["drops"] == 0


# -- phases -------------------------------------------------------------------------------------------


def run_micro(args: argparse.Namespace, outdir: Path) -> dict[str, Any]:
    path = outdir / "micro.json"
    cmd = [PY, str(HERE / "micro.py"), "--json", str(path)] + (["--quick"] if args.quick else [])
    env = {**os.environ}
    if Server.product_repo:
        env["BENCH_PRODUCT_REPO"] = str(Server.product_repo)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=REPO, timeout=600, env=env)
    return json.loads(path.read_text())


async def profile_round(server: Server, seconds: float, outdir: Path, name: str) -> subprocess.Popen | None:
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not Path(spy).exists():
        return None
    # --gil: only the thread holding the GIL is sampled; without it py-spy counts the loop
    # thread's wait for the GIL as work in uvloop's C code (docs/benchmarks.md).
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(server.proc.pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "--threads",
            "--gil",
            "-o",
            str(outdir / f"profile-{name}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarize_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive shares of the busiest frames of a py-spy raw (collapsed) profile."""
    import collections

    self_n: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        total += int(n)
        self_n[frames[-1]] += int(n)
        for f in set(frames):
            incl[f] += int(n)
    pct = lambda n: round(100 * n / total, 1) if total else 0  # noqa: E731
    return {
        "samples": total,
        "self": [[f, pct(n)] for f, n in self_n.most_common(top)],
        "inclusive": [[f, pct(n)] for f, n in incl.most_common(top * 2)],
    }


async def run_sweep(
    args: argparse.Namespace, texts: dict[str, list[str]], outdir: Path, tuning: list[str]
) -> dict[str, Any]:
    n = args.sweep_connections
    work = Path(tempfile.mkdtemp(prefix="sweep-", dir=args.tmp))
    db = work / "chat.db"
    customers = await lg.create_customers(db, n)
    product = Server("product", outdir, tuning, db=db, tag="sweep-product")
    echo = Server("echo", outdir, tuning, tag="sweep-echo")
    out: dict[str, Any] = {"connections": n, "share": args.share, "round_seconds": args.round_seconds, "rounds": []}
    gens: dict[str, lg.LoadGen] = {}
    try:
        for server in (echo, product):
            await server.start()
            out[f"{server.kind}_start_seconds"] = round(server.start_seconds, 2)
            rss0 = await settle(server.watch)
            custs = (
                customers
                if server.kind == "product"
                else [lg.Customer(c.user_id, c.brand, c.email, "any-token-" + c.token[:8]) for c in customers]
            )
            gen = lg.LoadGen(server.url, custs, texts, deflate=args.deflate)
            gens[server.kind] = gen
            connect = await measured(server, gen.connect_all, n)
            await gen.wait_conversations()
            rss1 = await settle(server.watch, 2.0)
            connect["kb_per_connection"] = round((rss1 - rss0) / max(1, connect["connected"]), 1)
            out[f"{server.kind}_connect"] = connect
            log(
                f"  {server.kind}: {connect['connected']} connected at {connect['per_second']}/s, "
                f"{connect['kb_per_connection']} KB each"
            )
        failing = {"echo": False, "product": False}
        for rate in args.rates:
            for server in (echo, product):
                if failing[server.kind]:
                    continue
                gen = gens[server.kind]
                quiet = await wait_quiet(args, [echo.watch, product.watch])
                spy = None
                if args.profile and server.kind == "product" and rate == args.profile_rate:
                    spy = await profile_round(server, args.round_seconds, outdir, f"product-{rate:g}")
                r = await measured(
                    server, gen.chat, rate, args.round_seconds, args.share, args.grace, name=f"{server.kind} {rate:g}/s"
                )
                if spy:
                    spy.wait(30)
                    path = outdir / f"profile-product-{rate:g}.txt"
                    if path.exists():
                        out["profile"] = {"rate": rate, "file": str(path), **summarize_profile(path)}
                r["kind"], r["rate"], r["quiet"] = server.kind, rate, quiet
                out["rounds"].append(r)
                log(
                    f"  {server.kind:7} {rate:6g}/s: p50 {r['reply_ms']['p50']} p99 {r['reply_ms']['p99']} "
                    f"max {r['reply_ms']['max']} ms, lost {r['lost']}, errors {r['errors']}, "
                    f"server cpu {r['server']['cpu_share']}, gen cpu {r['generator_cpu_share']}, "
                    f"other {r['machine_other_cpu_share']}"
                )
                # a server far past its limit only builds a backlog: stop raising its rate
                p99 = r["reply_ms"]["p99"]
                if p99 is None or p99 > 20 * args.p99_goal or r["lost"] > 0.05 * max(1, r["sent"]):
                    failing[server.kind] = True
                await asyncio.sleep(args.pause)
        for kind in ("echo", "product"):
            ok = [r["rate"] for r in out["rounds"] if r["kind"] == kind and passes(r, args.p99_goal)]
            out[f"{kind}_max_rate"] = max(ok) if ok else 0
    finally:
        for gen in gens.values():
            await gen.close()
        out["product_gc"] = product.stop()
        out["echo_gc"] = echo.stop()
        out["product_stop_seconds"], out["echo_stop_seconds"] = product.stop_seconds, echo.stop_seconds
        for r in out["rounds"]:
            r["full_gc_ms"] = full_collections(out[f"{r['kind']}_gc"], r["window"])
            r["gc_pauses"] = gc_pauses(out[f"{r['kind']}_gc"], r["window"])
        shutil.rmtree(work, ignore_errors=True)
    return out


async def run_hold(
    args: argparse.Namespace,
    texts: dict[str, list[str]],
    outdir: Path,
    tuning: list[str],
    kind: str,
    seconds: float,
    deflate: bool = False,
    n: int | None = None,
    chat_rate: float = 0,
) -> dict[str, Any]:
    n = n or args.hold_connections
    work = Path(tempfile.mkdtemp(prefix=f"hold-{kind}-", dir=args.tmp))
    tag = f"{kind}{'-deflate' if deflate else ''}-hold"
    if kind == "product":
        customers = await lg.create_customers(work / "chat.db", n)
        server = Server("product", outdir, tuning, db=work / "chat.db", tag=tag)
    else:
        customers = [lg.Customer(i, lg.BRANDS[i % 2], "", f"any-token-{i}") for i in range(n)]
        server = Server("echo", outdir, tuning, tag=tag)
    out: dict[str, Any] = {"server": kind, "connections": n, "deflate": deflate}
    gen = None
    try:
        await server.start()
        rss0 = await settle(server.watch, 2.0)
        gen = lg.LoadGen(server.url, customers, texts, deflate=deflate)
        out["connect"] = await measured(server, gen.connect_all, n)
        await gen.wait_conversations(30)
        rss1 = await settle(server.watch, 3.0)
        out["rss_before_mb"], out["rss_connected_mb"] = round(rss0 / 1024, 1), round(rss1 / 1024, 1)
        out["kb_per_idle_connection"] = round((rss1 - rss0) / max(1, out["connect"]["connected"]), 1)
        log(
            f"  {tag}: {out['connect']['connected']}/{n} connected at {out['connect']['per_second']}/s; "
            f"{out['kb_per_idle_connection']} KB per idle connection"
        )
        if seconds:
            last = [0.0]

            def progress(t: float, connected: int) -> None:
                if t - last[0] >= 30:
                    last[0] = t
                    log(f"    {t:5.0f} s: {connected} connected")

            out["hold"] = await measured(server, gen.hold, seconds, progress)
            rss2 = server.watch.rss_kb()
            out["kb_per_idle_connection_after_hold"] = round((rss2 - rss0) / max(1, out["connect"]["connected"]), 1)
            log(
                f"  {tag}: held {out['hold']['seconds']} s, {out['hold']['drops']} drops, "
                f"lowest {out['hold']['lowest_connected']} connected; server cpu {out['hold']['server']['cpu_share']}"
            )
        if chat_rate:
            quiet = await wait_quiet(args, [server.watch])
            r = await measured(
                server,
                gen.chat,
                chat_rate,
                args.hold_chat_seconds,
                args.hold_share,
                args.grace,
                name=f"{tag} {chat_rate:g}/s",
            )
            out["chat"] = r
            r["quiet"] = quiet
            log(
                f"  {tag} chat {chat_rate:g}/s with {n} connected: p50 {r['reply_ms']['p50']} p99 "
                f"{r['reply_ms']['p99']} max {r['reply_ms']['max']} ms, lost {r['lost']}, errors {r['errors']}"
            )
        out["errors"] = dict(gen.errors)
    finally:
        if gen:
            await gen.close()
        try:
            out["peak_rss_mb_process_life"] = round(server.watch.hwm_kb() / 1024, 1) if server.watch else None
        except OSError:
            out["peak_rss_mb_process_life"] = None
        out["gc"] = server.stop()
        out["stop_seconds"] = server.stop_seconds
        for key in ("hold", "chat"):
            if key in out:
                out[key]["full_gc_ms"] = full_collections(out["gc"], out[key]["window"])
                out[key]["gc_pauses"] = gc_pauses(out["gc"], out[key]["window"])
        if "connect" in out:
            out["connect"]["gc_pauses"] = gc_pauses(out["gc"], out["connect"]["window"])
        shutil.rmtree(work, ignore_errors=True)
    return out


async def run_login(args: argparse.Namespace, outdir: Path, tuning: list[str]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="login-", dir=args.tmp))
    customers = await lg.create_customers(work / "chat.db", args.login_sample, sessions=False)
    server = Server("product", outdir, tuning, db=work / "chat.db", tag="login-product")
    out: dict[str, Any] = {}
    try:
        await server.start()
        rss0 = server.watch.rss_kb()
        out = await measured(server, lg.login_all, server.url, customers, concurrency=args.login_concurrency)
        out["rss_growth_mb"] = round((server.watch.rss_kb() - rss0) / 1024, 1)
        log(
            f"  login: {out['logins']} logins at {out['per_second']}/s (concurrency {out['concurrency']}), "
            f"p50 {out['latency_ms']['p50']} ms; server cpu {out['server']['cpu_share']}"
        )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return out


# -- report ---------------------------------------------------------------------------------------------


def log(text: str) -> None:
    print(text, flush=True)


def verdicts(res: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(goal, measured, met) for each goal of issue 7; None when not measured."""
    out: list[tuple[str, str, bool | None]] = []
    hold = res.get("hold_product")
    if hold:
        h = hold.get("hold", {})
        full = hold["connections"] >= GOALS["hold_connections"] and h.get("seconds", 0) >= GOALS["hold_seconds"] - 1
        ok = (
            hold["connect"]["connected"] == hold["connections"]
            and h.get("drops", 1) == 0
            and h.get("lowest_connected", 0) == hold["connections"]
        )
        out.append(
            (
                f"{GOALS['hold_connections']:,} customers held {GOALS['hold_seconds']} s, 0 drops",
                f"{hold['connect']['connected']:,} connected, held {h.get('seconds')} s, {h.get('drops')} drops"
                + ("" if full else " (shortened run)"),
                ok if full else None,
            )
        )
        kb = hold.get("kb_per_idle_connection_after_hold", hold["kb_per_idle_connection"])
        out.append(
            (
                f"< {GOALS['kb_per_idle_connection']} KB per idle connection",
                f"{kb} KB",
                kb < GOALS["kb_per_idle_connection"],
            )
        )
    sweep = res.get("sweep")
    if sweep:
        r500 = next((r for r in sweep["rounds"] if r["kind"] == "product" and r["rate"] == 500), None)
        if r500 is None and any(r["kind"] == "product" and r["rate"] < 500 for r in sweep["rounds"]):
            out.append(
                (
                    "500 msg/s: p50 < 5 ms, p99 < 25 ms, 0 errors, 0 lost",
                    "not driven: the product was already far past its limit at a lower rate",
                    False,
                )
            )
        if r500:
            g = GOALS["rate_500"]
            ok = (
                (r500["reply_ms"]["p50"] or 1e9) < g["p50_ms"]
                and (r500["reply_ms"]["p99"] or 1e9) < g["p99_ms"]
                and r500["errors"] == 0
                and r500["lost"] == 0
            )
            out.append(
                (
                    "500 msg/s: p50 < 5 ms, p99 < 25 ms, 0 errors, 0 lost",
                    f"p50 {r500['reply_ms']['p50']} ms, p99 {r500['reply_ms']['p99']} ms, "
                    f"{r500['errors']} errors, {r500['lost']} lost",
                    ok,
                )
            )
        pm, em = sweep["product_max_rate"], sweep["echo_max_rate"]
        top = max(r["rate"] for r in sweep["rounds"])
        out.append(
            (
                f"highest rate with p99 < {GOALS['sweep_p99_ms']} ms >= {GOALS['min_rate']:,}/s and >= half "
                f"the echo server's",
                f"product {pm:g}/s, echo {em:g}/s" + (f" (the sweep stopped at {top:g}/s)" if em >= top else ""),
                pm >= GOALS["min_rate"] and (em == 0 or pm >= GOALS["min_share_of_echo"] * em),
            )
        )
    micro = res.get("micro")
    if micro:
        s = micro["summary"]
        out.append(
            (
                f"parse p99 < {GOALS['parse_p99_ms']} ms",
                f"{s['parse_p99_ms']} ms wall clock, "
                f"{s.get('parse_cpu_p99_ms')} ms CPU (other load {s.get('machine_other_cpu_share')})",
                s["parse_p99_ms"] < GOALS["parse_p99_ms"],
            )
        )
        out.append(
            (
                f"loop stall on a DB write <= {GOALS['loop_stall_ms']} ms",
                f"max {s['loop_stall_max_ms_writing']} ms (idle floor {s['loop_stall_max_ms_idle']} ms)",
                s["loop_stall_max_ms_writing"] <= GOALS["loop_stall_ms"],
            )
        )
    return out


def fmt_gc(pauses: list[float] | None) -> str:
    if pauses is None:
        return ""
    return f"{len(pauses)} ({max(pauses):.0f})" if pauses else "0"


def fmt_pauses(p: dict[str, Any] | None) -> str:
    if not p:
        return "none"
    return ", ".join(
        f"{g} {v['count']}x max {v['max_ms']:.0f} ms ({v['max_cpu_ms']:.0f} CPU)" for g, v in sorted(p.items())
    )


def report(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        f"# Benchmark {res['started']} ({res['mode']}; tuning: {res['tuning'] or 'none'}; "
        f"deflate offered: {res['deflate']}; niceness {res.get('niceness')})",
        f"product: {res.get('product_repo')}",
        f"machine: {m['nproc']} cores, {m['cpu_model']}, {m['ram_gib']} GiB, Python {m['python']}, "
        f"aiohttp {m['packages']['aiohttp']}, python-socketio {m['packages']['socketio']}",
        "",
    ]
    sweep = res.get("sweep")
    if sweep:
        lines += [
            f"## Rate sweep: {sweep['connections']:,} connected customers each, {sweep['round_seconds']} s rounds",
            "",
            "| rate/s | server | p50 ms | p95 ms | p99 ms | max ms | lost | errors | server CPU | "
            "CPU ms/msg | peak RSS MB | full GCs (max ms) | generator CPU | other load | p99 vs echo |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        echo_p99 = {r["rate"]: r["reply_ms"]["p99"] for r in sweep["rounds"] if r["kind"] == "echo"}
        for r in sweep["rounds"]:
            q = r["reply_ms"]
            ratio = ""
            if r["kind"] == "product" and echo_p99.get(r["rate"]) and q["p99"]:
                ratio = f"{q['p99'] / echo_p99[r['rate']]:.1f}x"
            noisy = " ⚠" if r["machine_other_cpu_share"] > NOISY else ""
            lines.append(
                f"| {r['rate']:g} | {r['kind']} | {q['p50']} | {q['p95']} | {q['p99']} | {q['max']} | "
                f"{r['lost']} | {r['errors']} | {r['server']['cpu_share']:.2f} | "
                f"{r['server'].get('cpu_ms_per_message', '')} | "
                f"{r['server']['peak_rss_mb']} | {fmt_gc(r.get('full_gc_ms'))} | "
                f"{r['generator_cpu_share']:.2f} | "
                f"{r['machine_other_cpu_share']:.2f}{noisy} | {ratio} |"
            )
        lines += [
            "",
            f"(server CPU and generator CPU in cores; other load: cores used meanwhile by processes "
            f"outside this benchmark, ⚠ above {NOISY})",
            "",
            f"highest rate with p99 < {res['p99_goal']} ms: product {sweep['product_max_rate']:g}/s, "
            f"echo {sweep['echo_max_rate']:g}/s",
            "",
        ]
        for kind in ("echo", "product"):
            c = sweep.get(f"{kind}_connect")
            if c:
                lines.append(
                    f"- {kind}: {c['connected']:,} connected at {c['per_second']}/s "
                    f"(connect p99 {c['connect_ms']['p99']} ms), {c['kb_per_connection']} KB each"
                )
        for kind in ("echo", "product"):
            g = sweep.get(f"{kind}_gc") or {}
            if g.get("gen2"):
                lines.append(
                    f"- {kind} GC over the sweep: gen2 {g['gen2']['count']} runs, max "
                    f"{g['gen2']['max_ms']} ms ({g['gen2'].get('max_cpu_ms')} ms CPU); gen1 max "
                    f"{g['gen1']['max_ms']} ms; gen0 max {g['gen0']['max_ms']} ms; "
                    f"threshold {g.get('threshold')}; {g.get('frozen_objects', 0):,} frozen"
                )
        lines.append("")
    for key in ("hold_product", "hold_echo", "deflate_product", "deflate_echo"):
        h = res.get(key)
        if not h:
            continue
        hold = h.get("hold", {})
        lines.append(
            f"## {key.replace('_', ' ')}: {h['connections']:,} customers"
            f"{' offering permessage-deflate' if h['deflate'] else ''}"
        )
        lines.append(
            f"- connected {h['connect']['connected']:,} at {h['connect']['per_second']}/s "
            f"(p99 {h['connect']['connect_ms']['p99']} ms); RSS {h['rss_before_mb']} -> "
            f"{h['rss_connected_mb']} MB: {h['kb_per_idle_connection']} KB per idle connection"
        )
        if hold:
            lines.append(
                f"- held {hold['seconds']} s: {hold['drops']} drops, lowest {hold['lowest_connected']:,} "
                f"connected, {hold['pings_answered']:,} pings answered, server CPU "
                f"{hold['server']['cpu_share']}, peak RSS {hold['server']['peak_rss_mb']} MB, "
                f"{h.get('kb_per_idle_connection_after_hold')} KB per connection at the end"
            )
        c = h.get("chat")
        if c:
            q = c["reply_ms"]
            lines.append(
                f"- chat at {c['target_rate']:g}/s from {c['chatters']:,} of them: p50 {q['p50']} p95 "
                f"{q['p95']} p99 {q['p99']} max {q['max']} ms; lost {c['lost']}, errors {c['errors']}; "
                f"server CPU {c['server']['cpu_share']}, other load {c['machine_other_cpu_share']}; "
                f"full GCs during it: {fmt_gc(c.get('full_gc_ms'))}; GC passes over 2 ms: "
                f"{fmt_pauses(c.get('gc_pauses'))}"
            )
        g = h.get("gc") or {}
        if g.get("gen2"):
            lines.append(
                f"- GC: gen2 {g['gen2']['count']} runs, max {g['gen2']['max_ms']} ms "
                f"({g['gen2'].get('max_cpu_ms')} ms CPU); gen1 max {g['gen1']['max_ms']} ms; "
                f"threshold {g.get('threshold')}"
            )
        lines.append("")
    lo = res.get("login")
    if lo:
        lines += [
            "## Login (argon2 through POST /api/login)",
            f"- {lo['logins']} logins at {lo['per_second']}/s with {lo['concurrency']} at a time; latency "
            f"p50 {lo['latency_ms']['p50']} p99 {lo['latency_ms']['p99']} ms; server CPU "
            f"{lo['server']['cpu_share']}; RSS +{lo['rss_growth_mb']} MB; errors {lo['errors']}",
            "",
        ]
    mi = res.get("micro")
    if mi:
        p, s = mi["parse"], mi["store"]
        lines += [
            f"## Micro (other load meanwhile {mi.get('machine_other_cpu_share')} cores)",
            f"- parse: {p['parses']:,} parses of {p['sentences']} sentences: p50 "
            f"{p['latency_ms']['p50']} p99 {p['latency_ms']['p99']} max {p['latency_ms']['max']} ms wall clock; "
            f"CPU time p50 {p['cpu_ms']['p50']} p99 {p['cpu_ms']['p99']} ms; "
            f"{p['per_second']:,} parses/s on one core (intents built in {p['intents_build_seconds']} s)",
            f"- Store.add_message: {s['sequential']['per_second']:,}/s one after another "
            f"(p50 {s['sequential']['latency_ms']['p50']} p99 {s['sequential']['latency_ms']['p99']} ms), "
            f"{s['concurrent']['per_second']:,}/s from {s['concurrent']['writers']} conversations at once",
            f"- loop gaps while writing: max {s['loop_gaps_sequential_writes']['max_ms']} ms (one after "
            f"another), {s['loop_gaps_concurrent_writes']['max_ms']} ms (concurrent; "
            f"{s['loop_gaps_concurrent_writes']['over_1ms']} gaps over 1 ms); idle floor "
            f"{s['loop_gaps_idle']['max_ms']} ms ({s['loop_gaps_idle']['over_1ms']} over 1 ms)",
            "",
        ]
    prof = (res.get("sweep") or {}).get("profile")
    if prof:
        lines += [f"## Product profile at {prof['rate']:g}/s ({prof['samples']} samples; py-spy)", ""]
        lines += [f"- {pct}% self  {frame}" for frame, pct in prof["self"][:12]]
        lines.append("")
    lines += ["## Goals", ""]
    for goal, measured_, ok in verdicts(res):
        mark = "not measured at full size" if ok is None else ("met" if ok else "NOT met")
        lines.append(f"- {goal}: {measured_}: **{mark}**")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="about 2-3 minutes: shorter rounds and hold")
    p.add_argument(
        "--phases",
        default="micro,sweep,hold,deflate,login",
        help="comma-separated subset of micro,sweep,hold,deflate,login",
    )
    p.add_argument("--rates", help="comma-separated msg/s for the sweep (default 250,500,1000,1500)")
    p.add_argument("--sweep-connections", type=int)
    p.add_argument("--round-seconds", type=float)
    p.add_argument("--share", type=float, default=1.0, help="share of sweep customers who chat")
    p.add_argument("--p99-goal", type=float, default=GOALS["sweep_p99_ms"])
    p.add_argument("--hold-connections", type=int, default=GOALS["hold_connections"])
    p.add_argument("--hold-seconds", type=float)
    p.add_argument("--echo-hold-seconds", type=float)
    p.add_argument("--hold-rate", type=float, default=500, help="chat round with everyone connected (0: none)")
    p.add_argument("--hold-chat-seconds", type=float)
    p.add_argument("--hold-share", type=float, default=0.25)
    p.add_argument("--deflate", action="store_true", help="customers offer permessage-deflate in every phase")
    p.add_argument("--deflate-connections", type=int)
    p.add_argument("--login-sample", type=int)
    p.add_argument("--login-concurrency", type=int, default=4)
    p.add_argument(
        "--tune",
        default=PRODUCT_DEFAULTS,
        help="for both servers: comma-separated uvloop, gc-freeze, gc-threshold=A/B/C, gc-pace=Y/P/F, "
        "no-ws-compression, switch-interval=S (see bench/tuning.py); default: the product's "
        f"own settings, {PRODUCT_DEFAULTS!r}; '' runs both untuned",
    )
    p.add_argument(
        "--product-repo",
        type=Path,
        help="benchmark the product from this checkout instead (e.g. a copy with a proposed patch applied)",
    )
    p.add_argument("--profile", action="store_true", help="py-spy the product during one sweep round")
    p.add_argument("--profile-rate", type=float, default=500)
    p.add_argument(
        "--quiet-load",
        type=float,
        default=0.3,
        help="before each chat round, wait until other processes use less than this many cores",
    )
    p.add_argument("--quiet-wait", type=float, default=QUIET_WAIT, help="... but no longer than this many seconds")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the generator and the servers at this niceness (e.g. -10, as root) so that other "
        "work on a shared machine disturbs the figures less",
    )
    p.add_argument("--grace", type=float, default=10, help="seconds to wait for the last replies of a round")
    p.add_argument("--pause", type=float, default=1, help="seconds between rounds")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--tmp", default=None, help="where the databases go (default: the system's temp dir)")
    args = p.parse_args(argv)
    q = args.quick
    args.rates = [float(x) for x in (args.rates or "250,500,1000,1500").split(",")]
    args.sweep_connections = args.sweep_connections or (2000 if q else 5000)
    args.round_seconds = args.round_seconds or (5 if q else 20)
    args.hold_seconds = args.hold_seconds if args.hold_seconds is not None else (20 if q else 300)
    args.echo_hold_seconds = args.echo_hold_seconds if args.echo_hold_seconds is not None else (0 if q else 60)
    args.hold_chat_seconds = args.hold_chat_seconds or (5 if q else 20)
    args.deflate_connections = args.deflate_connections or (500 if q else 2000)
    args.login_sample = args.login_sample or (20 if q else 200)
    if q and args.quiet_wait == QUIET_WAIT:
        args.quiet_wait = 5
    args.phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    return args


def tuning_flags(spec: str) -> list[str]:
    flags: list[str] = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        if item == "uvloop":
            flags.append("--uvloop")
        elif item == "gc-freeze":
            flags.append("--gc-freeze")
        elif item == "no-ws-compression":
            flags.append("--no-ws-compression")
        elif item.startswith("switch-interval="):
            flags += ["--switch-interval", item.split("=", 1)[1]]
        elif item.startswith("gc-threshold="):
            flags += ["--gc-threshold", item.split("=", 1)[1].replace("/", ",")]
        elif item.startswith("gc-pace="):
            flags += ["--gc-pace", item.split("=", 1)[1].replace("/", ",")]
        else:
            raise SystemExit(f"unknown tuning {item!r}")
    return flags


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    outdir = args.out / stamp
    outdir.mkdir(parents=True, exist_ok=True)
    tuning = tuning_flags(args.tune)
    Server.product_repo = args.product_repo.resolve() if args.product_repo else None
    res: dict[str, Any] = {
        "started": stamp,
        "mode": "quick" if args.quick else "full",
        "tuning": args.tune,
        "product_repo": str(Server.product_repo or REPO),
        "niceness": os.nice(0),
        "deflate": args.deflate,
        "p99_goal": args.p99_goal,
        "machine": machine(),
        "generator_loop": "uvloop" if _has_uvloop() else "asyncio",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "goals": GOALS,
    }
    texts = lg.load_texts()
    t0 = perf()
    if "micro" in args.phases:
        log("micro-benchmarks ...")
        res["micro"] = run_micro(args, outdir)
        s = res["micro"]["summary"]
        log(
            f"  parse p99 {s['parse_p99_ms']} ms, {s['parse_per_second']}/s; store "
            f"{s['store_writes_per_second_sequential']} writes/s; loop stall while writing "
            f"{s['loop_stall_max_ms_writing']} ms (idle {s['loop_stall_max_ms_idle']} ms)"
        )
    if "sweep" in args.phases:
        log(f"rate sweep: {args.sweep_connections} customers per server, rates {args.rates} ...")
        res["sweep"] = await run_sweep(args, texts, outdir, tuning)
    if "hold" in args.phases:
        log(f"hold: {args.hold_connections} customers for {args.hold_seconds} s ...")
        res["hold_product"] = await run_hold(
            args, texts, outdir, tuning, "product", args.hold_seconds, args.deflate, chat_rate=args.hold_rate
        )
        res["hold_echo"] = await run_hold(
            args, texts, outdir, tuning, "echo", args.echo_hold_seconds, args.deflate, chat_rate=args.hold_rate
        )
    if "deflate" in args.phases and not args.deflate:
        log(f"deflate: {args.deflate_connections} customers offering permessage-deflate ...")
        for kind in ("product", "echo"):
            res[f"deflate_{kind}"] = await run_hold(
                args, texts, outdir, tuning, kind, 0, True, n=args.deflate_connections
            )
    if "login" in args.phases:
        log(f"login: {args.login_sample} logins ...")
        res["login"] = await run_login(args, outdir, tuning)
    res["seconds"] = round(perf() - t0, 1)
    return res


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401

        return True
    except ImportError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.nice:
        try:
            os.nice(args.nice)  # the servers started from here inherit it
        except PermissionError:
            log(f"cannot change niceness to {args.nice} (not root?): running at {os.nice(0)}")
    lg.use_uvloop()
    res = asyncio.run(main_async(args))
    text = report(res)
    res["report"] = text
    args.out.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(res, indent=2, default=str)
    (args.out / res["started"] / "results.json").write_text(payload)
    (args.out / "latest.json").write_text(payload)
    (args.out / res["started"] / "report.md").write_text(text + "\n")
    print()
    print(text)
    print(f"\n{res['seconds']} s; results in {args.out / res['started']} and {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
