"""Micro-benchmarks of the two things every bot reply goes through, alone:

1. the matcher: Knowledge(intents).parse(brand, text) over every sentence of
   the development set: latency per parse (p50/p99/max) and parses per second
   on one core;
2. the store: Store.add_message, the write behind every customer message and
   bot reply: writes per second one after another and with many
   conversations at once, and the event loop's longest stall while writing,
   measured by a sleeper task that yields to the loop as often as it can and
   records every gap between its turns (a gap is time the loop spent on
   something else: callbacks, or waiting for the GIL held by the store's
   thread). The same sleeper without writes gives the noise floor.

    python bench/micro.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
# BENCH_PRODUCT_REPO: measure another checkout (a patched copy), as bench/tuned_server.py does
sys.path.insert(0, os.environ.get("BENCH_PRODUCT_REPO") or str(REPO))
from loadgen import load_texts, machine_busy_seconds, own_cpu_seconds, summary_ms  # noqa: E402

perf = time.perf_counter


def bench_parse(passes: int) -> dict[str, Any]:
    from chatbot.knowledge import Knowledge

    t0 = perf()
    knowledge = Knowledge(Path(os.environ.get("BENCH_PRODUCT_REPO") or REPO) / "intents")
    build = perf() - t0
    texts = load_texts()
    items = [(b, t) for b, ts in texts.items() if b in knowledge.brands for t in ts]
    for brand, text in items:  # warm-up: caches, lazy imports
        knowledge.parse(brand, text)
    per_brand: dict[str, list[float]] = {b: [] for b in knowledge.brands}
    every: list[float] = []
    cpu: list[float] = []
    clock = time.thread_time
    started = perf()
    for _ in range(passes):
        for brand, text in items:
            c = clock()
            t = perf()
            knowledge.parse(brand, text)
            d = perf() - t
            cpu.append(clock() - c)
            per_brand[brand].append(d)
            every.append(d)
    elapsed = perf() - started
    longest = max(items, key=lambda it: len(it[1]))
    return {
        "intents_build_seconds": round(build, 3),
        "sentences": len(items),
        "passes": passes,
        "parses": len(every),
        "per_second": round(len(every) / elapsed, 1),
        "latency_ms": summary_ms(every),
        # CPU time of this thread per parse: what the parse costs, whatever else runs on the machine
        "cpu_ms": summary_ms(cpu),
        "per_brand_ms": {b: summary_ms(v) for b, v in per_brand.items() if v},
        "longest_text_chars": len(longest[1]),
    }


class LoopWatch:
    """A task that yields to the loop as often as it can and records each gap."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.running = False
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        last = perf()
        while self.running:
            await asyncio.sleep(0)
            now = perf()
            self.gaps.append(now - last)
            last = now

    def start(self) -> None:
        self.running = True
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> dict[str, Any]:
        self.running = False
        if self.task:
            await self.task
        gaps = sorted(self.gaps)
        over = lambda ms: sum(1 for g in gaps if g > ms / 1000)  # noqa: E731
        return {
            "samples": len(gaps),
            "max_ms": round(gaps[-1] * 1000, 3) if gaps else None,
            "p99_ms": round(gaps[int(len(gaps) * 0.99) - 1] * 1000, 3) if gaps else None,
            "p999_ms": round(gaps[int(len(gaps) * 0.999) - 1] * 1000, 3) if gaps else None,
            "over_1ms": over(1),
            "over_5ms": over(5),
        }


async def _store_setup(db: Path, conversations: int):
    from chatbot.store import Store

    store = Store(db)
    await store.open()
    await store.upsert_brand("cltiktok", "cltiktok")
    now = datetime.now(UTC)
    stamp = now.isoformat()
    await store.insert_rows(
        "users",
        [
            {
                "id": 1,
                "brand": "cltiktok",
                "email": "m@example.test",
                "name": "Micro",
                "role": "customer",
                "password_hash": "x",
                "created_at": stamp,
                "password_changed_at": stamp,
            }
        ],
    )
    ids = []
    for _ in range(conversations):
        # open_conversation returns the open one; close each so the next call makes a new one
        conv = await store.open_conversation("cltiktok", 1, now)
        await store.set_conversation_state(conv["id"], "closed", now)
        ids.append(conv["id"])
    return store, ids


class CollectorWatch:
    """Every collector pass and its duration, to tell the collector's pauses from the store's."""

    def __init__(self) -> None:
        self.passes: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = perf()
        else:
            self.passes.append((info["generation"], perf() - self._started))

    def summary(self, since: int) -> dict[str, Any]:
        window = self.passes[since:]
        return {
            "passes": len(window),
            "max_ms": round(max((d for _, d in window), default=0) * 1000, 3),
            "over_1ms": sum(1 for _, d in window if d > 0.001),
            "full_passes": sum(1 for g, _ in window if g == 2),
        }


