"""The serving process: the garbage-collector pacing (chatbot/runtime.py):
young passes on a timer, full passes only on the timer, never by CPython's own
rule; and `run.py --start-time`, the clock that starts at a given instant."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from chatbot.clock import StartedClock
from chatbot.runtime import (
    NEVER,
    SHORTEST_YOUNG_INTERVAL,
    next_young_interval,
    pace_collections,
    tune_garbage_collector,
)
from chatbot.settings import Settings
from helpers import ALICE, ChatClient

REPO_ROOT = Path(__file__).resolve().parent.parent


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

    gc.set_threshold(NEVER, NEVER, NEVER)  # only the pacer collects in this test
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


# -- run.py --start-time ------------------------------------------------------------------


def test_a_started_clock_runs_on_from_its_start():
    ticks = [100.0]
    clock = StartedClock(
        datetime(2026, 12, 12, 11, 0, tzinfo=timezone(timedelta(hours=-8))), monotonic=lambda: ticks[0]
    )
    assert clock.now() == datetime(2026, 12, 12, 19, 0, tzinfo=UTC)
    ticks[0] += 90.5
    assert clock.now() == datetime(2026, 12, 12, 19, 1, 30, 500_000, tzinfo=UTC)
    assert clock.now().tzinfo == UTC


def test_a_started_clock_refuses_a_time_without_its_offset():
    with pytest.raises(ValueError):
        StartedClock(datetime(2026, 12, 12, 11, 0))


def test_the_start_time_comes_from_the_environment_too(monkeypatch):
    monkeypatch.setenv("CHATBOT_START_TIME", "2026-12-12T11:00:00-08:00")
    assert Settings().start_time == datetime(2026, 12, 12, 19, 0, tzinfo=UTC)


@contextlib.asynccontextmanager
async def running(*flags: str):
    """run.py as a separate process, as a user starts it; yields its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "run.py",
        "--port",
        "0",
        *flags,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        assert line.startswith("Listening on http://"), line
        yield line.removeprefix("Listening on ").strip()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_run_py_start_time_puts_the_server_on_a_saturday(tmp_path: Path):
    # Saturday 11:00 in Los Angeles: cltiktok's team (Mon-Fri 9-18 Pacific) is
    # closed, so a request for a person is offline until Monday 9:00 Pacific,
    # whatever day the test runs on.
    async with running("--db", str(tmp_path / "chat.db"), "--start-time", "2026-12-12T11:00:00-08:00") as url:
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/api/login", json=ALICE) as r:
                assert r.status == 200, await r.text()
                token = (await r.json())["token"]
        alice = ChatClient(url)
        await alice.connect({"token": token})
        try:
            await alice.wait_for("conversation")
            await alice.send("i want to talk to a person")
            handoff = await alice.wait_for("handoff", lambda h: h["state"] != "closed", timeout=10)
        finally:
            await alice.close()
    assert handoff["state"] == "offline", handoff
    assert handoff["opens_at"] == "2026-12-14T17:00:00.000Z"  # Monday 9:00 Pacific
