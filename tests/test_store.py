"""The store: schema versions, the demo seed, and message storage rules."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aiohttp import web

from chatbot import clock
from chatbot.clock import ManualClock, parse_iso
from chatbot.demo import demo_rows
from chatbot.store import Store, StoreClosed, StoreNotOpen, atomic, sql
from chatbot.store.schema import MIGRATIONS
from chatbot.web.app import create_app
from chatbot.web.keys import DESK, STORE
from helpers import make_settings, start_server


async def seed(store: Store) -> None:
    for brand in ("cltiktok", "ttr-e"):
        await store.upsert_brand(brand, brand)
    await store.seed(demo_rows(ManualClock().now()))


async def test_a_new_database_gets_every_migration_and_wal(tmp_path):
    store = Store(tmp_path / "a.db")
    assert await store.open() == len(MIGRATIONS)
    await store.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "brands",
        "users",
        "sessions",
        "orders",
        "shipments",
        "refunds",
        "purchases",
        "withdrawals",
        "conversations",
        "messages",
    } <= tables


async def test_an_existing_database_is_upgraded_in_place_and_keeps_its_data(tmp_path, monkeypatch):
    from chatbot.store import schema

    store = Store(tmp_path / "b.db")
    await store.open()
    await seed(store)
    await store.close()

    def add_column(db):
        db["users"].add_column("locale", str)

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_column])
    store = Store(tmp_path / "b.db")
    assert await store.open() == len(MIGRATIONS) + 1
    alice = await store.user_by_email("cltiktok", "alice@example.com")
    assert alice["name"] == "Alice Chen" and "locale" in alice
    await store.close()


async def test_the_demo_seed_is_exactly_the_spec(tmp_path):
    clock = ManualClock()
    srv = await start_server(make_settings(tmp_path), clock)
    store = srv.app[STORE]
    try:
        users = {u["email"]: u for u in await store.table_rows("users")}
        assert len(users) == 9
        assert {(u["brand"], u["role"], u["name"]) for u in users.values()} == {
            ("cltiktok", "customer", "Alice Chen"),
            ("cltiktok", "customer", "Bob Rivera"),
            ("cltiktok", "merchant", "Sunny Socks (store)"),
            ("cltiktok", "agent", "Dana"),
            ("cltiktok", "agent", "Eli"),
            ("cltiktok", "operator", "Olga"),
            ("ttr-e", "customer", "Carol Park"),
            ("ttr-e", "agent", "Tom"),
            ("ttr-e", "operator", "Omar"),
        }
        assert all(u["password_hash"].startswith("$argon2id$") for u in users.values())
        owner = {u["id"]: u["email"].split("@")[0] for u in users.values()}

        orders = {o["number"]: o for o in await store.table_rows("orders")}
        assert {n: (owner[o["user_id"]], o["status"], o["total_cents"]) for n, o in orders.items()} == {
            "CT-100234": ("alice", "shipped", 4999),
            "CT-100235": ("alice", "processing", 1800),
            "CT-100236": ("alice", "delivered", 3550),
            "CT-100300": ("bob", "pending_payment", 8900),
            "CT-100301": ("bob", "delivered", 4200),
        }
        ups = next(s for s in await store.shipments_of("CT-100234"))
        assert (ups["carrier"], ups["tracking_number"]) == ("UPS", "1Z999AA10123456784")
        now = clock.now()
        assert parse_iso(ups["shipped_at"]) == now - timedelta(days=2)
        assert parse_iso(ups["estimated_delivery"]) == now + timedelta(days=2)
        lamp = next(s for s in await store.shipments_of("CT-100236"))
        assert parse_iso(lamp["delivered_at"]) == now - timedelta(days=6)
        backpack = next(s for s in await store.shipments_of("CT-100301"))
        assert parse_iso(backpack["delivered_at"]) == now - timedelta(days=40)

        refunds = {r["number"]: r for r in await store.table_rows("refunds")}
        assert {n: (owner[r["user_id"]], r["status"], r["amount_cents"]) for n, r in refunds.items()} == {
            "RF-5001": ("alice", "processing", 3550),
            "RF-5002": ("bob", "rejected", 4200),
            "RF-9001": ("carol", "completed", 47500),
        }
        assert parse_iso(refunds["RF-5001"]["requested_at"]) == now - timedelta(days=4)
        assert parse_iso(refunds["RF-5001"]["approved_at"]) == now - timedelta(days=2)

        withdrawals = {
            w["number"]: (owner[w["user_id"]], w["status"], w["amount_cents"])
            for w in await store.table_rows("withdrawals")
        }
        assert withdrawals == {"WD-7001": ("sunny", "pending", 124000), "WD-7000": ("sunny", "completed", 98000)}

        purchases = {p["number"]: p for p in await store.table_rows("purchases")}
        assert {n: (p["package"], p["amount_cents"], p["status"]) for n, p in purchases.items()} == {
            "TT-2000": ("ALL IN ONE", 50000, "cancelled"),
            "TT-2001": ("ALL IN ONE", 50000, "paid"),
            "TT-2002": ("TikTok Shop management", 100000, "active"),
            "TT-2003": ("ALL IN ONE", 50000, "paid"),
        }
        assert {n: (now - parse_iso(p["purchased_at"])).days for n, p in purchases.items()} == {
            "TT-2000": 60,
            "TT-2001": 3,
            "TT-2002": 30,
            "TT-2003": 20,
        }
    finally:
        await srv.runner.cleanup()


async def test_the_seed_runs_only_on_an_empty_database(tmp_path):
    settings = make_settings(tmp_path)
    srv = await start_server(settings)
    await srv.post("/api/login", {"brand": "cltiktok", "email": "alice@example.com", "password": "alice-demo-pass"})
    await srv.runner.cleanup()
    srv = await start_server(settings)
    try:
        assert len(await srv.app[STORE].table_rows("users")) == 9
        assert len(await srv.app[STORE].table_rows("orders")) == 5
    finally:
        await srv.runner.cleanup()


async def test_no_demo_leaves_the_database_empty(tmp_path):
    srv = await start_server(make_settings(tmp_path, demo=False))
    try:
        status, _ = await srv.post(
            "/api/login", {"brand": "cltiktok", "email": "alice@example.com", "password": "alice-demo-pass"}
        )
        assert status == 401
    finally:
        await srv.runner.cleanup()


async def test_seq_increases_by_one_and_client_ids_are_unique(tmp_path):
    store = Store(tmp_path / "c.db")
    await store.open()
    await seed(store)
    clock = ManualClock()
    conversation = await store.open_conversation("cltiktok", 1, clock.now())
    first, created = await store.add_message(
        conversation["id"],
        sender_type="customer",
        sender_name="A",
        sender_id=1,
        text="one",
        client_id="c1",
        now=clock.now(),
    )
    assert created and first["seq"] == 1
    again, created = await store.add_message(
        conversation["id"],
        sender_type="customer",
        sender_name="A",
        sender_id=1,
        text="one",
        client_id="c1",
        now=clock.now(),
    )
    assert not created and again == first
    bot, _ = await store.add_message(
        conversation["id"], sender_type="bot", sender_name="B", sender_id=None, text="two", now=clock.now()
    )
    assert bot["seq"] == 2
    assert [m["seq"] for m in await store.messages(conversation["id"])] == [1, 2]
    assert await store.integrity_check() == "ok"
    await store.close()


async def test_a_call_that_fails_in_a_group_commit_is_undone_alone(tmp_path):
    """Calls that queue up behind a busy store thread run in one transaction,
    each in a savepoint: one that fails after writing, inside or outside a
    nested savepoint of its own, leaves nothing behind, and the others of its
    group are committed."""
    store = Store(tmp_path / "g.db")
    await store.open()
    await seed(store)
    now = ManualClock().now()
    conversation = await store.open_conversation("cltiktok", 1, now)

    def busy(db) -> None:  # holds the thread so the calls behind it queue up
        time.sleep(0.3)

    def fails_after_writing(label: str, nested_fails: bool):
        def call(db) -> None:
            db.execute("INSERT INTO brands (id, name) VALUES (?, ?)", [f"{label}-outer", label])
            with atomic(db):
                db.execute("INSERT INTO brands (id, name) VALUES (?, ?)", [f"{label}-inner", label])
                if nested_fails:
                    raise RuntimeError(label)
            raise RuntimeError(label)

        return call

    def message(i: int):
        return store.add_message(
            conversation["id"],
            sender_type="customer",
            sender_name="A",
            sender_id=1,
            text=f"m{i}",
            client_id=f"c{i}",
            now=now,
        )

    blocker = asyncio.ensure_future(store._call(busy))
    await asyncio.sleep(0.05)
    calls = [
        message(0),
        store._call(fails_after_writing("a", True)),
        message(1),
        store._call(fails_after_writing("b", False)),
        message(2),
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    await blocker
    assert [str(o) for o in outcomes if isinstance(o, Exception)] == ["a", "b"]
    assert [m["seq"] for m in await store.messages(conversation["id"])] == [1, 2, 3]
    assert [m["text"] for m in await store.messages(conversation["id"])] == ["m0", "m1", "m2"]
    brands = await store._call(lambda db: [r[0] for r in db.execute("SELECT id FROM brands ORDER BY id")])
    assert brands == ["cltiktok", "ttr-e"]
    await store.close()


async def test_the_write_ahead_log_is_copied_back_and_stays_small(tmp_path):
    async def wal_bytes_after_writes(name: str, checkpoint_every: int) -> int:
        store = Store(tmp_path / name, checkpoint_every=checkpoint_every)
        await store.open()
        await seed(store)
        clock = ManualClock()
        conversation = await store.open_conversation("cltiktok", 1, clock.now())
        for i in range(600):
            await store.add_message(
                conversation["id"],
                sender_type="customer",
                sender_name="A",
                sender_id=1,
                text=f"message {i} " + "x" * 200,
                client_id=f"c{i}",
                now=clock.now(),
            )
        size = (tmp_path / f"{name}-wal").stat().st_size
        assert len(await store.messages(conversation["id"], limit=1000)) == 600
        await store.close()
        return size

    never = await wal_bytes_after_writes("never.db", checkpoint_every=10**9)
    often = await wal_bytes_after_writes("often.db", checkpoint_every=20)
    # copied back every 20 batches, the log is reused from its start instead of growing with every write
    assert often * 5 < never, (often, never)


# -- the engine's lifecycle ------------------------------------------------------------------


def store_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "store")


async def test_a_store_starts_nothing_until_it_is_opened(tmp_path):
    before = store_threads()
    store = Store(tmp_path / "d" / "lazy.db")
    assert store_threads() == before and store._thread is None and not store.is_open
    assert not (tmp_path / "d").exists()
    with pytest.raises(StoreNotOpen):
        await store.user(1)
    assert await store.open() == len(MIGRATIONS)
    assert store_threads() == before + 1 and store.is_open
    await store.close()
    assert store_threads() == before and not store._thread.is_alive()


async def test_a_call_after_close_raises_store_closed_and_close_is_idempotent(tmp_path):
    store = Store(tmp_path / "e.db")
    await store.open()
    await store.close()
    with pytest.raises(StoreClosed, match="closed"):
        await store.create_user({"brand": "cltiktok", "email": "x@example.com", "name": "X", "role": "customer"})
    with pytest.raises(StoreClosed):
        await store._call(lambda conn: None)
    await store.close()
    with pytest.raises(RuntimeError):
        await store.open()  # a closed store stays closed: make a new one


async def test_async_with_opens_and_closes_the_store(tmp_path):
    async with Store(tmp_path / "f.db") as store:
        assert store.is_open
        await seed(store)
    assert not store.is_open and not store._thread.is_alive()
    async with Store(tmp_path / "f.db") as again:
        assert len(await again.table_rows("users")) == 9


async def test_calls_made_before_close_are_committed_before_it_returns(tmp_path):
    """Stored before acknowledged, also at shutdown: close() lets the calls
    already queued run and commit, and only then stops the thread."""
    store = Store(tmp_path / "h.db")
    await store.open()
    await seed(store)
    now = ManualClock().now()
    conversation = await store.open_conversation("cltiktok", 1, now)
    pending = [
        asyncio.ensure_future(
            store.add_message(
                conversation["id"],
                sender_type="customer",
                sender_name="A",
                sender_id=1,
                text=f"m{i}",
                client_id=f"c{i}",
                now=now,
            )
        )
        for i in range(50)
    ]
    await asyncio.sleep(0)  # every call is queued, none is answered yet
    await store.close()
    assert all(task.done() and task.result()[1] for task in pending)
    async with Store(tmp_path / "h.db") as again:
        assert [m["seq"] for m in await again.messages(conversation["id"])] == list(range(1, 51))


async def test_the_server_opens_its_store_on_startup_and_closes_it_on_cleanup(tmp_path):
    srv = await start_server(make_settings(tmp_path, demo=False))
    store = srv.app[STORE]
    assert store.is_open and store._thread.is_alive()
    await srv.runner.cleanup()
    assert not store._thread.is_alive()
    with pytest.raises(StoreClosed):
        await store.user(1)


async def test_a_startup_step_that_fails_after_the_store_opened_still_closes_it(tmp_path):
    app = create_app(make_settings(tmp_path, demo=False), clock=ManualClock())

    async def broken_recover() -> None:
        raise RuntimeError("recover failed")

    app[DESK].recover = broken_recover
    runner = web.AppRunner(app)
    with pytest.raises(RuntimeError, match="recover failed"):
        await runner.setup()
    store = app[STORE]
    assert store._thread.is_alive()
    await runner.cleanup()  # what web.run_app does when startup fails
    assert not store._thread.is_alive()


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 5, 123456, tzinfo=UTC),  # microseconds: cut to milliseconds
        datetime(2026, 3, 1, 12, 0, 5, 999999, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),  # another offset, another day
        datetime(2026, 6, 30, 1, 2, 3, 4000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 3, 1, 12, 0, 5, 1000),  # naive: local time, both ways
        datetime(1, 1, 2, 0, 0, tzinfo=UTC),
    ],
)
def test_the_stores_timestamps_read_exactly_as_the_clocks(moment):
    """The store formats its own timestamps (it imports nothing from the rest
    of chatbot, tests/test_imports.py): the same text as chatbot.clock's."""
    assert sql.isoformat(moment) == clock.isoformat(moment)
    assert sql.isoformat(moment).endswith("Z")
