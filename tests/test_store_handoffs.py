"""The handoff queue's writes when several processes make them at once: two
stores on one database (two processes' engines), on SQLite and PostgreSQL.
What must hold whichever process acts: a timer's stamp and the system
message it posts happen once, a requeue after a drop posts its message once,
and an agent's cap is never exceeded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatbot.clock import ManualClock, isoformat
from chatbot.demo import demo_rows
from chatbot.store import Store

pytestmark = pytest.mark.asyncio

DANA = 4  # an agent of cltiktok in the demo data
CUSTOMERS = 10


@pytest.fixture(params=["sqlite", "postgres"])
async def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores (two processes' engines) on one database, seeded, with ten
    customers of cltiktok besides the demo's."""
    location: Path | str = tmp_path / "store.db"
    if request.param == "postgres":
        location = request.getfixturevalue("postgres_database")
    first, second = Store(location), Store(location)
    await first.open()
    await second.open()
    for brand in ("cltiktok", "ttr-e"):
        await first.upsert_brand(brand, brand)
    rows = demo_rows(ManualClock().now())
    await first.seed(rows)
    template = {k: v for k, v in rows["users"][0].items() if k != "id"}
    for n in range(CUSTOMERS):
        await first.create_user({**template, "email": f"customer{n}@example.com", "name": f"Customer {n}"})
    yield first, second
    await first.close()
    await second.close()


async def queued_handoffs(store: Store, count: int) -> list[dict]:
    now = ManualClock().now()
    handoffs = []
    for user in await store.users_of_brand("cltiktok", "customer"):
        if len(handoffs) == count:
            break
        conversation = await store.open_conversation("cltiktok", user["id"], now)
        record = {
            "brand": "cltiktok",
            "conversation_id": conversation["id"],
            "user_id": user["id"],
            "reason": "asked",
            "queued_at": isoformat(now),
        }
        handoff, _ = await store.create_handoff(record, "queued")
        handoffs.append(handoff)
    assert len(handoffs) == count
    return handoffs


async def system_texts(store: Store, conversation_id: int) -> list[str]:
    return [m["text"] for m in await store.messages(conversation_id) if m["sender_type"] == "system"]


async def test_a_breach_is_stamped_and_its_offer_posted_once_by_processes_ticking_together(two_stores):
    first, second = two_stores
    (handoff,) = await queued_handoffs(first, 1)
    now = ManualClock().now()
    offer = {"text": "Would you like us to continue by email?", "now": now, "meta": {"quick_replies": ["Yes"]}}
    tries = [s.stamp_handoff(handoff["id"], "breached_at", now, offer) for s in (first, second) * 4]
    posted = [message for message in await asyncio.gather(*tries) if message is not None]
    assert len(posted) == 1 and posted[0]["text"] == offer["text"]
    assert await system_texts(second, handoff["conversation_id"]) == [offer["text"]]
    assert (await first.handoff(handoff["id"]))["breached_at"] == isoformat(now)
    # and a flag without a message is set once too
    flags = await asyncio.gather(*(s.stamp_handoff(handoff["id"], "flagged_at", now) for s in (first, second) * 2))
    assert [flag for flag in flags if flag is not None] == [{}]


async def test_no_stamp_once_the_first_human_reply_came(two_stores):
    first, _ = two_stores
    (handoff,) = await queued_handoffs(first, 1)
    now = ManualClock().now()
    await first.update_handoff(handoff["id"], first_response_at=isoformat(now))
    assert await first.stamp_handoff(handoff["id"], "breached_at", now, {"text": "late", "now": now}) is None
    assert await system_texts(first, handoff["conversation_id"]) == []


async def test_a_dropped_agents_chat_goes_back_once_with_one_message(two_stores):
    first, second = two_stores
    (handoff,) = await queued_handoffs(first, 1)
    assigned = await first.move_handoff(handoff["id"], to="assigned", from_states=("queued",), agent_id=DANA)
    assert assigned
    note = {"text": "Your agent was disconnected.", "now": ManualClock().now(), "meta": None}
    move = {"to": "queued", "from_states": ("assigned",), "agent_id": None, "expect_agent": DANA}
    tries = [s.move_handoff_saying(handoff["id"], note, **move) for s in (first, second) * 3]
    assert len([m for m in await asyncio.gather(*tries) if m is not None]) == 1
    assert await system_texts(second, handoff["conversation_id"]) == [note["text"]]


async def test_an_agents_cap_holds_when_two_processes_assign_at_once(two_stores):
    first, second = two_stores
    handoffs = await queued_handoffs(first, CUSTOMERS)
    tries = [
        store.move_handoff(h["id"], to="assigned", from_states=("queued",), agent_id=DANA, agent_cap=3)
        for h in handoffs
        for store in (first, second)
    ]
    assert sum(await asyncio.gather(*tries)) == 3
    held = [h for h in await second.live_handoffs("cltiktok") if h["assigned_agent_id"] == DANA]
    assert len(held) == 3 and all(h["state"] == "assigned" for h in held)
