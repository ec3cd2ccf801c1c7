"""The store: schema versions, the demo seed, and message storage rules, on
both back ends: every test that takes `database` runs on SQLite and on
PostgreSQL (a throwaway server, tests/engines.py). The few that are SQLite's
by nature say why they run on it alone."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp import web
from engines import require_psycopg

from chatbot import clock
from chatbot.clock import ManualClock, parse_iso
from chatbot.demo import demo_rows
from chatbot.store import Store, StoreClosed, StoreNotOpen, VersionConflict, atomic, schema, schema_postgres, sql
from chatbot.store.schema import MIGRATIONS
from chatbot.web import app as app_module
from chatbot.web.app import create_app
from chatbot.web.keys import DESK, STORE
from helpers import make_settings, start_server


async def seed(store: Store) -> None:
    for brand in ("cltiktok", "ttr-e"):
        await store.upsert_brand(brand, brand)
    await store.seed(demo_rows(ManualClock().now()))


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's Store lives: a SQLite file (in a folder not made yet),
    or the URL of a PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        return tmp_path / "db" / "store.db"
    url: str = request.getfixturevalue("postgres_database")
    return url


def on_postgres(database: Path | str) -> bool:
    return isinstance(database, str)


@pytest.fixture
def server_database(database: Path | str, monkeypatch: pytest.MonkeyPatch) -> Path | str:
    """The server's store on the test's back end. Its settings name a SQLite
    file; on PostgreSQL its Store is given the test's database instead, until
    the server has an option for one (the next step of the scale-out)."""
    if on_postgres(database):
        monkeypatch.setattr(app_module, "Store", lambda _path: Store(database))
    return database


# SQLite's by nature: the file's WAL mode and PRAGMA user_version (test_the_schemas_... covers PostgreSQL's version).
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


async def test_an_existing_database_is_upgraded_in_place_and_keeps_its_data(database, monkeypatch):
    store = Store(database)
    await store.open()
    await seed(store)
    await store.close()

    def add_column(db):
        db["users"].add_column("locale", str)

    if on_postgres(database):
        upgraded = [*schema_postgres.MIGRATIONS, ('ALTER TABLE "users" ADD COLUMN "locale" TEXT',)]
        monkeypatch.setattr(schema_postgres, "MIGRATIONS", upgraded)
    else:
        monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_column])
    store = Store(database)
    assert await store.open() == len(MIGRATIONS) + 1
    alice = await store.user_by_email("cltiktok", "alice@example.com")
    assert alice["name"] == "Alice Chen" and "locale" in alice
    await store.close()


async def test_the_demo_seed_is_exactly_the_spec(tmp_path, server_database):
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


async def test_the_seed_runs_only_on_an_empty_database(tmp_path, server_database):
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


async def test_no_demo_leaves_the_database_empty(tmp_path, server_database):
    srv = await start_server(make_settings(tmp_path, demo=False))
    try:
        status, _ = await srv.post(
            "/api/login", {"brand": "cltiktok", "email": "alice@example.com", "password": "alice-demo-pass"}
        )
        assert status == 401
    finally:
        await srv.runner.cleanup()


async def test_seq_increases_by_one_and_client_ids_are_unique(database):
    store = Store(database)
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


async def test_a_call_that_fails_in_a_group_commit_is_undone_alone(database):
    """Calls that queue up behind a busy store thread run in one transaction,
    each in a savepoint: one that fails after writing, inside or outside a
    nested savepoint of its own, leaves nothing behind, and the others of its
    group are committed."""
    store = Store(database)
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


# SQLite's by nature: its write-ahead log file and checkpoints.
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


async def test_a_store_starts_nothing_until_it_is_opened(database):
    before = store_threads()
    store = Store(database)
    assert store_threads() == before and store._thread is None and not store.is_open
    if not on_postgres(database):
        assert not Path(database).parent.exists()  # not even the SQLite file's folder
    with pytest.raises(StoreNotOpen):
        await store.user(1)
    assert await store.open() == len(MIGRATIONS)
    assert store_threads() == before + 1 and store.is_open
    await store.close()
    assert store_threads() == before and not store._thread.is_alive()


async def test_a_call_after_close_raises_store_closed_and_close_is_idempotent(database):
    store = Store(database)
    await store.open()
    await store.close()
    with pytest.raises(StoreClosed, match="closed"):
        await store.create_user({"brand": "cltiktok", "email": "x@example.com", "name": "X", "role": "customer"})
    with pytest.raises(StoreClosed):
        await store._call(lambda conn: None)
    await store.close()
    with pytest.raises(RuntimeError):
        await store.open()  # a closed store stays closed: make a new one


async def test_async_with_opens_and_closes_the_store(database):
    async with Store(database) as store:
        assert store.is_open
        await seed(store)
    assert not store.is_open and not store._thread.is_alive()
    async with Store(database) as again:
        assert len(await again.table_rows("users")) == 9


async def test_calls_made_before_close_are_committed_before_it_returns(database):
    """Stored before acknowledged, also at shutdown: close() lets the calls
    already queued run and commit, and only then stops the thread."""
    store = Store(database)
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
    async with Store(database) as again:
        assert [m["seq"] for m in await again.messages(conversation["id"])] == list(range(1, 51))


async def test_the_server_opens_its_store_on_startup_and_closes_it_on_cleanup(tmp_path, server_database):
    srv = await start_server(make_settings(tmp_path, demo=False))
    store = srv.app[STORE]
    assert store.is_open and store._thread.is_alive()
    await srv.runner.cleanup()
    assert not store._thread.is_alive()
    with pytest.raises(StoreClosed):
        await store.user(1)


async def test_a_startup_step_that_fails_after_the_store_opened_still_closes_it(tmp_path, server_database):
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


# -- one store, two back ends ------------------------------------------------------------


def message_from(store: Store, conversation_id: int, client_id: str, now: datetime):
    return store.add_message(
        conversation_id,
        sender_type="customer",
        sender_name="A",
        sender_id=1,
        text=f"text of {client_id}",
        client_id=client_id,
        now=now,
    )


async def test_an_acknowledged_write_is_visible_from_another_connection(database):
    """Committed before acknowledged: once add_message returns, a connection
    of another process (here a new one, the store still open) reads it."""
    async with Store(database) as store:
        await seed(store)
        now = ManualClock().now()
        conversation = await store.open_conversation("cltiktok", 1, now)
        message, created = await message_from(store, conversation["id"], "c1", now)
        assert created
        query = "SELECT seq, text FROM messages WHERE id = %s"
        if on_postgres(database):
            import psycopg

            with psycopg.connect(database) as other:
                assert other.execute(query, [message["id"]]).fetchone() == (1, "text of c1")
        else:
            other = sqlite3.connect(database)
            assert other.execute(query.replace("%s", "?"), [message["id"]]).fetchone() == (1, "text of c1")
            other.close()


# PostgreSQL's by nature: two processes on one SQLite file is not a set-up the store offers (docs/scale-out).
async def test_two_stores_on_one_database_number_a_conversation_without_gaps(postgres_database):
    """Two engines (two processes' stores) add to one conversation at once,
    each in group commits of many calls, some with the same client_id
    through both: every message is stored once, `seq` runs 1..n with no gap,
    and a repeated client_id comes back as the first message."""
    first, second = Store(postgres_database), Store(postgres_database)
    await asyncio.gather(first.open(), second.open())  # both migrate at once: one does it
    await seed(first)
    now = ManualClock().now()
    conversation = await first.open_conversation("cltiktok", 1, now)
    sent: list[tuple[str, object]] = []
    for i in range(150):
        sent += [(f"a{i}", message_from(first, conversation["id"], f"a{i}", now))]
        sent += [(f"b{i}", message_from(second, conversation["id"], f"b{i}", now))]
        if i % 5 == 0:
            sent += [(f"both{i}", message_from(first, conversation["id"], f"both{i}", now))]
            sent += [(f"both{i}", message_from(second, conversation["id"], f"both{i}", now))]
    results = await asyncio.gather(*(call for _, call in sent))
    stored = await second.messages(conversation["id"])
    client_ids = {client_id for client_id, _ in sent}
    assert [m["seq"] for m in stored] == list(range(1, len(client_ids) + 1))
    assert sorted(m["client_id"] for m in stored) == sorted(client_ids)
    by_client_id = {m["client_id"]: m for m in stored}
    assert all(message == by_client_id[client_id] for (client_id, _), (message, _) in zip(sent, results, strict=True))
    assert sum(created for _, created in results) == len(client_ids)
    assert (await first.conversation(conversation["id"]))["last_seq"] == len(client_ids)
    await asyncio.gather(first.close(), second.close())


# PostgreSQL's by nature: one SQLite writer never waits for another's row.
async def test_two_stores_groups_that_deadlock_are_run_again_call_by_call(postgres_database):
    """Each store's group commit takes two rows in the opposite order of the
    other's: PostgreSQL aborts one group's call as a deadlock, and that store
    rolls its group back and runs its calls again, each alone; every call
    succeeds and nothing is doubled."""
    stores = Store(postgres_database), Store(postgres_database)
    await asyncio.gather(*(s.open() for s in stores))
    await seed(stores[0])
    now = ManualClock().now()
    x, y = [(await stores[0].open_conversation("cltiktok", user, now))["id"] for user in (1, 2)]
    runs: list[int] = []

    def hold(conversation_id: int):
        def call(conn) -> int:
            conn.execute("UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ?", [conversation_id])
            runs.append(conversation_id)
            time.sleep(0.3)  # the other store takes its first row meanwhile
            return conversation_id

        return call

    def busy(conn) -> None:  # holds each store's thread so the two calls behind it form one group
        time.sleep(0.2)

    blockers = [asyncio.ensure_future(s._call(busy)) for s in stores]
    await asyncio.sleep(0.05)
    first, second = stores
    calls = [first._call(hold(x)), first._call(hold(y)), second._call(hold(y)), second._call(hold(x))]
    assert await asyncio.gather(*calls) == [x, y, y, x]
    await asyncio.gather(*blockers)
    # One run more than the calls: the victim group's first call ran, was rolled back with its group and ran again.
    assert len(runs) == 5
    assert [(await first.conversation(c))["last_seq"] for c in (x, y)] == [2, 2]
    await asyncio.gather(*(s.close() for s in stores))


# PostgreSQL's by nature: SQLite's single writer makes these safe as they stand.
async def test_the_other_read_modify_writes_hold_across_two_stores(postgres_database):
    """What SQLite's single writer made safe, each checked with two engines
    at once: one open conversation per user, one refund per order and no
    refund number twice, intent versions n and n + 1, one seed."""
    first, second = Store(postgres_database), Store(postgres_database)
    await asyncio.gather(first.open(), second.open())
    for brand in ("cltiktok", "ttr-e"):
        await first.upsert_brand(brand, brand)
    rows = demo_rows(ManualClock().now())
    assert sorted(await asyncio.gather(first.seed(rows), second.seed(rows))) == [False, True]
    now = ManualClock().now()
    opened = await asyncio.gather(*(s.open_conversation("cltiktok", 2, now) for s in (first, second) * 5))
    assert len({c["id"] for c in opened}) == 1
    audit = {"brand": "cltiktok", "user_id": 1, "conversation_id": opened[0]["id"], "action": "refund"}
    refunds = await asyncio.gather(
        *(
            s.open_refund(user_id=1, brand="cltiktok", amount_cents=100, now=now, audit=audit, order_number=order)
            for order in ("CT-100234", "CT-100235", "CT-100236")
            for s in (first, second)
        )
    )
    created = [refund["number"] for refund, was_created in refunds if was_created]
    assert len(created) == len(set(created)) == 2  # CT-100236 has RF-5001 open already
    assert len({refund["number"] for refund, _ in refunds}) == 3
    version = {
        "brand": "cltiktok",
        "intent": "greeting",
        "author_id": 6,
        "author_name": "Olga",
        "at": "t",
        "content": "",
    }
    numbers = await asyncio.gather(*(s.add_intent_version(version) for s in (first, second) * 3))
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]
    await asyncio.gather(first.close(), second.close())


async def test_the_repositories_answer_alike_on_both(database):
    """The queries where the dialects differ: case-insensitive e-mail, ids
    counted past the seeded ones, a LIKE with %, durations and counts in the
    analytics, the average rating a float."""
    async with Store(database) as store:
        await seed(store)
        clock = ManualClock()
        now = clock.now()
        assert (await store.user_by_email("cltiktok", "ALICE@Example.com"))["name"] == "Alice Chen"
        assert await store.create_user({"brand": "cltiktok", "email": "x@example.com", "name": "X"}) == 10
        conversation = await store.open_conversation("cltiktok", 1, now)
        for client_id in ("c1", "attachment:1"):
            await message_from(store, conversation["id"], client_id, now)
        turns = await store.customer_turns("cltiktok", now - timedelta(days=1))
        assert [t["text"] for t in turns] == ["text of c1"]
        handoff, created = await store.create_handoff(
            {"brand": "cltiktok", "conversation_id": conversation["id"], "user_id": 1, "reason": "asked",
             "queued_at": sql.isoformat(now)},
            "queued",
        )  # fmt: skip
        assert created and (await store.create_handoff({**handoff, "queued_at": "x"}, "queued"))[1] is False
        assert await store.move_handoff(handoff["id"], to="assigned", from_states=("queued",), agent_id=4)
        assert not await store.move_handoff(handoff["id"], to="assigned", from_states=("queued",), agent_id=5)
        answered = sql.isoformat(now + timedelta(seconds=299))
        await store.update_handoff(handoff["id"], first_response_at=answered, rating=4)
        figures = await store.daily_figures("cltiktok", now - timedelta(days=1))
        [day] = figures["handoffs"]
        assert (day["handoffs"], day["within_5"], day["within_10"], day["ratings"]) == (1, 1, 1, 1)
        assert day["rating"] == 4.0 and isinstance(day["rating"], float)
        assert figures["conversations"] == [{"day": sql.isoformat(now)[:10], "conversations": 1, "bot_only": 0}]
        assert await store.conversation_counts("cltiktok", now - timedelta(days=1)) == {
            "conversations": 1,
            "bot_only": 0,
        }
        assert await store.use_token_id("cltiktok", "j1", now, now) is True
        assert await store.use_token_id("cltiktok", "j1", now, now) is False


def sqlite_schema(path: Path) -> dict[str, object]:
    conn = sqlite3.connect(path)
    affinity = {"TEXT": "text", "INTEGER": "integer", "REAL": "real", "FLOAT": "real"}
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    columns, keys, indexes, references = {}, {}, {}, set()
    for table in tables:
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        columns[table] = [(c[1], affinity[c[2]], bool(c[3]), c[4]) for c in info]
        keys[table] = [c[1] for c in sorted(info, key=lambda c: c[5]) if c[5]]
        for _, name, unique, origin, partial in conn.execute(f'PRAGMA index_list("{table}")'):
            if origin == "c":
                names = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")')]
                indexes[name] = (table, names, bool(unique), bool(partial))
        references |= {(table, r[3], r[2], r[4]) for r in conn.execute(f'PRAGMA foreign_key_list("{table}")')}
    conn.close()
    return {"columns": key_columns_nullable(columns, keys), "keys": keys, "indexes": indexes, "references": references}


def key_columns_nullable(columns: dict[str, list], keys: dict[str, list]) -> dict[str, list]:
    """NOT NULL of the other columns only: PostgreSQL makes a primary key's
    columns NOT NULL, SQLite leaves that unsaid (and never stores a NULL key)."""
    return {
        table: [
            (name, kind, not_null and name not in keys.get(table, []), default) for name, kind, not_null, default in cs
        ]
        for table, cs in columns.items()
    }


POSTGRES_SCHEMA = {
    "columns": "SELECT table_name, column_name, data_type, is_nullable = 'NO', "
    "column_default FROM information_schema.columns WHERE table_schema = 'public' ORDER BY ordinal_position",
    "keys": "SELECT t.relname, a.attname FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid "
    "JOIN unnest(x.indkey) WITH ORDINALITY k(attnum, n) ON true "
    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
    "WHERE x.indisprimary AND t.relnamespace = 'public'::regnamespace ORDER BY t.relname, k.n",
    "indexes": "SELECT i.relname, t.relname, array_agg(a.attname ORDER BY k.n), x.indisunique, "
    "x.indpred IS NOT NULL FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
    "JOIN pg_class t ON t.oid = x.indrelid JOIN unnest(x.indkey) WITH ORDINALITY k(attnum, n) ON true "
    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
    "WHERE NOT x.indisprimary AND t.relnamespace = 'public'::regnamespace "
    "GROUP BY i.relname, t.relname, x.indisunique, x.indpred IS NOT NULL",
    "references": "SELECT t.relname, a.attname, r.relname, ra.attname FROM pg_constraint c "
    "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
    "JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] WHERE c.contype = 'f'",
}


def postgres_schema(url: str) -> dict[str, object]:
    import psycopg

    affinity = {"text": "text", "bigint": "integer", "double precision": "real"}
    with psycopg.connect(url) as conn:
        found = {name: conn.execute(query).fetchall() for name, query in POSTGRES_SCHEMA.items()}
    columns: dict[str, list] = {}
    for table, name, kind, not_null, default in found["columns"]:
        if table != "schema_version":  # PRAGMA user_version's stand-in
            columns.setdefault(table, []).append((name, affinity[kind], not_null, default))
    keys: dict[str, list] = {}
    for table, name in found["keys"]:
        keys.setdefault(table, []).append(name)
    indexes = {name: (table, names, unique, partial) for name, table, names, unique, partial in found["indexes"]}
    return {
        "columns": key_columns_nullable(columns, keys),
        "keys": keys,
        "indexes": indexes,
        "references": set(found["references"]),
    }


async def test_the_schemas_of_both_back_ends_are_the_same(tmp_path, postgres_database):
    """One schema history: the same version numbers, and at the end the same
    tables, columns (in order, with their types, NOT NULL and defaults),
    primary keys, indexes (unique and partial ones by name) and references."""
    assert len(schema_postgres.MIGRATIONS) == len(schema.MIGRATIONS)
    async with Store(tmp_path / "same.db"), Store(postgres_database) as store:
        version = await store._call(lambda conn: conn.execute("SELECT version FROM schema_version").fetchall())
    assert version == [(len(MIGRATIONS),)]
    sqlite, postgres = sqlite_schema(tmp_path / "same.db"), postgres_schema(postgres_database)
    assert sorted(postgres["columns"]) == sorted(sqlite["columns"])
    for part in ("columns", "keys", "indexes", "references"):
        assert postgres[part] == sqlite[part], part


# PostgreSQL's by nature: SQLite's durability is its `synchronous` PRAGMA (docs/configuration.md).
async def test_synchronous_commit_is_on_unless_the_url_turns_it_off(postgres_database):
    def setting(conn) -> str:
        return conn.execute("SHOW synchronous_commit").fetchone()[0]

    async with Store(postgres_database) as store:
        assert await store._call(setting) == "on"
    async with Store(postgres_database + "?synchronous_commit=off") as store:
        assert await store._call(setting) == "off"
    with pytest.raises(ValueError, match="synchronous_commit"):
        Store(postgres_database + "?synchronous_commit=sometimes")


# PostgreSQL's by nature: a server that drops the connection (a restart, a failover).
async def test_a_connection_the_server_dropped_is_made_again(postgres_database):
    import psycopg

    async with Store(postgres_database) as store:
        await seed(store)
        backend = await store._call(lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [backend])
        with pytest.raises(psycopg.OperationalError):
            await store.user(1)  # the call that finds the connection gone fails: nothing was done
        assert (await store.user(1))["name"] == "Alice Chen"


def test_a_postgres_store_shows_its_url_without_the_password():
    require_psycopg()
    store = Store("postgresql://chat:s3cret@db.internal:5432/chatbot?synchronous_commit=off")
    assert store.path == "postgresql://chat:***@db.internal:5432/chatbot?synchronous_commit=off"


async def test_a_version_saved_on_a_stale_base_is_refused_and_none_is_lost(database):
    """Compare-and-set on the versions (issue 20: concurrent edits never
    lost): a save names the version it was made on and is stored only if that
    is still the latest. Two saves from one base at once, through two stores
    on PostgreSQL (two processes), one store on SQLite (one writer): one wins,
    the other is refused naming the winner, and no number is taken twice or
    skipped."""
    async with (
        Store(database) as store,
        Store(database) if on_postgres(database) else contextlib.nullcontext(store) as other,
    ):
        await seed(store)
        mine = {"brand": "cltiktok", "intent": "greeting", "author_id": 6, "author_name": "Olga", "at": "t"}
        found = {**mine, "author_id": None, "author_name": "intent files", "content": "as found", "note": "found"}
        assert await store.add_intent_version({**mine, "content": "a", "note": ""}, 0, found) == 2
        with pytest.raises(VersionConflict) as refused:
            await store.add_intent_version({**mine, "content": "b", "note": ""}, 1)
        assert (refused.value.latest["version"], refused.value.latest["author_name"]) == (2, "Olga")
        with pytest.raises(VersionConflict):
            await store.add_intent_version({**mine, "content": "b", "note": ""}, 0, found)  # "none yet" is stale too
        assert await store.add_intent_version({**mine, "content": "b", "note": ""}, 2) == 3
        assert await store.add_intent_version({**mine, "content": "c", "note": ""}) == 4  # no base: as before
        racing = [
            s.add_intent_version({**mine, "author_name": who, "content": who, "note": ""}, 4)
            for s, who in ((store, "Olga"), (other, "Oscar"))
        ]
        outcomes = await asyncio.gather(*racing, return_exceptions=True)
        won = [o for o in outcomes if o == 5]
        lost = [o for o in outcomes if isinstance(o, VersionConflict)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        versions = await store.intent_versions("cltiktok", "greeting")
        assert [v["version"] for v in versions] == [5, 4, 3, 2, 1]
        assert lost[0].latest["author_name"] == versions[0]["content"]  # the refusal names the winner
        assert (await other.latest_intent_version("cltiktok", "greeting"))["version"] == 5


async def test_a_policy_saved_on_a_stale_base_is_refused(database):
    """The policy's versions are its saves' ids; each keeps the text it
    replaced and the text it saved, so another process can load the latest."""
    async with (
        Store(database) as store,
        Store(database) if on_postgres(database) else contextlib.nullcontext(store) as other,
    ):
        await seed(store)
        assert await store.latest_policy_version("cltiktok") is None
        save = {"brand": "cltiktok", "author_id": 6, "at": "t", "content": "old"}
        first = await store.add_policy_version({**save, "saved": "one"}, 0)
        with pytest.raises(VersionConflict) as refused:
            await store.add_policy_version({**save, "saved": "two"}, 0)
        assert (refused.value.latest["version"], refused.value.latest["author_name"]) == (first, "Olga")
        outcomes = await asyncio.gather(
            store.add_policy_version({**save, "saved": "mine"}, first),
            other.add_policy_version({**save, "saved": "theirs"}, first),
            return_exceptions=True,
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["VersionConflict", "int"], outcomes
        latest = await other.latest_policy_version("cltiktok")
        assert latest["version"] == next(o for o in outcomes if isinstance(o, int))
        assert latest["saved"] in ("mine", "theirs") and latest["author_name"] == "Olga"
        assert len(await store.policy_versions("cltiktok")) == 2
        assert await store.latest_policy_version("ttr-e") is None
