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

from datetime import datetime
from typing import Any

from ..access import access_held_handoff, access_live_handoff, can_see
from ..auth import User
from ..brands import Brand
from ..clock import Clock, isoformat
from ..errors import ChatbotError
from ..events import Events
from ..knowledge import Knowledge
from ..store import Store
from ..wire import to_wire
from .figures import Figures
from .hours import Hours
from .presence import Presence, PresenceBoard
from .timers import Timers
from .views import ConsoleViews


class AlreadyAssigned(ChatbotError):
    code, status = "already_assigned", 409


class NotAvailable(ChatbotError):
    code, status = "agent_not_available", 409


class HandoffDesk:
    """The queue's state machine and assignment. Who is connected is the
    `board` (presence.py), what the consoles see the `views` (views.py), the
    supervisor's figures the `figures` (figures.py), the timers `timers`."""

    def __init__(self, store: Store, clock: Clock, knowledge: Knowledge, events: Events) -> None:
        self.store = store
        self.clock = clock
        self.knowledge = knowledge
        self.events = events
        self.board = PresenceBoard()
        self.views = ConsoleViews(store, clock, knowledge, self.board)
        self.figures = Figures(store, clock, knowledge, self.views)
        self.timers = Timers(self)
        self.released_by: dict[int, set[int]] = {}  # conversation id → agents who gave it back

    @property
    def presence(self) -> dict[int, Presence]:
        return self.board.agents

    @property
    def customer_sockets(self) -> dict[int, int]:
        return self.board.customer_tabs

    async def recover(self) -> None:
        """On start-up. Who was connected was only in memory, so the time
        the server was away counts against nobody: each agent holding a chat
        is taken as dropped now (back within the grace period, they keep it;
        otherwise it goes to the front of the queue, as after any drop), and a
        customer who had left the queue gets the whole grace period again."""
        now = self.clock.now()
        for handoff in await self.store.live_handoffs():
            if handoff["state"] == "assigned" and handoff["assigned_agent_id"] not in self.board.agents:
                row = await self.store.user(handoff["assigned_agent_id"])
                if row:
                    self.board.dropped(User.from_row(row), now)
            elif handoff["state"] == "queued" and handoff["customer_left_at"]:
                await self.store.update_handoff(handoff["id"], customer_left_at=isoformat(now))

    # -- what the consoles see (views.py, figures.py) ------------------------------------------

    async def queue(self, brand_id: str) -> dict[str, Any]:
        return await self.views.queue(brand_id)

    async def team(self, brand_id: str) -> list[dict[str, Any]]:
        return await self.views.team(brand_id)

    async def customer_view(self, conversation_id: int) -> dict[str, Any]:
        return await self.views.customer_view(conversation_id)

    async def conversation_view(self, conversation_id: int, after_seq: int | None = None) -> dict[str, Any]:
        return await self.views.conversation_view(conversation_id, after_seq)

    async def stats(self, brand_id: str, window_hours: int = 24) -> dict[str, Any]:
        return await self.figures.stats(brand_id, window_hours)

    async def tick(self) -> None:
        await self.timers.tick()

    # -- helpers -------------------------------------------------------------------------------

    def _brand(self, brand_id: str) -> Brand:
        return self.knowledge.brand(brand_id)

    async def system(self, conversation_id: int, text: str, **meta: Any) -> dict[str, Any]:
        """A system message in the conversation, sent to everyone in it."""
        row, _ = await self.store.add_message(
            conversation_id,
            sender_type="system",
            sender_name="System",
            sender_id=None,
            text=text,
            now=self.clock.now(),
            meta=meta or None,
        )
        message = to_wire(row)
        await self.events.to_conversation(conversation_id, "message", message)
        return message

    async def unassigned(self, agent_id: int, conversation_id: int, reason: str) -> None:
        """The conversation left the agent without the agent doing it."""
        await self.events.agent_holds(agent_id, conversation_id, False)
        await self.events.to_agent(agent_id, "unassigned", {"conversation_id": conversation_id, "reason": reason})

    async def broadcast(self, brand_id: str) -> None:
        """Tell agents the queue, and every waiting customer their place and wait."""
        await self.events.to_agents(brand_id, "queue", await self.views.queue(brand_id))
        loads = await self.views.loads(brand_id)
        queued = [h for h in await self.store.live_handoffs(brand_id) if h["state"] == "queued"]
        for position, handoff in enumerate(queued, start=1):
            await self.events.to_customer(
                handoff["conversation_id"],
                "handoff",
                {
                    "state": "queued",
                    "position": position,
                    "eta_seconds": await self.views.estimate(brand_id, position, loads),
                },
            )

    async def _reassign(self, brand_id: str) -> None:
        await self.assign(brand_id)
        await self.broadcast(brand_id)

    # -- the customer side ----------------------------------------------------------------------

    async def request(
        self, user: User, conversation_id: int, *, reason: str, intent: str | None, confidence: float | None
    ) -> dict[str, Any]:
        """Hand the conversation to a person, or say honestly why not now.
        Returns the `handoff` event sent to the customer."""
        brand = self._brand(user.brand)
        now = self.clock.now()
        hours = Hours(brand.settings.hours)
        if not hours.is_open(now) or not self.board.available(user.brand):
            return await self._offline(user, conversation_id, hours, now)
        handoff, created = await self.store.create_handoff(
            {
                "brand": user.brand,
                "conversation_id": conversation_id,
                "user_id": user.id,
                "reason": reason,
                "intent": intent,
                "confidence": confidence,
                "queued_at": isoformat(now),
            },
            "queued",
        )
        if created:
            await self.system(conversation_id, brand.say("handoff.queued"))
        await self._reassign(user.brand)
        return await self.views.customer_view(conversation_id)

    async def _offline(self, user: User, conversation_id: int, hours: Hours, now: datetime) -> dict[str, Any]:
        brand = self._brand(user.brand)
        contact = brand.settings.contact
        opens = hours.next_opening(now)  # `now` itself when open but nobody is online
        why = brand.say("handoff.outside_hours" if not hours.is_open(now) else "handoff.nobody_online")
        wait = opens - now
        parts = [brand.say("handoff.offline", why=why, hours=hours.describe())]
        if wait.total_seconds() > 3600:
            parts.append(
                brand.say(
                    "handoff.opens_again_in_hours",
                    when=hours.local_text(opens),
                    hours=round(wait.total_seconds() / 3600),
                )
            )
        elif wait.total_seconds() > 0:
            parts.append(brand.say("handoff.opens_again", when=hours.local_text(opens)))
        parts.append(
            brand.say(
                "handoff.leave_message",
                customer_email=user.email,
                email=contact.email,
                reply_promise=contact.email_reply_promise,
            )
        )
        if contact.phone:
            parts.append(brand.say("handoff.phone", phone=contact.phone))
        await self.system(conversation_id, " ".join(parts))
        event = {"state": "offline", "opens_at": isoformat(opens), "email": contact.email}
        if contact.phone:
            event["phone"] = contact.phone
        await self.events.to_customer(conversation_id, "handoff", event)
        return event

    async def withdraw(self, user: User, conversation_id: int) -> bool:
        """The customer left the queue ("never mind", confirmed): counted as abandoned, back to the bot."""
        handoff = await self.store.live_handoff(conversation_id)
        if handoff is None or not can_see(user, handoff):
            return False
        now = isoformat(self.clock.now())
        if not await self.store.move_handoff(
            handoff["id"],
            to="abandoned",
            from_states=("queued",),
            conversation_state="bot",
            fields={"abandoned_at": now, "ended_at": now},
        ):
            return False
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed"})
        await self.broadcast(user.brand)
        return True

    async def leave_message(self, user: User, conversation_id: int, text: str) -> int:
        """A message left while the team was away becomes a ticket."""
        return await self._ticket(user, conversation_id, "offline_message", text)

    async def _ticket(self, user: User, conversation_id: int, kind: str, message: str) -> int:
        transcript = "\n".join(
            f"[{m['created_at']}] {m['sender_name']}: {m['text']}" for m in await self.store.messages(conversation_id)
        )
        return await self.store.create_ticket(
            {
                "brand": user.brand,
                "conversation_id": conversation_id,
                "user_id": user.id,
                "email": user.email,
                "kind": kind,
                "message": message,
                "transcript": transcript,
                "status": "open",
                "created_at": isoformat(self.clock.now()),
            }
        )

    async def customer_wrote(self, user: User, conversation_id: int) -> None:
        """A customer message while a person is in charge: the queue's preview changes."""
        handoff = await self.store.live_handoff(conversation_id)
        if handoff and handoff["state"] == "queued":
            await self.events.to_agents(handoff["brand"], "queue", await self.views.queue(handoff["brand"]))

    async def email_offer_open(self, conversation_id: int) -> bool:
        """Past the breach with no first reply: the customer was offered to continue by email."""
        handoff = await self.store.live_handoff(conversation_id)
        return bool(handoff and handoff["breached_at"] and not handoff["first_response_at"])

    async def continue_by_email(self, user: User, conversation_id: int, text: str) -> bool:
        """The customer took the breach offer: the conversation becomes a ticket, answered by email."""
        handoff = await self.store.live_handoff(conversation_id)
        if not handoff or not handoff["breached_at"] or handoff["first_response_at"]:
            return False
        if not await self.store.move_handoff(
            handoff["id"],
            to="ticket",
            from_states=("queued", "assigned"),
            conversation_state="closed",
            fields={"ended_at": isoformat(self.clock.now())},
        ):
            return False
        if handoff["assigned_agent_id"]:
            await self.unassigned(handoff["assigned_agent_id"], conversation_id, "continued_by_email")
        ticket = await self._ticket(user, conversation_id, "breach_followup", text)
        brand = self._brand(user.brand)
        contact = brand.settings.contact
        await self.system(
            conversation_id,
            brand.say(
                "handoff.ticket_opened",
                ticket=ticket,
                customer_email=user.email,
                email=contact.email,
                reply_promise=contact.email_reply_promise,
            ),
        )
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed"})
        await self.broadcast(handoff["brand"])
        return True

    async def customer_connected(self, conversation_id: int) -> None:
        self.board.customer_connected(conversation_id)
        handoff = await self.store.live_handoff(conversation_id)
        if handoff and handoff["customer_left_at"]:
            await self.store.update_handoff(handoff["id"], customer_left_at=None)

    async def customer_disconnected(self, conversation_id: int) -> None:
        if not self.board.customer_disconnected(conversation_id):
            return
        handoff = await self.store.live_handoff(conversation_id)
        if handoff and handoff["state"] == "queued":
            await self.store.update_handoff(handoff["id"], customer_left_at=isoformat(self.clock.now()))

    async def rate(self, user: User, conversation_id: int, rating: int) -> bool:
        handoff = await self.store.last_handoff(conversation_id)
        if handoff is None or not can_see(user, handoff) or handoff["state"] != "resolved" or handoff["rating"]:
            return False
        await self.store.update_handoff(handoff["id"], rating=rating, rated_at=isoformat(self.clock.now()))
        return True

    # -- the agent side -------------------------------------------------------------------------

    async def agent_connected(self, agent: User, status: str | None = None) -> None:
        self.board.connected(agent, status)
        await self._reassign(agent.brand)

    async def agent_disconnected(self, agent: User) -> None:
        if self.board.disconnected(agent, self.clock.now()):
            await self.broadcast(agent.brand)

    async def set_status(self, agent: User, status: str) -> None:
        self.board.set_status(agent, status)
        await self._reassign(agent.brand)

    async def held_conversations(self, agent: User) -> list[int]:
        return [
            h["conversation_id"]
            for h in await self.store.live_handoffs(agent.brand)
            if h["state"] == "assigned" and h["assigned_agent_id"] == agent.id
        ]

    async def check_holds(self, agent: User, conversation_id: int) -> None:
        """Raise unless the agent holds the conversation."""
        await access_held_handoff(self.store, agent, conversation_id)

    async def _joined(self, agent_id: int, handoff: dict[str, Any], notify_agent: bool) -> dict[str, Any]:
        conversation_id = handoff["conversation_id"]
        self.released_by.pop(conversation_id, None)
        agent = await self.store.user(agent_id)
        await self.system(
            conversation_id, self._brand(handoff["brand"]).say("handoff.agent_joined", agent=agent["name"])
        )
        await self.events.agent_holds(agent_id, conversation_id, True)
        view = await self.views.conversation_view(conversation_id)
        if notify_agent:
            await self.events.to_agent(agent_id, "assigned", {"conversation": view})
        await self.events.to_customer(
            conversation_id, "handoff", {"state": "assigned", "agent": {"name": agent["name"]}}
        )
        return view

    async def assign(self, brand_id: str) -> None:
        """Give waiting conversations, oldest first, to the least-busy online
        agents under their cap."""
        cap = self._brand(brand_id).settings.service_levels.agent_chat_cap
        loads = await self.views.loads(brand_id)
        for handoff in [h for h in await self.store.live_handoffs(brand_id) if h["state"] == "queued"]:
            declined = self.released_by.get(handoff["conversation_id"], set())
            candidates = [
                a for a in self.board.available(brand_id) if loads.get(a.user.id, 0) < cap and a.user.id not in declined
            ]
            if not candidates:
                continue
            agent = min(candidates, key=lambda a: (loads.get(a.user.id, 0), a.user.id))
            if await self.store.move_handoff(
                handoff["id"],
                to="assigned",
                from_states=("queued",),
                conversation_state="agent",
                agent_id=agent.user.id,
                fields={"assigned_at": isoformat(self.clock.now())},
            ):
                loads[agent.user.id] = loads.get(agent.user.id, 0) + 1
                await self._joined(agent.user.id, handoff, notify_agent=True)

    async def accept(self, agent: User, conversation_id: int) -> dict[str, Any]:
        handoff = await access_live_handoff(self.store, agent, conversation_id, "no such conversation waiting")
        if handoff["state"] == "assigned":
            if handoff["assigned_agent_id"] == agent.id:
                return await self.views.conversation_view(conversation_id)
            raise AlreadyAssigned("another agent has taken this conversation")
        if not await self.store.move_handoff(
            handoff["id"],
            to="assigned",
            from_states=("queued",),
            conversation_state="agent",
            agent_id=agent.id,
            fields={"assigned_at": isoformat(self.clock.now())},
        ):
            raise AlreadyAssigned("another agent has taken this conversation")
        view = await self._joined(agent.id, handoff, notify_agent=False)
        await self.broadcast(agent.brand)
        return view

    async def agent_message(
        self, agent: User, conversation_id: int, client_id: str, text: str
    ) -> tuple[dict[str, Any], bool]:
        handoff = await access_held_handoff(self.store, agent, conversation_id)
        now = self.clock.now()
        row, created = await self.store.add_message(
            conversation_id,
            sender_type="agent",
            sender_name=agent.name,
            sender_id=agent.id,
            text=text,
            client_id=f"agent:{client_id}",
            now=now,
        )
        message = to_wire(row)
        if created:
            if not handoff["first_response_at"]:
                await self.store.update_handoff(handoff["id"], first_response_at=isoformat(now))
                await self.broadcast(agent.brand)
            await self.events.to_conversation(conversation_id, "message", message)
        return message, created

    async def requeue(self, handoff: dict[str, Any], agent_id: int) -> bool:
        """Back to the queue from `agent_id`, at the place its original handoff
        time gives it; False when the agent no longer held it."""
        return await self.store.move_handoff(
            handoff["id"],
            to="queued",
            from_states=("assigned",),
            agent_id=None,
            expect_agent=agent_id,
            conversation_state="queued",
            fields={"assigned_at": None},
        )

    async def release(self, agent: User, conversation_id: int) -> None:
        """Back to the queue, at the place its original handoff time gives it."""
        handoff = await access_held_handoff(self.store, agent, conversation_id)
        await self.requeue(handoff, agent.id)
        await self.events.agent_holds(agent.id, conversation_id, False)
        self.released_by.setdefault(conversation_id, set()).add(agent.id)
        await self.system(conversation_id, self._brand(agent.brand).say("handoff.released"))
        await self._reassign(agent.brand)

    async def transfer(self, agent: User, conversation_id: int, to_agent_id: int) -> None:
        handoff = await access_held_handoff(self.store, agent, conversation_id)
        if not self.board.colleague(agent, to_agent_id):
            raise NotAvailable("that agent is not online")
        if not await self.store.move_handoff(
            handoff["id"],
            to="assigned",
            from_states=("assigned",),
            agent_id=to_agent_id,
            expect_agent=agent.id,
            fields={"assigned_at": isoformat(self.clock.now())},
        ):
            raise AlreadyAssigned("the conversation changed hands meanwhile")
        await self.events.agent_holds(agent.id, conversation_id, False)
        await self._joined(to_agent_id, handoff, notify_agent=True)
        await self.broadcast(agent.brand)

    async def hand_back(self, agent: User, conversation_id: int) -> None:
        handoff = await access_held_handoff(self.store, agent, conversation_id)
        await self.store.move_handoff(
            handoff["id"],
            to="returned",
            from_states=("assigned",),
            agent_id=agent.id,
            expect_agent=agent.id,
            conversation_state="bot",
            fields={"ended_at": isoformat(self.clock.now())},
        )
        await self.events.agent_holds(agent.id, conversation_id, False)
        await self.system(conversation_id, self._brand(agent.brand).say("handoff.back_to_bot"))
        # "closed" ends the person's part; back_to tells the widget the chat itself goes on
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed", "back_to": "bot"})
        await self._reassign(agent.brand)

    async def resolve(self, agent: User, conversation_id: int) -> None:
        handoff = await access_held_handoff(self.store, agent, conversation_id)
        await self.store.move_handoff(
            handoff["id"],
            to="resolved",
            from_states=("assigned",),
            agent_id=agent.id,
            expect_agent=agent.id,
            conversation_state="closed",
            fields={"ended_at": isoformat(self.clock.now())},
        )
        await self.events.agent_holds(agent.id, conversation_id, False)
        await self.system(
            conversation_id,
            self._brand(agent.brand).say("handoff.resolved", agent=agent.name),
            quick_replies=["5", "4", "3", "2", "1"],
            rating_request=True,
        )
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed"})
        await self._reassign(agent.brand)

    async def add_note(self, agent: User, conversation_id: int, text: str) -> dict[str, Any]:
        await access_held_handoff(self.store, agent, conversation_id)
        note = await self.store.add_note(
            {
                "conversation_id": conversation_id,
                "agent_id": agent.id,
                "agent_name": agent.name,
                "text": text,
                "created_at": isoformat(self.clock.now()),
            }
        )
        await self.events.to_agents(agent.brand, "note", note)
        return note