async def bench_store(writes: int, concurrency: int, product_runtime: bool = True) -> dict[str, Any]:
    texts = [t for ts in load_texts().values() for t in ts]
    out: dict[str, Any] = {"switch_interval_ms": sys.getswitchinterval() * 1000, "product_runtime": product_runtime}
    collector = CollectorWatch()
    gc.callbacks.append(collector)
    pacer = None
    if product_runtime:  # the collector as the server runs it (chatbot/runtime.py, default settings)
        from chatbot.runtime import pace_collections, tune_garbage_collector
        from chatbot.settings import Settings

        defaults = {name: field.default for name, field in Settings.model_fields.items()}
        tune_garbage_collector(defaults["gc_freeze"], defaults["gc_threshold"], defaults["gc_full_seconds"])
        pacer = asyncio.ensure_future(
            pace_collections(defaults["gc_young_seconds"], defaults["gc_young_pause_ms"], defaults["gc_full_seconds"])
        )
    with tempfile.TemporaryDirectory() as tmp:
        store, conversations = await _store_setup(Path(tmp) / "micro.db", concurrency)
        now = datetime.now(UTC)
        counter = [0]

        async def write(conversation_id: int, latencies: list[float] | None = None) -> None:
            counter[0] += 1
            k = counter[0]
            t = perf()
            await store.add_message(
                conversation_id,
                sender_type="customer",
                sender_name="Micro",
                sender_id=1,
                text=texts[k % len(texts)],
                client_id=f"c{k}",
                now=now,
            )
            if latencies is not None:
                latencies.append(perf() - t)

        # noise floor: the watcher alone
        watch = LoopWatch()
        watch.start()
        await asyncio.sleep(1.0)
        out["loop_gaps_idle"] = await watch.stop()

        # one write after another, as one conversation's turns are
        for _ in range(200):
            await write(conversations[0])
        latencies: list[float] = []
        t0 = perf()
        for _ in range(writes):
            await write(conversations[0], latencies)
        elapsed = perf() - t0
        out["sequential"] = {
            "writes": writes,
            "per_second": round(writes / elapsed, 1),
            "latency_ms": summary_ms(latencies),
        }

        # many conversations writing at once (the server under load)
        async def writer(cid: int, n: int) -> None:
            for _ in range(n):
                await write(cid)

        t0 = perf()
        await asyncio.gather(*(writer(c, writes // concurrency) for c in conversations))
        elapsed = perf() - t0
        out["concurrent"] = {
            "writes": writes // concurrency * concurrency,
            "writers": concurrency,
            "per_second": round(writes // concurrency * concurrency / elapsed, 1),
        }

        # the loop's stalls while writing, one after another and concurrently
        watch = LoopWatch()
        mark = len(collector.passes)
        watch.start()
        t0 = perf()
        for _ in range(writes):
            await write(conversations[0])
        out["sequential"]["per_second_with_watcher"] = round(writes / (perf() - t0), 1)
        out["loop_gaps_sequential_writes"] = await watch.stop()
        out["loop_gaps_sequential_writes"]["collector"] = collector.summary(mark)
        watch = LoopWatch()
        mark = len(collector.passes)
        watch.start()
        await asyncio.gather(*(writer(c, writes // concurrency) for c in conversations))
        out["loop_gaps_concurrent_writes"] = await watch.stop()
        out["loop_gaps_concurrent_writes"]["collector"] = collector.summary(mark)
        await store.close()
        if pacer:
            pacer.cancel()
        gc.callbacks.remove(collector)

        # for scale: the same write done directly on the loop's thread (what the store avoids)
        conn = sqlite3.connect(Path(tmp) / "micro.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        direct: list[float] = []
        for k in range(min(writes, 2000)):
            t = perf()
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO messages (conversation_id, seq, sender_type, sender_name, text, client_id, "
                "created_at) VALUES (?, (SELECT last_seq + 1 FROM conversations WHERE id = ?), "
                "'customer', 'Micro', ?, ?, ?)",
                [conversations[0], conversations[0], texts[k % len(texts)], f"d{k}", now.isoformat()],
            )
            conn.execute("UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ?", [conversations[0]])
            conn.execute("COMMIT")
            direct.append(perf() - t)
        conn.close()
        out["direct_on_loop_thread_ms"] = summary_ms(direct)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path)
    p.add_argument("--switch-interval", type=float, help="sys.setswitchinterval(seconds) before the store runs")
    p.add_argument(
        "--default-gc",
        action="store_true",
        help="leave CPython's collector as it is instead of running it as the server does",
    )
    args = p.parse_args(argv)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    # other sessions may share the machine: say how much CPU they took meanwhile
    busy0, own0, t0 = machine_busy_seconds(), own_cpu_seconds(), perf()
    import chatbot

    out: dict[str, Any] = {
        "chatbot": str(list(chatbot.__path__)[0]),
        "parse": bench_parse(passes=3 if args.quick else 20),
    }
    gc.collect()
    out["store"] = asyncio.run(
        bench_store(writes=2000 if args.quick else 10000, concurrency=50, product_runtime=not args.default_gc)
    )
    s = out["store"]
    wall = perf() - t0
    out["machine_other_cpu_share"] = round(
        max(0.0, machine_busy_seconds() - busy0 - (own_cpu_seconds() - own0)) / wall, 3
    )
    out["summary"] = {
        "parse_p99_ms": out["parse"]["latency_ms"]["p99"],
        "parse_cpu_p99_ms": out["parse"]["cpu_ms"]["p99"],
        "parse_per_second": out["parse"]["per_second"],
        "store_writes_per_second_sequential": s["sequential"]["per_second"],
        "store_writes_per_second_concurrent": s["concurrent"]["per_second"],
        "loop_stall_max_ms_writing": max(
            s["loop_gaps_sequential_writes"]["max_ms"], s["loop_gaps_concurrent_writes"]["max_ms"]
        ),
        "loop_stall_max_ms_idle": s["loop_gaps_idle"]["max_ms"],
        "loop_gaps_over_1ms_writing": s["loop_gaps_sequential_writes"]["over_1ms"]
        + s["loop_gaps_concurrent_writes"]["over_1ms"],
        "machine_other_cpu_share": out["machine_other_cpu_share"],
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
