"""What one bot turn costs in CPU, in-process and without sockets: the part of
a chat message that is the product's own (validation aside), so a change to
the matcher, the store or the dialogue can be measured in seconds instead of
a sweep's minutes, and without the load generator or the machine's
neighbours in the figure.

A turn is what the server does for a customer message once its payload is
valid: `ChatService.post_customer_message` (stored, committed) and then
`ChatService.respond` (conversation read, matched, answered, the answer
stored with the dialogue state, emitted). The app is the real one
(`create_app`, the demo data, the intents of the repo, no agents online);
Socket.IO emits go to rooms nobody is in, so the stack's encoding and
sending are not counted: the sweep (bench/run.py) measures those.

    .venv/bin/python bench/turns.py [--turns 4000] [--customers 200] [--concurrency 1,20] [--profile] [--asyncio]

It runs on uvloop, as the server does by default (`--asyncio` for the
standard loop, whose own overhead adds 0.1-0.3 ms to a turn).

CPU is the process's (event loop and store thread together) per turn, and
the store thread's part of it; wall
is per turn, one after another (concurrency 1) or with N customers writing
at once (group commit in play). --profile prints cProfile's top functions of
the concurrent round.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, os.environ.get("BENCH_PRODUCT_REPO") or str(REPO))
from loadgen import load_texts, summary_ms  # noqa: E402


async def _customers(app: Any, brand: str, count: int) -> list[tuple[Any, int]]:
    from chatbot.auth import User
    from chatbot.clock import isoformat
    from chatbot.web.keys import CHAT, CLOCK, STORE

    store, chat, now = app[STORE], app[CHAT], app[CLOCK].now()
    out = []
    for i in range(count):
        user_id = await store.create_user(
            {
                "brand": brand,
                "email": f"turns{i}@{brand}.test",
                "name": f"Turns {i}",
                "role": "customer",
                "password_hash": "-",
                "created_at": isoformat(now),
            }
        )
        user = User.from_row(await store.user(user_id))
        out.append((user, (await chat.open(user))["id"]))
    return out


async def _round(
    app: Any, work: list[tuple[Any, int, str]], concurrency: int, profile: cProfile.Profile | None
) -> dict[str, Any]:
    from chatbot.web.keys import CHAT, STORE

    chat = app[CHAT]
    store_clock = time.pthread_getcpuclockid(app[STORE]._thread.ident)
    walls: list[float] = []
    counter = iter(range(len(work)))

    async def worker() -> None:
        for k in counter:
            user, conversation_id, text = work[k]
            t = time.perf_counter()
            await chat.post_customer_message(user, conversation_id, f"turns-{id(work)}-{k}", text)
            await chat.respond(user, conversation_id, text)
            walls.append(time.perf_counter() - t)

    gc.collect()
    cpu0, store0, t0 = time.process_time(), time.clock_gettime(store_clock), time.perf_counter()
    if profile:
        profile.enable()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if profile:
        profile.disable()
    cpu, elapsed = time.process_time() - cpu0, time.perf_counter() - t0
    store_cpu = time.clock_gettime(store_clock) - store0
    return {
        "concurrency": concurrency,
        "turns": len(walls),
        "cpu_ms_per_turn": round(cpu / len(walls) * 1000, 3),
        "store_thread_cpu_ms_per_turn": round(store_cpu / len(walls) * 1000, 3),
        "turns_per_second": round(len(walls) / elapsed, 1),
        "wall_ms": summary_ms(walls),
    }


async def run(turns: int, customers: int, levels: list[int], want_profile: bool) -> dict[str, Any]:
    from aiohttp import web

    from chatbot.settings import Settings
    from chatbot.web.app import create_app

    texts = load_texts()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Settings(db=Path(tmp) / "turns.db", tick_seconds=0, watch_intents=False, uploads_dir=Path(tmp) / "uploads")
        )
        runner = web.AppRunner(app)
        await runner.setup()  # the app's start-up: store open, brands, demo data
        try:
            people = {brand: await _customers(app, brand, customers) for brand in texts}
            work = []
            for brand, sentences in texts.items():
                for i in range(turns // len(texts)):
                    user, conversation_id = people[brand][i % customers]
                    work.append((user, conversation_id, sentences[i % len(sentences)]))
            work.sort(key=lambda w: hash(w[2]))  # brands and customers interleaved
            await _round(app, work[: len(work) // 10], max(levels), None)  # warm-up
            out: dict[str, Any] = {"rounds": []}
            profile = cProfile.Profile() if want_profile else None
            for level in levels:
                out["rounds"].append(await _round(app, work, level, profile if level == max(levels) else None))
            if profile:
                text = io.StringIO()
                pstats.Stats(profile, stream=text).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
                    int(os.environ.get("BENCH_TOP", "25"))
                )
                out["profile"] = text.getvalue()
            return out
        finally:
            await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--turns", type=int, default=4000)
    p.add_argument("--customers", type=int, default=200, help="per brand")
    p.add_argument("--concurrency", default="1,20")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--asyncio", action="store_true", help="the standard event loop instead of uvloop")
    args = p.parse_args(argv)
    main_coroutine = run(args.turns, args.customers, [int(c) for c in args.concurrency.split(",")], args.profile)
    if args.asyncio:
        result = asyncio.run(main_coroutine)
    else:
        import uvloop

        result = uvloop.run(main_coroutine)
    profile = result.pop("profile", None)
    print(json.dumps(result, indent=2))
    if profile:
        print(profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
