"""A lean Socket.IO v5 load generator for the /chat namespace.

Why not the official python-socketio client: each of its connections costs a
handful of tasks, an aiohttp session and a full Engine.IO state machine; one
core cannot drive 10,000 of them and still measure milliseconds. This client
speaks only what the benchmark needs, straight over a WebSocket (no polling
upgrade), one Engine.IO packet per frame:

    server  0{"sid",...,"pingInterval","pingTimeout"}   Engine.IO open
    client  40/chat,{"token": T}                          Socket.IO CONNECT with auth
    server  40/chat,{"sid"}  or  44/chat,{"message"}     connected / connect_error
    server  2            client  3                        Engine.IO ping / pong
    client  42/chat,ID["message",{"client_id","text"}]   an event that wants an ack
    server  43/chat,ID[{"ok",...}]                        the ack
    server  42/chat,["message",{...}]                     an event (the bot's reply)

Accounting, per message: it must get exactly one ack (`ok: true`) and exactly
one bot reply. Replies are matched per connection in order (one customer, one
conversation, one tab; the server answers a conversation's turns one at a
time, in order), so the latency of a reply is measured from the moment its
own message was written to the socket. A bot message with nothing left to
match is counted as `unexpected_replies`; the one legitimate second bot
message of a turn (the ticket number after a message left while the team is
away) is recognised and counted as `followups`, not as a reply.

Used by bench/run.py; can also be run alone against a running server:

    python bench/loadgen.py --url http://127.0.0.1:8080 --tokens tokens.txt --rate 500 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import hashlib
import json
import os
import random
import secrets
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = "/chat"
BRANDS = ("cltiktok", "ttr-e")
DEV_SETS = (REPO / "tests" / "data" / "dev.yaml", REPO.parent / "shared" / "eval" / "dev.yaml")
FOLLOWUP_PREFIX = "It's saved as ticket"
perf = time.perf_counter


# -- statistics ----------------------------------------------------------------------------------


def percentile(ordered: list[float], share: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return None
    k = max(0, min(len(ordered) - 1, int(-(-share * len(ordered) // 1)) - 1))
    return ordered[k]


def summary_ms(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 3)

    return {
        "count": len(ordered),
        "p50": ms(percentile(ordered, 0.50)),
        "p95": ms(percentile(ordered, 0.95)),
        "p99": ms(percentile(ordered, 0.99)),
        "max": ms(ordered[-1] if ordered else None),
        "mean": ms(sum(ordered) / len(ordered) if ordered else None),
    }


class ProcWatch:
    """CPU seconds and resident memory of a process, from /proc (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds so far, all threads."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / self.tick, int(fields[12]) / self.tick

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def context_switches(self) -> int:
        """Voluntary + involuntary context switches of all threads."""
        total = 0
        for task in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{task}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            total += int(line.split()[1])
            except FileNotFoundError:
                continue
        return total

    def status_kb(self, key: str) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def rss_kb(self) -> int:
        return self.status_kb("VmRSS")

    def hwm_kb(self) -> int:
        return self.status_kb("VmHWM")


class Sampler:
    """Samples a process's RSS a few times a second; keeps the peak."""

    def __init__(self, watch: ProcWatch, interval: float = 0.2) -> None:
        self.watch, self.interval = watch, interval
        self.peak_kb = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            try:
                self.peak_kb = max(self.peak_kb, self.watch.rss_kb())
            except (FileNotFoundError, ProcessLookupError):
                return
            await asyncio.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self.peak_kb = self.watch.rss_kb()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._task:
            self._task.cancel()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            self.peak_kb = max(self.peak_kb, self.watch.rss_kb())


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine (/proc/stat), to tell what other
    processes took during a measurement."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# -- the texts customers type -----------------------------------------------------------------


def load_texts(path: Path | None = None) -> dict[str, list[str]]:
    """Customer sentences per brand from the development set (dev.yaml)."""
    from ruamel.yaml import YAML

    candidates = [path] if path else list(DEV_SETS)
    for p in candidates:
        if p and p.exists():
            items = YAML(typ="safe").load(p.read_text(encoding="utf-8")) or []
            texts: dict[str, list[str]] = collections.defaultdict(list)
            for item in items:
                texts[str(item["brand"])].append(str(item["text"]))
            return dict(texts)
    raise FileNotFoundError(f"no dev.yaml among {candidates}")


# -- customers for the run --------------------------------------------------------------------


@dataclass
class Customer:
    user_id: int
    brand: str
    email: str
    token: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def create_customers(
    db: Path, n: int, password: str = "bench-password-1", sessions: bool = True, first_id: int = 1_000_000
) -> list[Customer]:
    """Create `n` customers in the database (before the server starts), with the
    project's own store and password hashing: one argon2 hash, reused by every
    user. With `sessions`, also a session per customer, stored the way
    Auth.login stores it (the SHA-256 of a random token), which skips argon2 at
    login; the tokens come back in the result."""
    from chatbot.auth import hash_password, hash_token
    from chatbot.store import Store

    store = Store(db)
    await store.open()
    try:
        for brand in BRANDS:
            await store.upsert_brand(brand, brand)
        password_hash = hash_password(password)
        now = datetime.now(UTC)
        stamp, expires = _iso(now), _iso(now + timedelta(days=2))
        customers = [
            Customer(first_id + i, BRANDS[i % len(BRANDS)], f"bench{i}@example.test", secrets.token_urlsafe(32))
            for i in range(n)
        ]
        for start in range(0, n, 5000):
            chunk = customers[start : start + 5000]
            await store.insert_rows(
                "users",
                [
                    {
                        "id": c.user_id,
                        "brand": c.brand,
                        "email": c.email,
                        "name": f"Bench Customer {c.user_id}",
                        "role": "customer",
                        "password_hash": password_hash,
                        "created_at": stamp,
                        "password_changed_at": stamp,
                    }
                    for c in chunk
                ],
            )
            if sessions:
                await store.insert_rows(
                    "sessions",
                    [
                        {
                            "token_hash": hash_token(c.token),
                            "user_id": c.user_id,
                            "created_at": stamp,
                            "expires_at": expires,
                        }
                        for c in chunk
                    ],
                )
    finally:
        await store.close()
    return customers


async def login_all(
    base_url: str,
    customers: list[Customer],
    password: str = "bench-password-1",
    concurrency: int = 4,
    per_address: int = 15,
) -> dict[str, Any]:
    """Log customers in through POST /api/login (argon2 on the server), with
    bounded concurrency; fills in their tokens. Returns rate and latency.

    The server limits login attempts per client address (a burst of 20), so
    each group of `per_address` customers comes from its own loopback address
    (127.0.1.x: all of 127.0.0.0/8 is loopback on Linux), as customers on
    their own machines would."""
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: collections.Counter = collections.Counter()

    async def one(session: aiohttp.ClientSession, c: Customer) -> None:
        async with sem:
            t0 = perf()
            try:
                async with session.post(
                    f"{base_url}/api/login", json={"brand": c.brand, "email": c.email, "password": password}
                ) as r:
                    body = await r.json()
                    if r.status == 200:
                        c.token = body["token"]
                        latencies.append(perf() - t0)
                    else:
                        errors[f"http_{r.status}"] += 1
            except Exception as e:  # noqa: BLE001 - counted, not raised
                errors[type(e).__name__] += 1

    groups = [customers[i : i + per_address] for i in range(0, len(customers), per_address)]
    sessions = [
        aiohttp.ClientSession(
            trust_env=False,
            connector=aiohttp.TCPConnector(limit=concurrency, local_addr=(f"127.0.{1 + g // 250}.{2 + g % 250}", 0)),
        )
        for g in range(len(groups))
    ]
    started = perf()
    try:
        await asyncio.gather(*(one(sessions[g], c) for g, group in enumerate(groups) for c in group))
    finally:
        for session in sessions:
            await session.close()
    elapsed = perf() - started
    return {
        "logins": len(latencies),
        "seconds": round(elapsed, 3),
        "per_second": round(len(latencies) / elapsed, 1) if elapsed else None,
        "latency_ms": summary_ms(latencies),
        "errors": dict(errors),
        "concurrency": concurrency,
    }


# -- one connection ---------------------------------------------------------------------------------


class Sent:
    __slots__ = ("t_send", "t_ack", "t_reply", "acks", "replies", "round")

    def __init__(self, t_send: float, rnd: Round) -> None:
        self.t_send = t_send
        self.t_ack = 0.0
        self.t_reply = 0.0
        self.acks = 0
        self.replies = 0
        self.round = rnd


@dataclass
class Round:
    """What happened to the messages of one chat round."""

    name: str
    sent: list[Sent] = field(default_factory=list)
    errors: collections.Counter = field(default_factory=collections.Counter)
    unexpected_replies: int = 0
    followups: int = 0
    system_messages: int = 0
    handoff_events: int = 0
    send_lag: list[float] = field(default_factory=list)
    complete: int = 0  # messages with both their ack and their reply

    def outstanding(self) -> int:
        return len(self.sent) - self.complete


class Conn(asyncio.Protocol):
    """One customer's connection: a minimal RFC 6455 client (handshake, masked
    text frames out, unmasked frames in, fragments, ping/close control frames,
    optional permessage-deflate as browsers offer it) carrying Engine.IO v4
    and Socket.IO v5 packets. Everything happens in data_received: no task
    per connection, no future per frame."""

    def __init__(self, gen: LoadGen, index: int, customer: Customer) -> None:
        self.gen = gen
        self.index = index
        self.customer = customer
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.ws_key = ""
        self.inflate = None  # zlib decompressor when permessage-deflate was agreed
        self.inflate_reset = False  # server_no_context_takeover
        self.fragments: list[bytes] = []
        self.fragment_compressed = False
        self.fragment_opcode = 1
        self.inflate_bits = 15
        self.next_ack = 0
        self.stale = 0
        self.acks: dict[int, Sent] = {}
        self.pending: collections.deque[Sent] = collections.deque()
        self.connected = False
        self.closed = False
        self.refused: str | None = None
        self.t_start = self.t_connected = self.t_conversation = 0.0
        self.ready: asyncio.Future | None = None

    # -- the WebSocket layer --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ws_key = base64.b64encode(os.urandom(16)).decode()
        host = f"{self.gen.host}:{self.gen.port}"
        extension = (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if self.gen.deflate else ""
        )
        transport.write(
            (
                f"GET {self.gen.path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.ws_key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{extension}\r\n"
            ).encode()
        )  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            if not self.gen.closing:
                self.gen.drops += 1
        self.connected = False
        if self.ready and not self.ready.done():
            self.ready.set_result(False)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self._check_upgrade(bytes(buf[:end]).decode("latin-1")):
                self.gen.errors["ws_handshake"] += 1
                self.transport.close()
                return
            del buf[: end + 4]
            self.upgraded = True
        now = perf()
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                head = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                head = 10
            if b1 & 0x80:  # a server must not mask
                self.gen.errors["ws_masked_by_server"] += 1
                self.transport.close()
                return
            if len(buf) < head + length:
                return
            payload = bytes(buf[head : head + length])
            del buf[: head + length]
            self._on_ws_frame(b0, payload, now)

    def _check_upgrade(self, head: str) -> bool:
        lines = head.split("\r\n")
        if " 101 " not in lines[0] + " ":
            return False
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(
            hashlib.sha1((self.ws_key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        if headers.get("sec-websocket-accept") != accept:
            return False
        ext = headers.get("sec-websocket-extensions", "")
        if ext.startswith("permessage-deflate"):
            params = {p.strip().split("=")[0]: p.strip().partition("=")[2] for p in ext.split(";")[1:]}
            bits = int(params.get("server_max_window_bits") or 15)
            self.inflate = zlib.decompressobj(-bits)
            self.inflate_reset = "server_no_context_takeover" in params
            self.inflate_bits = bits
        return True

    def _on_ws_frame(self, b0: int, payload: bytes, now: float) -> None:
        opcode = b0 & 0x0F
        if opcode >= 8:  # control frames
            if opcode == 9:
                self._write_frame(0xA, payload)
            elif opcode == 8:
                if not self.gen.closing:
                    self.gen.errors["ws_close_by_server"] += 1
                self.transport.close()
            return
        if opcode != 0:
            self.fragments = [payload]
            self.fragment_opcode = opcode
            self.fragment_compressed = bool(b0 & 0x40)
        else:
            self.fragments.append(payload)
        if not b0 & 0x80:  # more fragments to come
            return
        message = b"".join(self.fragments) if len(self.fragments) > 1 else self.fragments[0]
        self.fragments = []
        if self.fragment_compressed:
            if self.inflate is None:
                self.gen.errors["ws_unexpected_compression"] += 1
                return
            message = self.inflate.decompress(message + b"\x00\x00\xff\xff")
            if self.inflate_reset:
                self.inflate = zlib.decompressobj(-self.inflate_bits)
        if self.fragment_opcode != 1:
            self.gen.errors["binary_frame"] += 1
            return
        try:
            self.on_packet(message.decode(), now)
        except Exception as e:  # noqa: BLE001 - a bad packet is an error, not a crash
            self.gen.errors[f"packet_{type(e).__name__}"] += 1

    def _write_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        key = os.urandom(4)
        mask = (key * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little")
        self.transport.write(head + key + masked)

    def send_text(self, text: str) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionError("closed")
        self._write_frame(0x1, text.encode())

    # -- Engine.IO and Socket.IO ----------------------------------------------------------------------

    def on_packet(self, raw: str, now: float) -> None:
        gen = self.gen
        kind = raw[:1]
        if kind == "4":
            self._on_socketio(raw, now)
        elif kind == "2":  # Engine.IO ping
            gen.pings += 1
            self.send_text("3")
        elif kind == "0":  # Engine.IO open: join the namespace
            self.send_text(f"40{NAMESPACE}," + json.dumps({"token": self.customer.token}))
        elif kind == "1":
            gen.errors["engineio_close"] += 1
        elif kind not in ("3", "6"):
            gen.errors["unknown_packet"] += 1

    def _on_socketio(self, raw: str, now: float) -> None:
        gen = self.gen
        ptype = raw[1:2]
        rest = raw[2:]
        if rest.startswith("/"):
            comma = rest.find(",")
            namespace, rest = (rest, "") if comma < 0 else (rest[:comma], rest[comma + 1 :])
            if namespace != NAMESPACE:
                gen.errors["other_namespace"] += 1
                return
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        if ptype == "2":  # EVENT
            event, *args = json.loads(rest[i:])
            self._on_event(event, args[0] if args else None, now)
        elif ptype == "3":  # ACK
            sent = self.acks.pop(int(rest[:i]) if i else -1, None)
            if sent is None:
                gen.errors["unknown_or_repeated_ack"] += 1
                return
            body = json.loads(rest[i:])
            answer = body[0] if body else None
            sent.acks += 1
            sent.t_ack = now
            if sent.replies:
                sent.round.complete += 1
            if not (isinstance(answer, dict) and answer.get("ok")):
                sent.round.errors[f"ack_{(answer or {}).get('error', 'bad')}"] += 1
        elif ptype == "0":  # CONNECT accepted
            self.connected = True
            self.t_connected = now
            if self.ready and not self.ready.done():
                self.ready.set_result(True)
        elif ptype == "4":  # CONNECT refused: connect_error
            self.refused = (json.loads(rest) or {}).get("message", "refused") if rest else "refused"
            if self.ready and not self.ready.done():
                self.ready.set_result(False)
        elif ptype == "1":  # DISCONNECT from the namespace
            self.connected = False
            gen.errors["namespace_disconnect"] += 1
        else:
            gen.errors[f"socketio_type_{ptype}"] += 1

    def _on_event(self, event: str, data: Any, now: float) -> None:
        gen = self.gen
        if event == "message":
            sender = (data or {}).get("sender", {}).get("type")
            if sender == "bot":
                if data.get("intent") == "leave_message" and str(data.get("text", "")).startswith(FOLLOWUP_PREFIX):
                    gen.current.followups += 1
                    return
                if not self.pending:
                    if self.stale:  # the reply to a message an earlier round gave up on
                        self.stale -= 1
                        gen.late_replies += 1
                    else:
                        gen.current.unexpected_replies += 1
                    return
                sent = self.pending.popleft()
                sent.replies += 1
                sent.t_reply = now
                if sent.acks:
                    sent.round.complete += 1
            elif sender == "system":
                gen.current.system_messages += 1
            else:
                gen.events["message_" + str(sender)] += 1
        elif event == "conversation":
            if not self.t_conversation:
                self.t_conversation = now
        elif event == "handoff":
            gen.current.handoff_events += 1
        else:
            gen.events[event] += 1

    def send_message(self, text: str, rnd: Round) -> None:
        self.next_ack += 1
        ack = self.next_ack
        payload = json.dumps({"client_id": f"{self.index}-{ack}-{self.gen.run_id}", "text": text})
        sent = Sent(perf(), rnd)
        self.acks[ack] = sent
        self.pending.append(sent)
        rnd.sent.append(sent)
        try:
            self.send_text(f'42{NAMESPACE},{ack}["message",{payload}]')
        except ConnectionError:
            rnd.errors["send_on_closed"] += 1

    def close(self) -> None:
        self.closed = True
        if self.transport and not self.transport.is_closing():
            try:
                self._write_frame(0x8, (1000).to_bytes(2, "big"))
            finally:
                self.transport.close()


# -- the generator ------------------------------------------------------------------------------------


class LoadGen:
    def __init__(
        self, url: str, customers: list[Customer], texts: dict[str, list[str]], *, deflate: bool = False, seed: int = 7
    ) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = "/socket.io/?EIO=4&transport=websocket"
        self.customers = customers
        self.texts = texts
        self.deflate = deflate
        self.rng = random.Random(seed)
        self.run_id = secrets.token_hex(3)
        self.conns: list[Conn] = []
        self.errors: collections.Counter = collections.Counter()
        self.events: collections.Counter = collections.Counter()
        self.drops = 0
        self.pings = 0
        self.late_replies = 0
        self.closing = False
        self.current = Round("idle")
        self.loop = asyncio.get_running_loop()

    async def _open(self, conn: Conn, timeout: float) -> bool:
        conn.t_start = perf()
        conn.ready = self.loop.create_future()
        try:
            await asyncio.wait_for(self.loop.create_connection(lambda: conn, self.host, self.port), timeout)
            ok = await asyncio.wait_for(asyncio.shield(conn.ready), timeout)
        except Exception as e:  # noqa: BLE001 - counted
            self.errors[f"connect_{type(e).__name__}"] += 1
            conn.close()
            return False
        if not ok:
            self.errors[f"connect_refused_{conn.refused}" if conn.refused else "connect_closed"] += 1
        return ok

    async def connect_all(self, n: int | None = None, concurrency: int = 64, timeout: float = 30.0) -> dict[str, Any]:
        """Open (more) connections until `n` customers are connected; bounded concurrency."""
        n = len(self.customers) if n is None else n
        start_index = len(self.conns)
        new = [Conn(self, i, self.customers[i]) for i in range(start_index, n)]
        self.conns.extend(new)
        sem = asyncio.Semaphore(concurrency)

        async def one(c: Conn) -> bool:
            async with sem:
                return await self._open(c, timeout)

        started = perf()
        cpu0 = own_cpu_seconds()
        results = await asyncio.gather(*(one(c) for c in new))
        elapsed = perf() - started
        ok = sum(results)
        times = [c.t_connected - c.t_start for c in new if c.connected]
        firsts = [c.t_conversation - c.t_start for c in new if c.t_conversation]
        return {
            "requested": len(new),
            "connected": ok,
            "failed": len(new) - ok,
            "seconds": round(elapsed, 3),
            "per_second": round(ok / elapsed, 1) if elapsed else None,
            "connect_ms": summary_ms(times),
            "conversation_event_ms": summary_ms(firsts),
            "generator_cpu_seconds": round(own_cpu_seconds() - cpu0, 3),
            "concurrency": concurrency,
        }

    def connected(self) -> int:
        return sum(1 for c in self.conns if c.connected and not c.closed)

    async def wait_conversations(self, timeout: float = 10.0) -> int:
        """Wait for the `conversation` event on every connection (sent right after connecting)."""
        deadline = perf() + timeout
        while perf() < deadline:
            missing = sum(1 for c in self.conns if c.connected and not c.t_conversation)
            if not missing:
                break
            await asyncio.sleep(0.05)
        return sum(1 for c in self.conns if c.t_conversation)

    async def chat(
        self, rate: float, seconds: float, share: float = 1.0, grace: float = 10.0, name: str | None = None
    ) -> dict[str, Any]:
        """Open loop: `rate` messages a second for `seconds`, spread round-robin
        over a `share` of the connected customers; sends never wait for replies.
        Then up to `grace` seconds for the last acks and replies."""
        live = [c for c in self.conns if c.connected and not c.closed]
        chatters = live[: max(1, int(len(live) * share))]
        self.rng.shuffle(chatters)
        rnd = Round(name or f"{rate:g}/s")
        self.current = rnd
        total = int(rate * seconds)
        drops0, errors0 = self.drops, sum(self.errors.values())
        texts = {b: t for b, t in self.texts.items()}
        fallback_texts = [t for ts in texts.values() for t in ts]
        cpu0 = own_cpu_seconds()
        started = perf()
        k = 0
        while k < total:
            now = perf()
            due = min(total, int((now - started) * rate) + 1)
            while k < due:
                c = chatters[k % len(chatters)]
                intended = started + k / rate
                if not c.closed:
                    choices = texts.get(c.customer.brand) or fallback_texts
                    c.send_message(self.rng.choice(choices), rnd)
                    rnd.send_lag.append(perf() - intended)
                else:
                    rnd.errors["chatter_gone"] += 1
                k += 1
            delay = started + k / rate - perf()
            if delay > 0:
                await asyncio.sleep(delay)
        send_seconds = perf() - started
        deadline = perf() + grace
        while rnd.outstanding() and perf() < deadline:
            await asyncio.sleep(0.02)
        drain_seconds = perf() - started - send_seconds
        for c in chatters:  # what never came back is lost; do not match later replies to it
            if c.pending:
                kept = collections.deque(s for s in c.pending if s.round is not rnd)
                c.stale += len(c.pending) - len(kept)
                c.pending = kept
        cpu = own_cpu_seconds() - cpu0
        return self.report(
            rnd,
            rate,
            send_seconds,
            drain_seconds,
            len(chatters),
            cpu,
            drops=self.drops - drops0,
            conn_errors=sum(self.errors.values()) - errors0,
        )

    def report(
        self,
        rnd: Round,
        rate: float,
        send_seconds: float,
        drain_seconds: float,
        chatters: int,
        cpu: float,
        drops: int,
        conn_errors: int,
    ) -> dict[str, Any]:
        replies = [s.t_reply - s.t_send for s in rnd.sent if s.replies]
        acks = [s.t_ack - s.t_send for s in rnd.sent if s.acks]
        no_ack = sum(1 for s in rnd.sent if s.acks == 0)
        no_reply = sum(1 for s in rnd.sent if s.replies == 0)
        lost = sum(1 for s in rnd.sent if s.acks != 1 or s.replies != 1)
        errors = dict(rnd.errors)
        return {
            "name": rnd.name,
            "target_rate": rate,
            "chatters": chatters,
            "sent": len(rnd.sent),
            "achieved_rate": round(len(rnd.sent) / send_seconds, 1) if send_seconds else None,
            "replies_per_second": round(len(replies) / (send_seconds + drain_seconds), 1),
            "reply_ms": summary_ms(replies),
            "ack_ms": summary_ms(acks),
            "send_lag_ms": summary_ms(rnd.send_lag),
            "lost": lost,
            "no_ack": no_ack,
            "no_reply": no_reply,
            "errors": sum(errors.values()) + rnd.unexpected_replies + conn_errors,
            "error_kinds": errors,
            "unexpected_replies": rnd.unexpected_replies,
            "followups": rnd.followups,
            "system_messages": rnd.system_messages,
            "handoff_events": rnd.handoff_events,
            "drops": drops,
            "send_seconds": round(send_seconds, 3),
            "drain_seconds": round(drain_seconds, 3),
            "generator_cpu_seconds": round(cpu, 3),
            "generator_cpu_share": round(cpu / (send_seconds + drain_seconds), 3),
        }

    async def hold(self, seconds: float, progress: Any = None) -> dict[str, Any]:
        """Keep every connection open (answering pings) and count drops."""
        drops0, pings0 = self.drops, self.pings
        cpu0 = own_cpu_seconds()
        started = perf()
        lowest = self.connected()
        while perf() - started < seconds:
            await asyncio.sleep(min(1.0, max(0.0, seconds - (perf() - started))))
            lowest = min(lowest, self.connected())
            if progress:
                progress(perf() - started, self.connected())
        elapsed = perf() - started
        return {
            "seconds": round(elapsed, 1),
            "connected_at_end": self.connected(),
            "lowest_connected": lowest,
            "drops": self.drops - drops0,
            "pings_answered": self.pings - pings0,
            "generator_cpu_share": round((own_cpu_seconds() - cpu0) / elapsed, 3),
        }

    async def close(self) -> None:
        self.closing = True
        for i, c in enumerate(self.conns):
            c.close()
            if i % 500 == 499:
                await asyncio.sleep(0)
        await asyncio.sleep(0.2)


def use_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


# -- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="http://HOST:PORT of a running server")
    p.add_argument(
        "--tokens",
        type=Path,
        help="file of `brand token` lines; without it, random tokens (for bench/echo_server.py, which accepts any)",
    )
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--rate", type=float, default=500, help="customer messages per second (open loop)")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--share", type=float, default=1.0, help="share of connected customers who chat")
    p.add_argument("--hold", type=float, default=0, help="then hold the connections idle this long")
    p.add_argument("--deflate", action="store_true", help="offer permessage-deflate, as browsers do")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    loop_kind = use_uvloop()

    async def run() -> dict[str, Any]:
        if args.tokens:
            customers = []
            for i, line in enumerate(args.tokens.read_text().split("\n")):
                if line.strip():
                    brand, token = line.split()
                    customers.append(Customer(i, brand, "", token))
        else:
            customers = [Customer(i, BRANDS[i % 2], "", secrets.token_urlsafe(32)) for i in range(args.connections)]
        gen = LoadGen(args.url, customers[: args.connections], load_texts(), deflate=args.deflate)
        out: dict[str, Any] = {"loop": loop_kind}
        out["connect"] = await gen.connect_all()
        await gen.wait_conversations()
        if args.rate > 0 and args.seconds > 0:
            out["chat"] = await gen.chat(args.rate, args.seconds, args.share)
        if args.hold:
            out["hold"] = await gen.hold(args.hold)
        out["errors"] = dict(gen.errors)
        await gen.close()
        return out

    out = asyncio.run(run())
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
