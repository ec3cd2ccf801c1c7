"""The human handoff: each brand's queue, assignment to agents, and the
first-response clock (shared/spec/service-levels.md).

Everything durable lives in the database (the `handoffs` table): the queue is
the live handoffs ordered by their original handoff time, so a restart, an
agent who drops or a release puts a conversation back exactly where it was.
Only who is connected right now (presence) is kept in memory.

Time comes from the injected clock; `tick()` applies the timers (target flag,
breach, agent grace, abandonment). The server calls it every second; tests
call it after moving the clock.

`HandoffDesk` is the one object the server and the conversation hold: it puts
the parts together and passes each call to the part that does it, so callers
need not know how the desk is divided."""

from __future__ import annotations

from typing import Any

from ..auth import User
from ..clock import Clock, isoformat
from ..events import Events
from ..knowledge import Knowledge
from ..store import Store
from .agent_side import AgentSide
from .customer_side import CustomerSide
from .figures import Figures
from .presence import Presence
from .queue_core import QueueCore
from .timers import Timers


class HandoffDesk:
    """The queue and what moves it (`core`, queue_core.py), what customers
    (`customer_side`) and agents (`agent_side`) do to it, the supervisor's
    figures (`figures`) and the timers (`timers`). Who is connected is the
    `board` (presence.py), what the consoles see the `views` (views.py)."""

    def __init__(self, store: Store, clock: Clock, knowledge: Knowledge, events: Events) -> None:
        self.store = store
        self.clock = clock
        self.knowledge = knowledge
        self.events = events
        self.core = QueueCore(store, clock, knowledge, events)
        self.board = self.core.board
        self.views = self.core.views
        self.customer_side = CustomerSide(self.core)
        self.agent_side = AgentSide(self.core)
        self.figures = Figures(store, clock, knowledge, self.views)
        self.timers = Timers(self.core)

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

    async def tick(self, timers: bool = True) -> None:
        """Every process follows the cluster's presence; `timers`: this
        process also runs the first-response and grace timers (one process
        alone always does; in a cluster, the leader: store/leader.py)."""
        self.board.expire()
        await self._customers_left_elsewhere()
        if timers:
            await self.timers.tick()

    async def _customers_left_elsewhere(self) -> None:
        """Queued customers whose last tab closed on another process, or went
        with a process that left the cluster (PresenceBoard.departures): their
        grace period starts then, as when their last tab closes here
        (CustomerSide.customer_disconnected). One process alone has none."""
        departures = self.board.departures()
        if not departures:
            return
        for handoff in await self.store.live_handoffs():
            left_at = departures.get(handoff["conversation_id"])
            if left_at and handoff["state"] == "queued" and not handoff["customer_left_at"]:
                await self.store.update_handoff(handoff["id"], customer_left_at=isoformat(left_at))

    # -- what the consoles see (views.py, figures.py) ------------------------------------------

    async def queue(self, brand_id: str) -> dict[str, Any]:
        return await self.views.queue(brand_id)

    async def team(self, brand_id: str) -> list[dict[str, Any]]:
        return await self.views.team(brand_id)

    async def customer_view(self, conversation_id: int) -> dict[str, Any]:
        return await self.views.customer_view(conversation_id)

    async def conversation_view(self, conversation_id: int, after_seq: int | None = None) -> dict[str, Any]:
        return await self.views.conversation_view(conversation_id, after_seq)

    async def messages_after(self, conversation_id: int, after_seq: int | None) -> list[dict[str, Any]]:
        return await self.views.messages_after(conversation_id, after_seq)

    async def stats(self, brand_id: str, window_hours: int = 24) -> dict[str, Any]:
        return await self.figures.stats(brand_id, window_hours)

    # -- the customer's side (customer_side.py) --------------------------------------------------

    async def request(
        self, user: User, conversation_id: int, *, reason: str, intent: str | None, confidence: float | None
    ) -> dict[str, Any]:
        return await self.customer_side.request(
            user, conversation_id, reason=reason, intent=intent, confidence=confidence
        )

    async def withdraw(self, user: User, conversation_id: int) -> bool:
        return await self.customer_side.withdraw(user, conversation_id)

    async def leave_message(self, user: User, conversation_id: int, text: str) -> int:
        return await self.customer_side.leave_message(user, conversation_id, text)

    async def customer_wrote(self, user: User, conversation_id: int) -> None:
        await self.customer_side.customer_wrote(user, conversation_id)

    async def email_offer_open(self, conversation_id: int) -> bool:
        return await self.customer_side.email_offer_open(conversation_id)

    async def continue_by_email(self, user: User, conversation_id: int, text: str) -> bool:
        return await self.customer_side.continue_by_email(user, conversation_id, text)

    async def customer_connected(self, conversation_id: int) -> None:
        await self.customer_side.customer_connected(conversation_id)

    async def customer_disconnected(self, conversation_id: int) -> None:
        await self.customer_side.customer_disconnected(conversation_id)

    async def rate(self, user: User, conversation_id: int, rating: int) -> bool:
        return await self.customer_side.rate(user, conversation_id, rating)

    # -- the agent's side (agent_side.py) --------------------------------------------------------

    async def agent_connected(self, agent: User, status: str | None = None) -> None:
        await self.agent_side.agent_connected(agent, status)

    async def agent_disconnected(self, agent: User) -> None:
        await self.agent_side.agent_disconnected(agent)

    async def set_status(self, agent: User, status: str) -> None:
        await self.agent_side.set_status(agent, status)

    async def held_conversations(self, agent: User) -> list[int]:
        return await self.agent_side.held_conversations(agent)

    async def check_holds(self, agent: User, conversation_id: int) -> None:
        await self.agent_side.check_holds(agent, conversation_id)

    async def accept(self, agent: User, conversation_id: int) -> dict[str, Any]:
        return await self.agent_side.accept(agent, conversation_id)

    async def agent_message(
        self, agent: User, conversation_id: int, client_id: str, text: str
    ) -> tuple[dict[str, Any], bool]:
        return await self.agent_side.agent_message(agent, conversation_id, client_id, text)

    async def release(self, agent: User, conversation_id: int) -> None:
        await self.agent_side.release(agent, conversation_id)

    async def transfer(self, agent: User, conversation_id: int, to_agent_id: int) -> None:
        await self.agent_side.transfer(agent, conversation_id, to_agent_id)

    async def hand_back(self, agent: User, conversation_id: int) -> None:
        await self.agent_side.hand_back(agent, conversation_id)

    async def resolve(self, agent: User, conversation_id: int) -> None:
        await self.agent_side.resolve(agent, conversation_id)

    async def add_note(self, agent: User, conversation_id: int, text: str) -> dict[str, Any]:
        return await self.agent_side.add_note(agent, conversation_id, text)
