"""The serving process's garbage-collector pacing (chatbot/runtime.py): young
passes on a timer, full passes only on the timer, never by CPython's own rule."""
from __future__ import annotations

import asyncio
import gc

import pytest

from chatbot.runtime import NEVER, SHORTEST_YOUNG_INTERVAL, next_young_interval, pace_collections, \
    tune_garbage_collector


@pytest.fixture
def restore_gc():
    threshold, callbacks = gc.get_threshold(), list(gc.callbacks)
    yield
    gc.set_threshold(*threshold)
    gc.callbacks[:] = callbacks


def test_paced_full_collections_turn_off_cpythons_own_rule(restore_gc):
    tune_garbage_collector(freeze=False, threshold=(10_000, 10, 10), full_seconds=600)
    assert gc.get_threshold() == (10_000, 10, NEVER)
    tune_garbage_collector(freeze=False, threshold=(10_000, 10, 10), full_seconds=0)
    assert gc.get_threshold() == (10_000, 10, 10)


async def test_young_and_full_passes_come_on_their_timers(restore_gc):
    generations: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            generations.append(info["generation"])
    gc.set_threshold(NEVER, NEVER, NEVER)        # only the pacer collects in this test
    gc.callbacks.append(record)
    pacer = asyncio.ensure_future(pace_collections(young_seconds=0.02, young_pause_ms=50, full_seconds=0.2))
    await asyncio.sleep(0.5)
    pacer.cancel()
    assert generations.count(1) >= 5, generations
    assert 1 <= generations.count(2) <= 3, generations
    assert 0 not in generations


async def test_nothing_paced_when_both_are_off(restore_gc):
    # returns at once instead of looping
    await asyncio.wait_for(pace_collections(young_seconds=0, young_pause_ms=5, full_seconds=0), timeout=1)


def test_passes_over_budget_come_sooner_and_cheap_ones_later():
    budget, longest = 0.005, 0.25
    assert next_young_interval(0.25, took=0.012, budget=budget, longest=longest) == 0.125
    assert next_young_interval(0.02, took=0.040, budget=budget, longest=longest) == SHORTEST_YOUNG_INTERVAL
    assert next_young_interval(0.1, took=0.0005, budget=budget, longest=longest) == pytest.approx(0.15)
    assert next_young_interval(0.2, took=0.0005, budget=budget, longest=longest) == longest
    assert next_young_interval(0.1, took=0.003, budget=budget, longest=longest) == 0.1
