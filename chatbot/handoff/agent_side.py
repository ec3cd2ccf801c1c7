"""The agent's side of the desk: an agent's consoles coming and going, taking
a waiting chat, replying (which stops the first-response clock), and letting a
chat go again: back to the queue, to a colleague, back to the bot, or
resolved. What the agent's side shares with the customer's is in
queue_core.py."""

from __future__ import annotations

from typing import Any

from ..access import access_held_handoff, access_live_handoff
from ..auth import User
from ..clock import isoformat
from ..errors import ChatbotError
from ..wire import to_wire
from .queue_core import DeskPart


class AlreadyAssigned(ChatbotError):
    code, status = "already_assigned", 409


class NotAvailable(ChatbotError):
    code, status = "agent_not_available", 409


class AgentSide(DeskPart):
    async def agent_connected(self, agent: User, status: str | None = None) -> None:
        self.board.connected(agent, status)
        await self.core.reassign(agent.brand)

    async def agent_disconnected(self, agent: User) -> None:
        if self.board.disconnected(agent, self.clock.now()):
            await self.core.broadcast(agent.brand)

    async def set_status(self, agent: User, status: str) -> None:
        self.board.set_status(agent, status)
        await self.core.reassign(agent.brand)

    async def held_conversations(self, agent: User) -> list[int]:
        return [
            h["conversation_id"]
            for h in await self.store.live_handoffs(agent.brand)
            if h["state"] == "assigned" and h["assigned_agent_id"] == agent.id
        ]

    async def check_holds(self, agent: User, conversation_id: int) -> None:
        """Raise unless the agent holds the conversation."""
        await access_held_handoff(self.store, agent, conversation_id)

    async def accept(self, agent: User, conversation_id: int) -> dict[str, Any]:
        handoff = await access_live_handoff(self.store, agent, conversation_id, "no such conversation waiting")
        if handoff["state"] == "assigned":
            if handoff["assigned_agent_id"] == agent.id:
                return await self.core.views.conversation_view(conversation_id)
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
        view = await self.core.joined(agent.id, handoff, notify_agent=False)
        await self.core.broadcast(agent.brand)
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
                await self.core.broadcast(agent.brand)
            await self.events.to_conversation(conversation_id, "message", message)
        return message, created

    async def release(self, agent: User, conversation_id: int) -> None:
        """Back to the queue, at the place its original handoff time gives it."""
        handoff = await access_held_handoff(self.store, agent, conversation_id)
        await self.core.requeue(handoff, agent.id)
        await self.events.agent_holds(agent.id, conversation_id, False)
        self.core.released_by.setdefault(conversation_id, set()).add(agent.id)
        await self.core.system(conversation_id, self.core.brand(agent.brand).say("handoff.released"))
        await self.core.reassign(agent.brand)

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
        await self.core.joined(to_agent_id, handoff, notify_agent=True)
        await self.core.broadcast(agent.brand)

    async def hand_back(self, agent: User, conversation_id: int) -> None:
        handoff = await access_held_handoff(self.store, agent, conversation_id)
        await self._end(agent, handoff, "returned", conversation_state="bot")
        await self.core.system(conversation_id, self.core.brand(agent.brand).say("handoff.back_to_bot"))
        # "closed" ends the person's part; back_to tells the widget the chat itself goes on
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed", "back_to": "bot"})
        await self.core.reassign(agent.brand)

    async def resolve(self, agent: User, conversation_id: int) -> None:
        handoff = await access_held_handoff(self.store, agent, conversation_id)
        await self._end(agent, handoff, "resolved", conversation_state="closed")
        await self.core.system(
            conversation_id,
            self.core.brand(agent.brand).say("handoff.resolved", agent=agent.name),
            quick_replies=["5", "4", "3", "2", "1"],
            rating_request=True,
        )
        await self.events.to_customer(conversation_id, "handoff", {"state": "closed"})
        await self.core.reassign(agent.brand)

    async def _end(self, agent: User, handoff: dict[str, Any], outcome: str, *, conversation_state: str) -> None:
        """The agent's part is over (`outcome`: returned or resolved); the agent holds it no longer."""
        await self.store.move_handoff(
            handoff["id"],
            to=outcome,
            from_states=("assigned",),
            agent_id=agent.id,
            expect_agent=agent.id,
            conversation_state=conversation_state,
            fields={"ended_at": isoformat(self.clock.now())},
        )
        await self.events.agent_holds(agent.id, handoff["conversation_id"], False)

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
