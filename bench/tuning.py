"""Runtime tunings the benchmark can switch on for both servers alike, to
measure what a change to the product would bring before making it:

  --uvloop             run the event loop on uvloop
  --gc-freeze          after the server has started, gc.collect() then gc.freeze():
                       what was built at start (intents, matcher, libraries) is
                       never scanned again by the cyclic collector
  --gc-threshold A,B,C gc.set_threshold(A, B, C)
  --gc-pace Y,P,F      collect the young generations at least every Y s, more
                       often when a pass takes over P ms, and everything every
                       F s, instead of by CPython's allocation counts: the
                       product's gc_young_seconds, gc_young_pause_ms and
                       gc_full_seconds, run by chatbot/runtime.py (which
                       imports nothing else of the product)
  --gc-log PATH        time every collection; write a summary to PATH at exit
  --no-ws-compression  never negotiate permessage-deflate on the Socket.IO
                       WebSocket (python-engineio creates aiohttp's
                       WebSocketResponse with compress=True, the default)
  --switch-interval S  sys.setswitchinterval(S): how long a thread may keep the
                       GIL while another waits (default 0.005)

With --gc-log and BENCH_GC_COUNT_YOUNG=1 in the environment, each collection
also counts the objects it examines, and the big ones (over 150,000) are
sorted by type ("young_kinds"): slow, for diagnosis only.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import gc
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chatbot.runtime import pace_collections, tune_garbage_collector  # noqa: E402  # the same collector as the product


def tuning_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--gc-freeze", action="store_true")
    p.add_argument("--gc-threshold")
    p.add_argument("--gc-pace")
    p.add_argument("--gc-log", type=Path)
    p.add_argument("--no-ws-compression", action="store_true")
    p.add_argument("--switch-interval", type=float)


def _after_start(fn) -> None:
    """Run fn() right after the aiohttp site starts listening."""
    from aiohttp import web

    original = web.TCPSite.start

    async def start(self) -> None:
        await original(self)
        fn()

    web.TCPSite.start = start


def _gc_pace(args: argparse.Namespace) -> tuple[float, float, float]:
    """--gc-pace Y,P,F; without it, no pacing (CPython's own collector)."""
    young, pause, full = (float(x) for x in args.gc_pace.split(",")) if args.gc_pace else (0.0, 5.0, 0.0)
    return young, pause, full


def product_settings(args: argparse.Namespace) -> dict[str, str]:
    """The product applies its runtime tunings itself (chatbot/runtime.py,
    from its settings); as CHATBOT_* variables the same flags mean the same
    on both servers, and a flag left out is off there too."""
    threshold = [int(x) for x in args.gc_threshold.split(",")] if args.gc_threshold else list(gc.get_threshold())
    young, pause, full = _gc_pace(args)
    return {
        "CHATBOT_UVLOOP": str(bool(args.uvloop)).lower(),
        "CHATBOT_GC_FREEZE": str(bool(args.gc_freeze)).lower(),
        "CHATBOT_GC_THRESHOLD": json.dumps(threshold),
        "CHATBOT_GC_YOUNG_SECONDS": str(young),
        "CHATBOT_GC_YOUNG_PAUSE_MS": str(pause),
        "CHATBOT_GC_FULL_SECONDS": str(full),
    }


def apply_tuning(args: argparse.Namespace, runtime: bool = True) -> None:
    """runtime=False: leave the loop and the collector to the server (the product)."""
    if runtime:
        _apply_runtime(args)
    if args.gc_log:
        _log_collections(args.gc_log)
    if args.no_ws_compression:
        import functools

        import engineio.async_drivers.aiohttp as driver
        from aiohttp.web import WebSocketResponse

        driver.WebSocketResponse = functools.partial(WebSocketResponse, compress=False)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)


def _apply_runtime(args: argparse.Namespace) -> None:
    if args.uvloop:
        import uvloop

        uvloop.install()
    young, pause, full = _gc_pace(args)
    threshold = tuple(int(x) for x in args.gc_threshold.split(",")) if args.gc_threshold else gc.get_threshold()

    def after_start() -> None:
        tune_garbage_collector(args.gc_freeze, threshold, full)
        if young > 0 or full > 0:
            asyncio.ensure_future(pace_collections(young, pause, full))

    _after_start(after_start)


def _log_collections(path: Path) -> None:
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    cpu: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0, 0.0]
    frozen = [0]
    full: list[tuple[float, float, float]] = []  # (wall-clock end, seconds, CPU seconds) of each gen2 pass
    long: list[tuple] = []  # passes over 2 ms: (end, generation, seconds, CPU, freed, objects examined or 0)

    young = [0]
    kinds: list = []

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            if os.environ.get("BENCH_GC_COUNT_YOUNG"):  # diagnostics: how big the generation being collected is
                objects = [o for g in range(info["generation"] + 1) for o in gc.get_objects(g)]
                young[0] = len(objects)
                if len(objects) > 150_000:  # what fills it, by type and owner module (the last few)
                    import collections

                    kinds.append(
                        [
                            time.time(),
                            info["generation"],
                            len(objects),
                            collections.Counter(
                                f"{type(o).__module__}.{type(o).__qualname__}" for o in objects
                            ).most_common(25),
                        ]
                    )
                    del kinds[:-12]
                del objects
            started[0], started[1] = time.perf_counter(), time.thread_time()
        else:
            took, spent = time.perf_counter() - started[0], time.thread_time() - started[1]
            pauses[info["generation"]].append(took)
            cpu[info["generation"]].append(spent)
            if info["generation"] == 2:
                full.append((time.time(), took, spent))
            if took > 0.002:
                long.append((time.time(), info["generation"], took, spent, info.get("collected", 0), young[0]))

    gc.callbacks.append(callback)
    _after_start(lambda: frozen.__setitem__(0, gc.get_freeze_count()))

    def write(final: bool = False) -> None:
        out = {
            "threshold": gc.get_threshold(),
            "frozen_objects": gc.get_freeze_count(),
            "frozen_at_start": frozen[0],
            "gc_counts": gc.get_count(),
        }
        if final:
            out["tracked_objects_at_exit"] = len(gc.get_objects())
        for gen, raw in pauses.items():
            values = sorted(raw)
            spent = sorted(cpu[gen])
            out[f"gen{gen}"] = {
                "count": len(values),
                "total_ms": round(sum(values) * 1000, 1),
                "p99_ms": round(values[int(len(values) * 0.99) - 1] * 1000, 2) if values else None,
                "max_ms": round(values[-1] * 1000, 2) if values else None,
                # CPU time of the pass: its own cost, whatever else the machine was doing
                "max_cpu_ms": round(spent[-1] * 1000, 2) if spent else None,
            }
        out["young_kinds"] = kinds
        out["gen2_events"] = [[round(t, 3), round(d * 1000, 2), round(c * 1000, 2)] for t, d, c in full[-500:]]
        out["long_pauses"] = [
            [round(t, 3), g, round(d * 1000, 2), round(c * 1000, 2), n, y] for t, g, d, c, n, y in long[-2000:]
        ]
        tmp = path.with_name(path.name + f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(out, indent=2))
        tmp.replace(path)  # readers never see half a file

    atexit.register(write, True)

    def every_few_seconds() -> None:  # a server killed at the end still leaves its figures
        while True:
            time.sleep(2)
            with contextlib.suppress(Exception):  # diagnostics only
                write()

    threading.Thread(target=every_few_seconds, daemon=True, name="gc-log").start()
