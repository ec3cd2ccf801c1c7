"""Replay a day of handoffs against the real queue code and print the service
level reached for each staffing (a script, not a test).

    .venv/bin/python bench/simulate_day.py                      # cltiktok, 1 to 4 agents
    .venv/bin/python bench/simulate_day.py --agents 2 --cap 1   # compare with Erlang C
    .venv/bin/python bench/simulate_day.py --per-day 200 --patience 0

What runs is the product's own `chatbot.handoff.HandoffDesk` on a real Store
(a temporary SQLite file), the brand's settings from the repository's intents
(`chatbot.knowledge.Knowledge`) and a `ManualClock`: the clock jumps from one
event to the next instead of sleeping, and `desk.tick()` runs at every moment a
timer can fire (the target, the breach, a customer's grace), so a day takes a
few seconds.

The day: handoffs arrive during the brand's opening hours as a Poisson process
whose rate follows a daily curve (quiet at opening, a late-morning peak, an
after-lunch peak, quiet before closing). Every arrival is a new customer who
asks for a person (`desk.request`). Agents are online all day
(`desk.agent_connected`); the desk assigns chats to the least-busy agent under
the cap, exactly as in production. An agent sends a first reply after a short
think time (`desk.agent_message`, which stops the first-response clock) and
resolves the chat after the handle time (`desk.resolve`). Customers who are not
answered within their patience leave (`desk.customer_disconnected`) and count
as abandoned once the desk's grace period runs out; at the breach, a share of
those still waiting take the offer to continue by email (`desk.customer_wrote`,
which turns the chat into a ticket). The figures at the end are `desk.stats()`,
the same code the supervisor view calls.

Every staffing replays the same arrivals (same seed), so the rows differ only
by the number of agents.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import itertools
import math
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chatbot.auth import User
from chatbot.clock import ManualClock, isoformat, parse_iso
from chatbot.errors import ChatbotError
from chatbot.handoff import HandoffDesk, erlang, percentile
from chatbot.handoff.hours import Hours
from chatbot.knowledge import Knowledge
from chatbot.store import Store

# Relative arrival rate over the opening hours, sampled at even points and
# interpolated: quiet at opening, peaks late morning and mid-afternoon.
DAILY_CURVE = [0.55, 0.85, 1.15, 1.30, 1.05, 1.15, 1.25, 1.00, 0.70]


# ------------------------------------------------------------------ the day --


@dataclass
class Arrival:
    at: datetime
    think: float  # seconds from assignment to the first reply
    handle: float  # seconds from assignment to resolution
    patience: float  # seconds the customer waits for a first reply (inf: forever)
    takes_email: bool  # at the breach, accepts to continue by email


def rate_curve(hours: int) -> list[float]:
    """Relative rate for each opening hour (mean 1), from DAILY_CURVE."""
    points = DAILY_CURVE
    values = []
    for h in range(hours):
        x = (h + 0.5) / hours * (len(points) - 1)
        i = min(int(x), len(points) - 2)
        values.append(points[i] + (points[i + 1] - points[i]) * (x - i))
    mean = sum(values) / len(values)
    return [v / mean for v in values]


def lognormal(rng: random.Random, mean: float, sigma: float) -> float:
    """A lognormal draw with the given mean (not median); 0 for a mean of 0."""
    if mean <= 0:
        return 0.0
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def make_day(
    args: argparse.Namespace, opens: datetime, hours: int, mean_handle: float
) -> tuple[list[Arrival], list[float]]:
    rng = random.Random(args.seed)
    rates = [args.per_day / hours * r for r in rate_curve(hours)]
    arrivals: list[Arrival] = []
    for h, rate in enumerate(rates):
        t = 0.0
        while True:
            t += rng.expovariate(rate / 3600)
            if t >= 3600:
                break
            handle = (
                rng.expovariate(1 / mean_handle)
                if args.handle_dist == "exponential"
                else lognormal(rng, mean_handle, args.handle_sigma)
            )
            think = lognormal(rng, args.think, 0.5)
            patience = rng.expovariate(1 / args.patience) if args.patience > 0 else math.inf
            arrivals.append(
                Arrival(
                    opens + timedelta(seconds=h * 3600 + t),
                    think,
                    max(handle, think + 5),
                    patience,
                    rng.random() < args.email_share,
                )
            )
    return arrivals, rates


# --------------------------------------------------------- the simulation --


class Recorder:
    """The desk's Events: records what would go to sockets, and tells the
    simulation when an agent is given a chat."""

    def __init__(self) -> None:
        self.on_assigned: Callable[[int, int], None] = lambda agent_id, conversation_id: None
        self.counts: dict[str, int] = {}
        self.max_queue = 0

    def _count(self, event: str) -> None:
        self.counts[event] = self.counts.get(event, 0) + 1

    async def to_customer(self, conversation_id: int, event: str, data: Any) -> None:
        self._count("customer:" + event)

    async def to_conversation(self, conversation_id: int, event: str, data: Any) -> None:
        self._count("conversation:" + event)

    async def to_agents(self, brand: str, event: str, data: Any) -> None:
        self._count("agents:" + event)
        if event == "queue":
            self.max_queue = max(self.max_queue, len(data["items"]))

    async def to_agent(self, agent_id: int, event: str, data: Any) -> None:
        self._count("agent:" + event)
        if event == "assigned":
            self.on_assigned(agent_id, data["conversation"]["id"])

    async def agent_holds(self, agent_id: int, conversation_id: int, holds: bool) -> None:
        pass


@dataclass(order=True)
class Event:
    at: datetime
    seq: int
    action: Callable[[], Awaitable[None]] = field(compare=False)


class Simulation:
    def __init__(
        self,
        knowledge: Knowledge,
        brand: str,
        agents: int,
        arrivals: list[Arrival],
        start: datetime,
        workdir: Path,
        multitask: float = 0.0,
    ) -> None:
        self.knowledge = knowledge
        self.brand = brand
        self.n_agents = agents
        self.arrivals = arrivals
        self.clock = ManualClock(start)
        self.store = Store(workdir / f"sim-{agents}.db", synchronous="OFF")
        self.events = Recorder()
        self.events.on_assigned = self._assigned
        self.desk = HandoffDesk(self.store, self.clock, knowledge, self.events)
        self.levels = knowledge.brand(brand).settings.service_levels
        self.heap: list[Event] = []
        self.seq = itertools.count()
        self.agents: dict[int, User] = {}
        self.customers: dict[int, tuple[User, Arrival]] = {}  # conversation id -> (customer, arrival)
        self.answered: set[int] = set()
        self.left: set[int] = set()
        self.assignments: dict[int, int] = {}  # conversation id -> assignment number
        self.holding: dict[int, set[int]] = {}  # agent id -> conversations in hand
        self.multitask = multitask

    def at(self, moment: datetime, action: Callable[[], Awaitable[None]]) -> None:
        heapq.heappush(self.heap, Event(moment, next(self.seq), action))

    def later(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        self.at(self.clock.now() + timedelta(seconds=seconds), action)

    async def _user(self, role: str, name: str, email: str) -> User:
        user_id = await self.store.create_user(
            {
                "brand": self.brand,
                "email": email,
                "name": name,
                "role": role,
                "password_hash": "-",
                "created_at": isoformat(self.clock.now()),
            }
        )
        return User.from_row(await self.store.user(user_id))

    async def setup(self) -> None:
        await self.store.open()
        for brand_id, brand in self.knowledge.brands.items():
            await self.store.upsert_brand(brand_id, brand.settings.name)
        for i in range(1, self.n_agents + 1):
            agent = await self._user("agent", f"Agent {i}", f"agent{i}@sim.example")
            self.agents[agent.id] = agent
            await self.desk.agent_connected(agent)
        for n, arrival in enumerate(self.arrivals):
            self.at(arrival.at, lambda n=n, a=arrival: self._arrive(n, a))

    # -- what happens ---------------------------------------------------------------------

    async def _tick(self) -> None:
        await self.desk.tick()

    async def _arrive(self, n: int, arrival: Arrival) -> None:
        customer = await self._user("customer", f"Customer {n}", f"c{n}@sim.example")
        conversation = await self.store.open_conversation(self.brand, customer.id, self.clock.now())
        cid = conversation["id"]
        await self.store.add_message(
            cid,
            sender_type="customer",
            sender_name=customer.name,
            sender_id=customer.id,
            text="I want to talk to a person",
            client_id=f"sim-{n}",
            now=self.clock.now(),
        )
        self.customers[cid] = (customer, arrival)
        await self.desk.customer_connected(cid)
        # the desk's timers: flagged at the target, breached (with the email offer) at the breach
        self.later(self.levels.first_response_target_seconds, self._tick)
        self.later(self.levels.first_response_breach_seconds, self._tick)
        if arrival.takes_email:
            self.later(self.levels.first_response_breach_seconds + 20, lambda: self._email(cid))
        if math.isfinite(arrival.patience):
            self.later(arrival.patience, lambda: self._leave(cid))
        await self.desk.request(customer, cid, reason="human_agent", intent="human_agent", confidence=0.97)

    def _assigned(self, agent_id: int, conversation_id: int) -> None:
        number = self.assignments.get(conversation_id, 0) + 1
        self.assignments[conversation_id] = number
        _, arrival = self.customers[conversation_id]
        agent = self.agents[agent_id]
        held = self.holding.setdefault(agent_id, set())
        held.add(conversation_id)
        # an agent with other chats open is slower on each
        slower = 1 + self.multitask * (len(held) - 1)
        think, handle = arrival.think * slower, arrival.handle * slower

        async def first_reply() -> None:
            if self.assignments.get(conversation_id) != number:
                return
            try:
                await self.desk.agent_message(
                    agent, conversation_id, f"sim-{conversation_id}-{number}", "Hi, I'm looking into it now."
                )
                self.answered.add(conversation_id)
            except ChatbotError:
                pass  # the chat went elsewhere meanwhile (a ticket)

        async def resolve() -> None:
            held.discard(conversation_id)
            if self.assignments.get(conversation_id) != number:
                return
            with contextlib.suppress(ChatbotError):  # a ticket meanwhile
                await self.desk.resolve(agent, conversation_id)

        self.later(think, first_reply)
        self.later(handle, resolve)

    async def _leave(self, conversation_id: int) -> None:
        handoff = await self.store.live_handoff(conversation_id)
        if handoff and handoff["state"] == "queued" and not handoff["first_response_at"]:
            self.left.add(conversation_id)
            await self.desk.customer_disconnected(conversation_id)
            self.later(self.levels.customer_grace_seconds, self._tick)

    async def _email(self, conversation_id: int) -> None:
        if conversation_id in self.left:
            return
        customer, _ = self.customers[conversation_id]
        await self.desk.customer_wrote(customer, conversation_id, "Continue by email")

    # -- the run ----------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        await self.setup()
        while self.heap:
            event = heapq.heappop(self.heap)
            if event.at > self.clock.now():
                self.clock.set(event.at)
            await event.action()
        await self.desk.tick()
        stats = await self.desk.stats(self.brand, window_hours=24)
        handoffs = await self.store.handoffs_since(self.brand, self.clock.now() - timedelta(hours=24))
        assign_waits = [
            (parse_iso(h["assigned_at"]) - parse_iso(h["queued_at"])).total_seconds()
            for h in handoffs
            if h["assigned_at"]
        ]
        stats["tickets"] = len(await self.store.tickets(self.brand))
        stats["max_queue"] = self.events.max_queue
        stats["p90_assign_wait"] = percentile(assign_waits, 0.9)
        stats["states"] = {s: sum(1 for h in handoffs if h["state"] == s) for s in {h["state"] for h in handoffs}}
        await self.store.close()
        return stats


# ------------------------------------------------------------------ output --


def fmt_share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def fmt_wait(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def erlang_prediction(agents: int, rates: list[float], handle: float) -> float:
    """Erlang C's share answered within 5 minutes over the day (weighted by
    arrivals), each agent taking one chat at a time: the model behind the
    supervisor view's "agents needed"."""
    weight = sum(rates)
    share = 0.0
    for rate in rates:
        load = rate * handle / 3600
        share += rate * erlang.service_level(agents, load, handle, 300)
    return share / weight if weight else 1.0


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--brand", default="cltiktok")
    parser.add_argument("--intents", type=Path, default=REPO / "intents")
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 2, 3, 4], help="staffings to compare")
    parser.add_argument("--cap", type=int, help="chats per agent (default: the brand's agent_chat_cap)")
    parser.add_argument("--per-day", type=float, default=200, help="handoffs a day, on average (default 200)")
    parser.add_argument(
        "--handle", type=float, help="mean handle time in seconds (default: the brand's mean_handle_seconds)"
    )
    parser.add_argument("--handle-dist", choices=["lognormal", "exponential"], default="lognormal")
    parser.add_argument("--handle-sigma", type=float, default=0.6, help="spread of the lognormal handle time")
    parser.add_argument("--think", type=float, default=30, help="mean seconds from assignment to the first reply")
    parser.add_argument(
        "--multitask",
        type=float,
        default=0.5,
        help="each other chat an agent holds makes think and handle time this much longer "
        "(0.5: a third chat doubles them; 0: no cost)",
    )
    parser.add_argument(
        "--patience",
        type=float,
        default=900,
        help="mean seconds a customer waits before leaving (exponential); 0: nobody leaves",
    )
    parser.add_argument(
        "--email-share",
        type=float,
        default=0.3,
        help="share of customers still waiting at the breach who take the email offer",
    )
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 1, 5), help="a working day")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    knowledge = Knowledge(args.intents)
    brand = knowledge.brand(args.brand)
    settings = brand.settings
    if args.cap is not None:
        settings.service_levels.agent_chat_cap = args.cap
    if args.handle is not None:
        settings.service_levels.mean_handle_seconds = int(args.handle)
    cap = settings.service_levels.agent_chat_cap
    handle = settings.service_levels.mean_handle_seconds
    hours = Hours(settings.hours)
    if args.day.isoweekday() not in hours.days:
        parser.error(f"{args.day} is not a working day of {args.brand} ({hours.describe()})")
    opens = datetime.combine(args.day, hours.opens, tzinfo=hours.zone).astimezone(UTC)
    closes = datetime.combine(args.day, hours.closes, tzinfo=hours.zone).astimezone(UTC)
    open_hours = max(1, math.ceil((closes - opens).total_seconds() / 3600))
    arrivals, rates = make_day(args, opens, open_hours, handle)
    arrivals = [a for a in arrivals if a.at < closes]
    per_hour = [sum(1 for a in arrivals if int((a.at - opens).total_seconds() // 3600) == h) for h in range(open_hours)]
    peak = max(range(open_hours), key=lambda h: rates[h])
    needed_peak = erlang.agents_needed(rates[peak], handle, 0.8, 300)
    needed_mean = erlang.agents_needed(sum(rates) / open_hours, handle, 0.8, 300)

    print(f"Simulated day: {args.brand}, {args.day:%A %Y-%m-%d}, live chat {hours.describe()}")
    print(
        f"Arrivals: {len(arrivals)} handoffs (Poisson, {args.per_day:g} a day on average; "
        f"peak {rates[peak]:.1f}/h at {hours.opens.hour + peak:02d}:00). Per hour: "
        + " ".join(str(n) for n in per_hour)
    )
    patience = f"exponential, mean {args.patience / 60:g} min" if args.patience else "unlimited"
    print(
        f"Handle time {args.handle_dist} with mean {handle} s; first reply {args.think:g} s after assignment "
        f"on average; patience {patience}; "
        f"{args.email_share:.0%} of those waiting at the breach take the email offer."
    )
    levels = settings.service_levels
    print(
        f"Desk settings: cap {cap} chats per agent, target {levels.first_response_target_seconds} s, "
        f"breach {levels.first_response_breach_seconds} s, customer grace {levels.customer_grace_seconds} s; "
        f"multitasking: each other open chat makes an agent {args.multitask:.0%} slower; seed {args.seed}."
    )
    print(
        f"Erlang C for 80% answered within 5 minutes (one chat at a time per agent): "
        f"{needed_peak} agents at the peak hour, {needed_mean} at the day's average rate."
    )
    print()
    header = (
        f"{'agents':>6} {'handoffs':>8} {'<=5 min':>8} {'<=10 min':>8} {'median':>7} {'p90':>6} "
        f"{'breaches':>8} {'abandoned':>9} {'tickets':>7} {'max queue':>9} {'resolved/agent':>14} "
        f"{'Erlang C <=5 min':>16}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="simulate-day-") as tmp:
        for n in args.agents:
            sim = Simulation(
                knowledge, args.brand, n, arrivals, opens - timedelta(minutes=5), Path(tmp), args.multitask
            )
            s = await sim.run()
            resolved = s["states"].get("resolved", 0)
            print(
                f"{n:>6} {s['handoffs']:>8} {fmt_share(s['answered_within_5_min']):>8} "
                f"{fmt_share(s['answered_within_10_min']):>8} {fmt_wait(s['median_wait_seconds']):>7} "
                f"{fmt_wait(s['p90_wait_seconds']):>6} {s['breaches']:>8} {s['abandoned']:>9} {s['tickets']:>7} "
                f"{s['max_queue']:>9} {resolved / n:>14.1f} "
                f"{fmt_share(erlang_prediction(n, rates, handle)):>16}"
            )
    print()
    print(
        "<=5 min, <=10 min: share of handoffs with a first human reply within 5 and 10 minutes, of those\n"
        "decided (answered, abandoned, ticketed, or waiting past the limit), as desk.stats() counts them;\n"
        "median and p90 are waits to the first human reply (m:ss), think time included.\n"
        "Erlang C <=5 min: the share Erlang C predicts for the same hourly arrival rates and mean handle\n"
        "time with one chat at a time per agent (the model behind the supervisor view's 'agents needed'),\n"
        "no abandonment and no think time. The desk lets an agent hold up to the cap at once."
    )
    print(f"\n({len(args.agents)} simulated days in {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
