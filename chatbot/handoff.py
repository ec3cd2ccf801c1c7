"""The human handoff: each brand's queue, assignment to agents, and the
first-response clock (shared/spec/service-levels.md).

Everything durable lives in the database (the `handoffs` table): the queue is
the live handoffs ordered by their original handoff time, so a restart, an
agent who drops or a release puts a conversation back exactly where it was.
Only who is connected right now (presence) is kept in memory.

Time comes from the injected clock; `tick()` applies the timers (target flag,
breach, agent grace, abandonment). The server calls it every second; tests
call it after moving the clock."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import erlang
from .auth import User
from .brands import Brand
from .wire import to_wire
from .clock import Clock, isoformat, parse_iso
from .errors import ChatbotError, Forbidden, NotFound
from .events import Events
from .hours import Hours
from .knowledge import Knowledge
from .store import Store

STATUSES = ("online", "away")


class AlreadyAssigned(ChatbotError):
    code, status = "already_assigned", 409


class NotAvailable(ChatbotError):
    code, status = "agent_not_available", 409


@dataclass
class Presence:
    user: User
    status: str = "online"
    sockets: int = 0
    dropped_at: datetime | None = None

    @property
    def available(self) -> bool:
        return self.status == "online" and self.sockets > 0


def _seconds(a: str | None, b: datetime | str | None) -> float | None:
    if not a or not b:
        return None
    end = parse_iso(b) if isinstance(b, str) else b
    return (end - parse_iso(a)).total_seconds()


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


class HandoffDesk:
    def __init__(self, store: Store, clock: Clock, knowledge: Knowledge, events: Events) -> None:
        self.store = store
        self.clock = clock
        self.knowledge = knowledge
        self.events = events
        self.presence: dict[int, Presence] = {}
        self.customer_sockets: dict[int, int] = {}     # conversation id → open customer tabs
        self.released_by: dict[int, set[int]] = {}     # conversation id → agents who gave it back

    async def recover(self) -> None:
        """On start-up. Who was connected was only in memory, so the time
        the server was away counts against nobody: each agent holding a chat
        is taken as dropped now (back within the grace period, they keep it;
        otherwise it goes to the front of the queue, as after any drop), and a
        customer who had left the queue gets the whole grace period again."""
        now = self.clock.now()
        for handoff in await self.store.live_handoffs():
            if handoff["state"] == "assigned" and handoff["assigned_agent_id"] not in self.presence:
                row = await self.store.user(handoff["assigned_agent_id"])
                if row:
                    self.presence[row["id"]] = Presence(User.from_row(row), dropped_at=now)
            elif handoff["state"] == "queued" and handoff["customer_left_at"]:
                await self.store.update_handoff(handoff["id"], customer_left_at=isoformat(now))

    # -- helpers -----------------------------------------------------------------------------

    def _brand(self, brand_id: str) -> Brand:
        return self.knowledge.brand(brand_id)

    def hours(self, brand_id: str) -> Hours:
        return Hours(self._brand(brand_id).settings.hours)

    def available_agents(self, brand_id: str) -> list[Presence]:
        return [p for p in self.presence.values() if p.user.brand == brand_id and p.available]

    async def _system(self, conversation_id: int, text: str, **meta: Any) -> dict[str, Any]:
        row, _ = await self.store.add_message(conversation_id, sender_type="system", sender_name="System",
                                              sender_id=None, text=text, now=self.clock.now(), meta=meta or None)
        message = to_wire(row)
        await self.events.to_conversation(conversation_id, "message", message)
        return message

    async def _loads(self, brand_id: str) -> dict[int, int]:
        loads: dict[int, int] = {}
        for handoff in await self.store.live_handoffs(brand_id):
            if handoff["state"] == "assigned":
                loads[handoff["assigned_agent_id"]] = loads.get(handoff["assigned_agent_id"], 0) + 1
        return loads

    def mean_handle_seconds(self, brand_id: str) -> float:
        return self._brand(brand_id).settings.service_levels.mean_handle_seconds

    async def estimate(self, brand_id: str, position: int, loads: dict[int, int] | None = None) -> int:
        """Seconds until the customer at `position` is likely picked up: free
        seats take the first ones at once; beyond that, chats end at a rate of
        (agents × cap) per handle time."""
        loads = loads if loads is not None else await self._loads(brand_id)
        cap = self._brand(brand_id).settings.service_levels.agent_chat_cap
        agents = self.available_agents(brand_id)
        free = sum(max(0, cap - loads.get(a.user.id, 0)) for a in agents)
        if position <= free:
            return 0
        seats = max(1, len(agents) * cap)
        return int(math.ceil((position - free) * self.mean_handle_seconds(brand_id) / seats))

    # -- the customer side --------------------------------------------------------------------

    async def request(self, user: User, conversation_id: int, *, reason: str, intent: str | None,
                      confidence: float | None) -> dict[str, Any]:
        """Hand the conversation to a person, or say honestly why not now.
        Returns the `handoff` event sent to the customer."""
        brand = self._brand(user.brand)
        now = self.clock.now()
        hours = Hours(brand.settings.hours)
        if not hours.is_open(now) or not self.available_agents(user.brand):
            return await self._offline(user, conversation_id, hours, now)
        handoff, created = await self.store.create_handoff(
            {"brand": user.brand, "conversation_id": conversation_id, "user_id": user.id, "reason": reason,
             "intent": intent, "confidence": confidence, "queued_at": isoformat(now)}, "queued")
        if created:
            await self._system(conversation_id, brand.say("handoff.queued"))
        await self.assign(user.brand)
        await self.broadcast(user.brand)
        return await self.customer_view(conversation_id)

    async def _offline(self, user: User, conversation_id: int, hours: Hours, now: datetime) -> dict[str, Any]:
        brand = self._brand(user.brand)
        contact = brand.settings.contact
        opens = hours.next_opening(now)   # `now` itself when open but nobody is online
        why = brand.say("handoff.outside_hours" if not hours.is_open(now) else "handoff.nobody_online")
        wait = opens - now
        parts = [brand.say("handoff.offline", why=why, hours=hours.describe())]
        if wait.total_seconds() > 3600:
            parts.append(brand.say("handoff.opens_again_in_hours", when=hours.local_text(opens),
                                   hours=round(wait.total_seconds() / 3600)))
        elif wait.total_seconds() > 0:
            parts.append(brand.say("handoff.opens_again", when=hours.local_text(opens)))
        parts.append(brand.say("handoff.leave_message", customer_email=user.email, email=contact.email,
                               reply_promise=contact.email_reply_promise))
        if contact.phone:
            parts.append(brand.say("handoff.phone", phone=contact.phone))
        await self._system(conversation_id, " ".join(parts))
        event = {"state": "offline", "opens_at": isoformat(opens), "email": contact.email}
        if contact.phone:
            event["phone"] = contact.phone
        await self.events.to_customer(conversation_id, "handoff", event)
        return event

    async def withdraw(self, user: User, conversation_id: int) -> bool:
        """The customer left the queue ("never mind", confirmed): counted as abandoned, back to the bot."""
        handoff = await self.store.live_handoff(conversation_id)
        if handoff is None or handoff["user_id"] != user.id:
            return False
        now = isoformat(self.clock.now())
        if not await self.store.move_handoff(handoff["id"], to="abandoned", from_states=("queued",),
                                             conversation_state="bot",
                                             fields={"abandoned_at": now, "ended_at": now}):
            return False
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed"})
        await self.broadcast(user.brand)
        return True

    async def leave_message(self, user: User, conversation_id: int, text: str) -> int:
        """A message left while the team was away becomes a ticket."""
        return await self._ticket(user, conversation_id, "offline_message", text)

    async def _ticket(self, user: User, conversation_id: int, kind: str, message: str) -> int:
        transcript = "\n".join(f"[{m['created_at']}] {m['sender_name']}: {m['text']}"
                               for m in await self.store.messages(conversation_id))
        return await self.store.create_ticket({
            "brand": user.brand, "conversation_id": conversation_id, "user_id": user.id, "email": user.email,
            "kind": kind, "message": message, "transcript": transcript, "status": "open",
            "created_at": isoformat(self.clock.now())})

    async def customer_view(self, conversation_id: int) -> dict[str, Any]:
        """The `handoff` event for the customer: where they stand now."""
        handoff = await self.store.live_handoff(conversation_id)
        if handoff is None:
            return {"state": "closed"}
        if handoff["state"] == "assigned":
            agent = await self.store.user(handoff["assigned_agent_id"])
            return {"state": "assigned", "agent": {"name": agent["name"] if agent else "Agent"}}
        queue = [h for h in await self.store.live_handoffs(handoff["brand"]) if h["state"] == "queued"]
        position = next(i for i, h in enumerate(queue, start=1) if h["id"] == handoff["id"])
        return {"state": "queued", "position": position, "eta_seconds": await self.estimate(handoff["brand"], position)}

    async def customer_wrote(self, user: User, conversation_id: int) -> None:
        """A customer message while a person is in charge: the queue's preview changes."""
        handoff = await self.store.live_handoff(conversation_id)
        if handoff and handoff["state"] == "queued":
            await self.events.to_agents(handoff["brand"], "queue", await self.queue(handoff["brand"]))  # new preview

    async def email_offer_open(self, conversation_id: int) -> bool:
        """Past the breach with no first reply: the customer was offered to continue by email."""
        handoff = await self.store.live_handoff(conversation_id)
        return bool(handoff and handoff["breached_at"] and not handoff["first_response_at"])

    async def continue_by_email(self, user: User, conversation_id: int, text: str) -> bool:
        """The customer took the breach offer: the conversation becomes a ticket, answered by email."""
        handoff = await self.store.live_handoff(conversation_id)
        if not handoff or not handoff["breached_at"] or handoff["first_response_at"]:
            return False
        if not await self.store.move_handoff(handoff["id"], to="ticket", from_states=("queued", "assigned"),
                                             conversation_state="closed",
                                             fields={"ended_at": isoformat(self.clock.now())}):
            return False
        if handoff["assigned_agent_id"]:
            await self._unassigned(handoff["assigned_agent_id"], conversation_id, "continued_by_email")
        ticket = await self._ticket(user, conversation_id, "breach_followup", text)
        brand = self._brand(user.brand)
        contact = brand.settings.contact
        await self._system(conversation_id, brand.say("handoff.ticket_opened", ticket=ticket,
                                                      customer_email=user.email, email=contact.email,
                                                      reply_promise=contact.email_reply_promise))
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed"})
        await self.broadcast(handoff["brand"])
        return True

    async def _unassigned(self, agent_id: int, conversation_id: int, reason: str) -> None:
        """The conversation left the agent without the agent doing it."""
        await self.events.agent_holds(agent_id, conversation_id, False)
        await self.events.to_agent(agent_id, "unassigned", {"conversation_id": conversation_id, "reason": reason})

    async def customer_connected(self, conversation_id: int) -> None:
        self.customer_sockets[conversation_id] = self.customer_sockets.get(conversation_id, 0) + 1
        handoff = await self.store.live_handoff(conversation_id)
        if handoff and handoff["customer_left_at"]:
            await self.store.update_handoff(handoff["id"], customer_left_at=None)

    async def customer_disconnected(self, conversation_id: int) -> None:
        left = self.customer_sockets.get(conversation_id, 1) - 1
        if left > 0:
            self.customer_sockets[conversation_id] = left
            return
        self.customer_sockets.pop(conversation_id, None)
        handoff = await self.store.live_handoff(conversation_id)
        if handoff and handoff["state"] == "queued":
            await self.store.update_handoff(handoff["id"], customer_left_at=isoformat(self.clock.now()))

    async def rate(self, user: User, conversation_id: int, rating: int) -> bool:
        handoff = await self.store.last_handoff(conversation_id)
        if not handoff or handoff["user_id"] != user.id or handoff["state"] != "resolved" or handoff["rating"]:
            return False
        await self.store.update_handoff(handoff["id"], rating=rating, rated_at=isoformat(self.clock.now()))
        return True

    # -- the agent side -----------------------------------------------------------------------

    async def agent_connected(self, agent: User, status: str | None = None) -> None:
        """`status`: what the console says it is in (a reconnecting console that
        was away), set before anything is assigned."""
        if status is not None and status not in STATUSES:
            raise ValueError(status)
        presence = self.presence.setdefault(agent.id, Presence(agent))
        presence.sockets += 1
        presence.dropped_at = None
        if status is not None:
            presence.status = status
        await self.assign(agent.brand)
        await self.broadcast(agent.brand)

    async def agent_disconnected(self, agent: User) -> None:
        presence = self.presence.get(agent.id)
        if not presence:
            return
        presence.sockets = max(0, presence.sockets - 1)
        if presence.sockets == 0:
            presence.dropped_at = self.clock.now()   # keeps their chats for the grace period (tick)
        await self.broadcast(agent.brand)

    async def set_status(self, agent: User, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(status)
        self.presence.setdefault(agent.id, Presence(agent)).status = status
        await self.assign(agent.brand)
        await self.broadcast(agent.brand)

    async def _held_by(self, agent: User, conversation_id: int) -> dict[str, Any]:
        handoff = await self.store.live_handoff(conversation_id)
        if not handoff or handoff["brand"] != agent.brand:
            raise NotFound("no such conversation waiting or open")
        if handoff["state"] != "assigned" or handoff["assigned_agent_id"] != agent.id:
            raise Forbidden("you don't hold this conversation")
        return handoff

    async def held_conversations(self, agent: User) -> list[int]:
        return [h["conversation_id"] for h in await self.store.live_handoffs(agent.brand)
                if h["state"] == "assigned" and h["assigned_agent_id"] == agent.id]

    async def check_holds(self, agent: User, conversation_id: int) -> None:
        """Raise unless the agent holds the conversation."""
        await self._held_by(agent, conversation_id)

    async def _joined(self, agent_id: int, handoff: dict[str, Any], notify_agent: bool) -> dict[str, Any]:
        conversation_id = handoff["conversation_id"]
        self.released_by.pop(conversation_id, None)
        agent = await self.store.user(agent_id)
        await self._system(conversation_id, self._brand(handoff["brand"]).say("handoff.agent_joined",
                                                                              agent=agent["name"]))
        await self.events.agent_holds(agent_id, conversation_id, True)
        view = await self.conversation_view(conversation_id)
        if notify_agent:
            await self.events.to_agent(agent_id, "assigned", {"conversation": view})
        await self.events.to_customer(conversation_id, "handoff", {"state": "assigned",
                                                                    "agent": {"name": agent["name"]}})
        return view

    async def assign(self, brand_id: str) -> None:
        """Give waiting conversations, oldest first, to the least-busy online
        agents under their cap."""
        cap = self._brand(brand_id).settings.service_levels.agent_chat_cap
        loads = await self._loads(brand_id)
        for handoff in [h for h in await self.store.live_handoffs(brand_id) if h["state"] == "queued"]:
            declined = self.released_by.get(handoff["conversation_id"], set())
            candidates = [a for a in self.available_agents(brand_id)
                          if loads.get(a.user.id, 0) < cap and a.user.id not in declined]
            if not candidates:
                continue
            agent = min(candidates, key=lambda a: (loads.get(a.user.id, 0), a.user.id))
            if await self.store.move_handoff(handoff["id"], to="assigned", from_states=("queued",),
                                             conversation_state="agent", agent_id=agent.user.id,
                                             fields={"assigned_at": isoformat(self.clock.now())}):
                loads[agent.user.id] = loads.get(agent.user.id, 0) + 1
                await self._joined(agent.user.id, handoff, notify_agent=True)

    async def accept(self, agent: User, conversation_id: int) -> dict[str, Any]:
        handoff = await self.store.live_handoff(conversation_id)
        if not handoff or handoff["brand"] != agent.brand:
            raise NotFound("no such conversation waiting")
        if handoff["state"] == "assigned":
            if handoff["assigned_agent_id"] == agent.id:
                return await self.conversation_view(conversation_id)
            raise AlreadyAssigned("another agent has taken this conversation")
        if not await self.store.move_handoff(handoff["id"], to="assigned", from_states=("queued",),
                                             conversation_state="agent", agent_id=agent.id,
                                             fields={"assigned_at": isoformat(self.clock.now())}):
            raise AlreadyAssigned("another agent has taken this conversation")
        view = await self._joined(agent.id, handoff, notify_agent=False)
        await self.broadcast(agent.brand)
        return view

    async def agent_message(self, agent: User, conversation_id: int, client_id: str,
                            text: str) -> tuple[dict[str, Any], bool]:
        handoff = await self._held_by(agent, conversation_id)
        now = self.clock.now()
        row, created = await self.store.add_message(conversation_id, sender_type="agent", sender_name=agent.name,
                                                    sender_id=agent.id, text=text, client_id=f"agent:{client_id}",
                                                    now=now)
        message = to_wire(row)
        if created:
            if not handoff["first_response_at"]:
                await self.store.update_handoff(handoff["id"], first_response_at=isoformat(now))
                await self.broadcast(agent.brand)
            await self.events.to_conversation(conversation_id, "message", message)
        return message, created

    async def release(self, agent: User, conversation_id: int) -> None:
        """Back to the queue, at the place its original handoff time gives it."""
        handoff = await self._held_by(agent, conversation_id)
        await self.store.move_handoff(handoff["id"], to="queued", from_states=("assigned",), agent_id=None,
                                      expect_agent=agent.id, conversation_state="queued",
                                      fields={"assigned_at": None})
        await self.events.agent_holds(agent.id, conversation_id, False)
        self.released_by.setdefault(conversation_id, set()).add(agent.id)
        await self._system(conversation_id, self._brand(agent.brand).say("handoff.released"))
        await self.assign(agent.brand)
        await self.broadcast(agent.brand)

    async def transfer(self, agent: User, conversation_id: int, to_agent_id: int) -> None:
        handoff = await self._held_by(agent, conversation_id)
        target = self.presence.get(to_agent_id)
        if not target or target.user.brand != agent.brand or not target.available or to_agent_id == agent.id:
            raise NotAvailable("that agent is not online")
        if not await self.store.move_handoff(handoff["id"], to="assigned", from_states=("assigned",),
                                             agent_id=to_agent_id, expect_agent=agent.id,
                                             fields={"assigned_at": isoformat(self.clock.now())}):
            raise AlreadyAssigned("the conversation changed hands meanwhile")
        await self.events.agent_holds(agent.id, conversation_id, False)
        await self._joined(to_agent_id, handoff, notify_agent=True)
        await self.broadcast(agent.brand)

    async def hand_back(self, agent: User, conversation_id: int) -> None:
        handoff = await self._held_by(agent, conversation_id)
        await self.store.move_handoff(handoff["id"], to="returned", from_states=("assigned",), agent_id=agent.id,
                                      expect_agent=agent.id, conversation_state="bot",
                                      fields={"ended_at": isoformat(self.clock.now())})
        await self.events.agent_holds(agent.id, conversation_id, False)
        await self._system(conversation_id, self._brand(agent.brand).say("handoff.back_to_bot"))
        # "closed" ends the person's part; back_to tells the widget the chat itself goes on
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed", "back_to": "bot"})
        await self.assign(agent.brand)
        await self.broadcast(agent.brand)

    async def resolve(self, agent: User, conversation_id: int) -> None:
        handoff = await self._held_by(agent, conversation_id)
        await self.store.move_handoff(handoff["id"], to="resolved", from_states=("assigned",), agent_id=agent.id,
                                      expect_agent=agent.id, conversation_state="closed",
                                      fields={"ended_at": isoformat(self.clock.now())})
        await self.events.agent_holds(agent.id, conversation_id, False)
        await self._system(conversation_id, self._brand(agent.brand).say("handoff.resolved", agent=agent.name),
                           quick_replies=["5", "4", "3", "2", "1"], rating_request=True)
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed"})
        await self.assign(agent.brand)
        await self.broadcast(agent.brand)

    async def add_note(self, agent: User, conversation_id: int, text: str) -> dict[str, Any]:
        await self._held_by(agent, conversation_id)
        note = await self.store.add_note({"conversation_id": conversation_id, "agent_id": agent.id,
                                          "agent_name": agent.name, "text": text,
                                          "created_at": isoformat(self.clock.now())})
        await self.events.to_agents(agent.brand, "note", note)
        return note

    # -- what agents see --------------------------------------------------------------------------

    async def conversation_view(self, conversation_id: int, after_seq: int | None = None) -> dict[str, Any]:
        """A conversation as the agent console shows it: transcript (or only the
        messages after `after_seq`), the intent that led to the handoff, the
        customer and their records."""
        conversation = await self.store.conversation(conversation_id)
        customer = await self.store.user(conversation["user_id"])
        handoff = await self.store.last_handoff(conversation_id)
        rows = (await self.store.messages(conversation_id, after_seq=after_seq) if after_seq is not None
                else await self.store.messages(conversation_id, limit=200))
        messages = [to_wire(m) for m in rows]
        # The kinds of record the brand keeps, for the roles that have them (brand.yaml rules.records).
        kept = self._brand(customer["brand"]).settings.rules.records
        records: dict[str, Any] = {}
        for table, roles in kept.items():
            if customer["role"] in roles:
                records[table] = await self._records_of(table, customer["id"])
        earlier = [{"id": c["id"], "state": c["state"], "created_at": c["created_at"]}
                   for c in await self.store.conversations_of(customer["id"]) if c["id"] != conversation_id]
        return {
            "id": conversation_id, "state": conversation["state"], "messages": messages,
            "replay_after_seq": after_seq,
            "customer": {"id": customer["id"], "name": customer["name"], "email": customer["email"],
                         "role": customer["role"]},
            "handoff": {k: handoff[k] for k in ("reason", "intent", "confidence", "queued_at", "first_response_at",
                                                "flagged_at", "breached_at")} if handoff else None,
            "records": records, "earlier_conversations": earlier,
            "notes": await self.store.notes(conversation_id),
        }

    async def _records_of(self, table: str, user_id: int) -> list[dict[str, Any]]:
        lookups = {"orders": self.store.orders_of, "purchases": self.store.purchases_of,
                   "refunds": self.store.refunds_of, "withdrawals": self.store.withdrawals_of}
        return await lookups[table](user_id)

    async def queue(self, brand_id: str) -> dict[str, Any]:
        now = self.clock.now()
        items = []
        for handoff in await self.store.live_handoffs(brand_id):
            if handoff["state"] != "queued":
                continue
            customer = await self.store.user(handoff["user_id"])
            last = [m for m in await self.store.messages(handoff["conversation_id"], limit=30)
                    if m["sender_type"] == "customer"]
            items.append({
                "conversation_id": handoff["conversation_id"], "customer": {"name": customer["name"]},
                "waited_seconds": int(_seconds(handoff["queued_at"], now) or 0), "queued_at": handoff["queued_at"],
                "reason": handoff["reason"], "intent": handoff["intent"], "confidence": handoff["confidence"],
                "preview": (last[-1]["text"][:140] if last else ""),
                "flagged": bool(handoff["flagged_at"]), "breached": bool(handoff["breached_at"]),
            })
        levels = self._brand(brand_id).settings.service_levels
        return {"items": items, "target_seconds": levels.first_response_target_seconds,
                "breach_seconds": levels.first_response_breach_seconds}

    async def team(self, brand_id: str) -> list[dict[str, Any]]:
        """The brand's agents who are connected, with their open chats (for transfers)."""
        loads = await self._loads(brand_id)
        return [{"id": p.user.id, "name": p.user.name, "status": p.status if p.sockets else "disconnected",
                 "open_chats": loads.get(p.user.id, 0)}
                for p in self.presence.values() if p.user.brand == brand_id]

    async def broadcast(self, brand_id: str) -> None:
        """Tell agents the queue, and every waiting customer their place and wait."""
        await self.events.to_agents(brand_id, "queue", await self.queue(brand_id))
        loads = await self._loads(brand_id)
        queued = [h for h in await self.store.live_handoffs(brand_id) if h["state"] == "queued"]
        for position, handoff in enumerate(queued, start=1):
            await self.events.to_customer(handoff["conversation_id"], "handoff", {
                "state": "queued", "position": position, "eta_seconds": await self.estimate(brand_id, position, loads)})

    # -- the clock ------------------------------------------------------------------------------

    async def tick(self) -> None:
        now = self.clock.now()
        for brand_id, brand in self.knowledge.brands.items():
            levels = brand.settings.service_levels
            changed = False
            for presence in [p for p in self.presence.values() if p.user.brand == brand_id]:
                if presence.dropped_at and (now - presence.dropped_at).total_seconds() >= levels.agent_grace_seconds:
                    changed |= await self._requeue_dropped(presence.user)
                    self.presence.pop(presence.user.id, None)
            for handoff in await self.store.live_handoffs(brand_id):
                waited = _seconds(handoff["queued_at"], now) or 0
                left = _seconds(handoff["customer_left_at"], now)
                if handoff["state"] == "queued" and left is not None and left >= levels.customer_grace_seconds:
                    await self.store.move_handoff(handoff["id"], to="abandoned", from_states=("queued",),
                                                  conversation_state="bot",
                                                  fields={"abandoned_at": isoformat(now), "ended_at": isoformat(now)})
                    changed = True
                    continue
                if handoff["first_response_at"]:
                    continue
                if waited >= levels.first_response_target_seconds and not handoff["flagged_at"]:
                    await self.store.update_handoff(handoff["id"], flagged_at=isoformat(now))
                    changed = True
                if waited >= levels.first_response_breach_seconds and not handoff["breached_at"]:
                    await self.store.update_handoff(handoff["id"], breached_at=isoformat(now))
                    await self._offer_email(brand, handoff)
                    changed = True
            if changed:
                await self.assign(brand_id)
                await self.broadcast(brand_id)

    async def _requeue_dropped(self, agent: User) -> bool:
        moved = False
        for handoff in await self.store.live_handoffs(agent.brand):
            if handoff["state"] == "assigned" and handoff["assigned_agent_id"] == agent.id:
                if await self.store.move_handoff(handoff["id"], to="queued", from_states=("assigned",), agent_id=None,
                                                 expect_agent=agent.id, conversation_state="queued",
                                                 fields={"assigned_at": None}):
                    await self._unassigned(agent.id, handoff["conversation_id"], "grace_period_over")
                    await self._system(handoff["conversation_id"],
                                       self._brand(agent.brand).say("handoff.agent_dropped"))
                    moved = True
        return moved

    async def _offer_email(self, brand: Brand, handoff: dict[str, Any]) -> None:
        contact = brand.settings.contact
        await self._system(handoff["conversation_id"],
                           brand.say("handoff.breach_offer",
                                     minutes=brand.settings.service_levels.first_response_breach_seconds // 60,
                                     email=contact.email, reply_promise=contact.email_reply_promise),
                           quick_replies=["Continue by email", "Keep waiting"])

    # -- the figures ----------------------------------------------------------------------------

    async def stats(self, brand_id: str, window_hours: int = 24) -> dict[str, Any]:
        brand = self._brand(brand_id)
        levels = brand.settings.service_levels
        now = self.clock.now()
        handoffs = await self.store.handoffs_since(brand_id, now - timedelta(hours=window_hours))
        waits = [w for h in handoffs if (w := _seconds(h["queued_at"], h["first_response_at"])) is not None]
        decided = [h for h in handoffs if h["first_response_at"] or h["state"] in ("abandoned", "ticket")
                   or (_seconds(h["queued_at"], now) or 0) >= levels.first_response_breach_seconds]

        def within(limit: float) -> float | None:
            pool = [h for h in handoffs if h["first_response_at"] or (_seconds(h["queued_at"], now) or 0) >= limit
                    or h["state"] in ("abandoned", "ticket")]
            if not pool:
                return None
            hits = sum(1 for h in pool if (w := _seconds(h["queued_at"], h["first_response_at"])) is not None
                       and w <= limit)
            return hits / len(pool)

        handled = [d for h in handoffs if h["state"] == "resolved" and (d := _seconds(h["assigned_at"], h["ended_at"]))]
        handle = statistics.mean(handled) if handled else levels.mean_handle_seconds
        last_hour = [h for h in handoffs if (_seconds(h["queued_at"], now) or 0) <= 3600]
        arrivals = len(last_hour) if last_hour else len(handoffs) / window_hours
        counts = await self.store.conversation_counts(brand_id, now - timedelta(hours=window_hours))
        ratings = [h["rating"] for h in handoffs if h["rating"]]
        return {
            "brand": brand_id, "window_hours": window_hours,
            "target_seconds": levels.first_response_target_seconds,
            "breach_seconds": levels.first_response_breach_seconds, "agent_chat_cap": levels.agent_chat_cap,
            "agents": await self.team(brand_id),
            "queue": (await self.queue(brand_id))["items"],
            "handoffs": len(handoffs), "decided": len(decided),
            "answered_within_5_min": within(300), "answered_within_10_min": within(600),
            "median_wait_seconds": statistics.median(waits) if waits else None,
            "p90_wait_seconds": percentile(waits, 0.9),
            "breaches": sum(1 for h in handoffs if h["breached_at"]),
            "abandoned": sum(1 for h in handoffs if h["state"] == "abandoned"),
            "containment": counts["bot_only"] / counts["conversations"] if counts["conversations"] else None,
            "conversations": counts["conversations"],
            "arrivals_per_hour": arrivals, "mean_handle_seconds": handle,
            "agents_needed_80_in_5_min": erlang.agents_needed(arrivals, handle, 0.8, 300),
            "average_rating": statistics.mean(ratings) if ratings else None, "ratings": len(ratings),
        }
