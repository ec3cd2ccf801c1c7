"""How fast the server takes many customers dropping at once (a network blip,
the generator closing, a restart): N customers connect with the benchmark's
generator, all close at once, and the script times until python-engineio has
no socket left. Server and generator share one process and one loop here, with
the collector paced as the served process paces it, so the figure is a lower
bound on what the server alone does; `--profile` adds cProfile's top lines.

    python bench/disconnects.py [N] [--profile]

Used for docs/benchmarks.md (changes 9 and 10, and the shutdown note).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import loadgen as lg  # noqa: E402
from aiohttp import web  # noqa: E402

from chatbot.runtime import pace_collections, tune_garbage_collector  # noqa: E402
from chatbot.settings import Settings  # noqa: E402
from chatbot.web.app import create_app  # noqa: E402
from chatbot.web.keys import SIO  # noqa: E402


async def measure(n: int, profile: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="disconnects-"))
    settings = Settings(db=work / "chat.db", demo=False, watch_intents=False, tick_seconds=0)
    tune_garbage_collector(settings.gc_freeze, settings.gc_threshold, settings.gc_full_seconds)
    pacer = asyncio.ensure_future(
        pace_collections(settings.gc_young_seconds, settings.gc_young_pause_ms, settings.gc_full_seconds)
    )
    customers = await lg.create_customers(settings.db, n)
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        gen = lg.LoadGen(f"http://{host}:{port}", customers, lg.load_texts())
        opened = await gen.connect_all()
        await gen.wait_conversations()
        print(f"{opened['connected']} customers connected at {opened['per_second']}/s")
        sockets = app[SIO].eio.sockets
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        await gen.close()
        while sockets:
            await asyncio.sleep(0.01)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        print(
            f"{opened['connected']} disconnects handled in {seconds:.2f} s "
            f"({opened['connected'] / seconds:.0f} a second)"
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
            print(out.getvalue())
    finally:
        pacer.cancel()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int, nargs="?", default=5000, help="customers (two file descriptors each)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    lg.use_uvloop()
    asyncio.run(measure(args.n, args.profile))


if __name__ == "__main__":
    main()
