"""The queue itself, shared by the desk's two sides (customer_side.py,
agent_side.py) and the timers: giving waiting conversations to agents, putting
one back in its place, and telling everyone when the queue moves. The running
desk's state lives here once: who is connected (the board), the read models
(the views) and which agents gave a conversation back."""

from __future__ import annotations

from typing import Any

from ..brands import Brand
from ..clock import Clock, isoformat
from ..events import Events
from ..knowledge import Knowledge
from ..store import Store
from ..wire import to_wire
from .presence import PresenceBoard
from .views import ConsoleViews


class QueueCore:
    def __init__(self, store: Store, clock: Clock, knowledge: Knowledge, events: Events) -> None:
        self.store = store
        self.clock = clock
        self.knowledge = knowledge
        self.events = events
        self.board = PresenceBoard(clock)
        self.views = ConsoleViews(store, clock, knowledge, self.board)
        self.released_by: dict[int, set[int]] = {}  # conversation id → agents who gave it back

    def brand(self, brand_id: str) -> Brand:
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
        return await self.posted(row)

    async def posted(self, row: dict[str, Any]) -> dict[str, Any]:
        """Send a stored system message to everyone in its conversation."""
        message = to_wire(row)
        await self.events.to_conversation(row["conversation_id"], "message", message)
        return message

    def note(self, text: str, **meta: Any) -> dict[str, Any]:
        """A system message for the store to post with the change that causes it
        (store.move_handoff_saying, store.stamp_handoff)."""
        return {"text": text, "now": self.clock.now(), "meta": meta or None}

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

    async def reassign(self, brand_id: str) -> None:
        """After anything that may free a seat or add a waiting customer."""
        await self.assign(brand_id)
        await self.broadcast(brand_id)

    async def assign(self, brand_id: str) -> None:
        """Give waiting conversations, oldest first, to the least-busy online
        agents under their cap."""
        cap = self.brand(brand_id).settings.service_levels.agent_chat_cap
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
                agent_cap=cap,  # checked again where it counts: another process may be assigning too
                fields={"assigned_at": isoformat(self.clock.now())},
            ):
                loads[agent.user.id] = loads.get(agent.user.id, 0) + 1
                await self.joined(agent.user.id, handoff, notify_agent=True)

    async def joined(self, agent_id: int, handoff: dict[str, Any], notify_agent: bool) -> dict[str, Any]:
        """An agent now holds the handoff: tell the conversation, the agent's
        consoles (`notify_agent`, unless the agent asked for it) and the
        customer. Returns the conversation as the console shows it."""
        conversation_id = handoff["conversation_id"]
        self.released_by.pop(conversation_id, None)
        agent = await self.store.user(agent_id)
        name = agent["name"]  # the agent of a live handoff exists by construction (pyproject's mypy overrides)
        await self.system(conversation_id, self.brand(handoff["brand"]).say("handoff.agent_joined", agent=name))
        await self.events.agent_holds(agent_id, conversation_id, True)
        view = await self.views.conversation_view(conversation_id)
        if notify_agent:
            await self.events.to_agent(agent_id, "assigned", {"conversation": view})
        await self.events.to_customer(conversation_id, "handoff", {"state": "assigned", "agent": {"name": name}})
        return view

    async def requeue(self, handoff: dict[str, Any], agent_id: int, saying: str | None = None) -> bool:
        """Back to the queue from `agent_id`, at the place its original handoff
        time gives it; False when the agent no longer held it. `saying`: a
        system message posted with the move, in its transaction (once, even
        when two processes try the same move)."""
        move: dict[str, Any] = {
            "to": "queued",
            "from_states": ("assigned",),
            "agent_id": None,
            "expect_agent": agent_id,
            "conversation_state": "queued",
            "fields": {"assigned_at": None},
        }
        if saying is None:
            return await self.store.move_handoff(handoff["id"], **move)
        posted = await self.store.move_handoff_saying(handoff["id"], self.note(saying), **move)
        if posted is not None:
            await self.posted(posted)
        return posted is not None


class DeskPart:
    """A side of the desk (customer_side.py, agent_side.py): works on the
    shared core, and reaches the store, clock, events and board through it."""

    def __init__(self, core: QueueCore) -> None:
        self.core = core
        self.store = core.store
        self.clock = core.clock
        self.events = core.events
        self.board = core.board
