"""A conversation's turns one at a time across a cluster's processes
(chatbot/web/cluster_turns.py), on a real Redis: two guards stand for two
processes."""

from __future__ import annotations

import asyncio
import logging

import pytest
from engines import free_port
from redis_engine import RedisServer

from chatbot.clock import ManualClock
from chatbot.handoff.presence import PresenceBoard, Snapshot
from chatbot.web.cluster_turns import RedisTurnGuard

pytestmark = pytest.mark.asyncio


async def turn(guard: RedisTurnGuard, conversation_id: int, name: str, log: list[str], seconds: float) -> None:
    async with guard(conversation_id):
        log.append(f"{name} starts")
        await asyncio.sleep(seconds)
        log.append(f"{name} ends")


async def test_a_conversations_turns_on_two_processes_run_one_after_the_other(redis_server: RedisServer) -> None:
    first, second = RedisTurnGuard(redis_server.url), RedisTurnGuard(redis_server.url)
    try:
        log: list[str] = []
        one = asyncio.create_task(turn(first, 7, "one", log, 0.3))
        await asyncio.sleep(0.05)
        await asyncio.gather(one, turn(second, 7, "two", log, 0), turn(second, 8, "other", log, 0))
        assert log.index("two starts") > log.index("one ends")  # the same conversation waited
        assert log.index("other starts") < log.index("one ends")  # another conversation did not
    finally:
        await first.close()
        await second.close()


async def test_a_turn_held_by_a_process_that_died_lapses(redis_server: RedisServer) -> None:
    dead, alive = RedisTurnGuard(redis_server.url, hold_seconds=0.5), RedisTurnGuard(redis_server.url)
    try:
        held = dead.redis.lock("chatbot:turn:9", timeout=0.5)
        assert await held.acquire()  # and never released: the process was killed
        log: list[str] = []
        await asyncio.wait_for(turn(alive, 9, "next", log, 0), timeout=5)
        assert log == ["next starts", "next ends"]
    finally:
        await dead.close()
        await alive.close()


async def test_without_redis_a_turn_goes_ahead_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    guard = RedisTurnGuard(f"redis://127.0.0.1:{free_port()}/0")
    try:
        log: list[str] = []
        with caplog.at_level(logging.WARNING, logger="chatbot.web.cluster_turns"):
            await turn(guard, 5, "alone", log, 0)
        assert log == ["alone starts", "alone ends"]
        assert "going ahead" in caplog.text
    finally:
        await guard.close()


async def test_the_lock_is_taken_only_while_a_tab_is_on_another_process(redis_server: RedisServer) -> None:
    """All of a conversation's tabs on this process (the usual case, with the
    balancer's affinity): its own lock suffices, and Redis is not asked. A
    tab elsewhere: the turn waits for the other process's."""
    board = PresenceBoard(ManualClock())
    other, here = RedisTurnGuard(redis_server.url), RedisTurnGuard(redis_server.url, board)
    try:
        held = other.redis.lock("chatbot:turn:11", timeout=0.5)
        assert await held.acquire()  # another process is in a turn of conversation 11
        log: list[str] = []
        await asyncio.wait_for(turn(here, 11, "alone", log, 0), timeout=0.2)  # no tab elsewhere: no wait
        board.merge("P2", Snapshot(customer_tabs={11: 1}))
        started = asyncio.get_running_loop().time()
        await turn(here, 11, "shared", log, 0)
        assert asyncio.get_running_loop().time() - started > 0.3  # it waited for the other's turn to lapse
    finally:
        await other.close()
        await here.close()
