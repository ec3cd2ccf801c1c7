"""How the serving process runs Python's garbage collector (docs/benchmarks.md).

Why this exists: each Socket.IO connection keeps about 60-90 waiting objects
(python-engineio's reader, writer and ping tasks: coroutines, futures, timers)
and replaces them on every packet and every ping cycle. CPython 3.11 starts a
young collection when allocations minus deallocations pass a threshold, and a
server that replaces as many objects as it frees barely moves that count. So
the young generations fill with every connection's current set, and the pass
that finally comes walks all of them at once: 100-200 ms with 2,000
connections, more with 10,000, during which no customer gets an answer.

So young collections are paced by time instead: a pass walks only what was
made since the last one, and the interval adapts so that a pass takes about
`gc_young_pause_ms` (shorter when messages come fast, up to
`gc_young_seconds` when idle). Each object is still walked about once; the
walking is spread into small steps. What survives goes to the old generation,
where reference counting frees it when its socket replaces it. CPython's own
rule for full collections (when the old generation has grown by a quarter)
would then fire every few seconds and walk every live object, so full
collections are paced too, every `gc_full_seconds`, and their cost is logged.

This module imports nothing else from the product, so bench/echo_server.py
can run the same collector as the product."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)
NEVER = 2**31 - 1  # gc.set_threshold's largest: CPython then never starts a full pass itself
SHORTEST_YOUNG_INTERVAL = 0.01


def tune_garbage_collector(freeze: bool, threshold: tuple[int, int, int], full_seconds: float) -> None:
    """Call once start-up is done. Frozen, what start-up built (libraries,
    intents: about 77,000 objects) is never walked again."""
    gc.collect()
    if freeze:
        gc.freeze()
    young, middle, old = threshold
    gc.set_threshold(young, middle, NEVER if full_seconds > 0 else old)


async def pace_collections(young_seconds: float, young_pause_ms: float, full_seconds: float) -> None:
    """Young passes at most young_seconds apart, closer when they take more
    than young_pause_ms; a full pass every full_seconds (0 leaves either to
    CPython). Runs until cancelled. It paces the interpreter, not a business
    timer, so it counts its own sleeps rather than reading the clock."""
    if young_seconds <= 0 and full_seconds <= 0:
        return
    budget = young_pause_ms / 1000
    interval = young_seconds if young_seconds > 0 else full_seconds
    since_full = 0.0
    while True:
        await asyncio.sleep(interval)
        since_full += interval
        if full_seconds > 0 and since_full >= full_seconds:
            started = time.perf_counter()
            freed = gc.collect()
            log.info(
                "full garbage collection: %d unreachable objects freed in %.0f ms",
                freed,
                (time.perf_counter() - started) * 1000,
            )
            since_full = 0.0
        elif young_seconds > 0:
            started = time.perf_counter()
            gc.collect(1)
            interval = next_young_interval(interval, time.perf_counter() - started, budget, young_seconds)


def next_young_interval(interval: float, took: float, budget: float, longest: float) -> float:
    """A pass's cost grows with what was made since the last one, so halve the
    wait after a pass over budget and lengthen it slowly after cheap ones."""
    if took > budget:
        return max(SHORTEST_YOUNG_INTERVAL, interval / 2)
    if took < budget / 4:
        return min(longest, interval * 1.5)
    return interval
