"""What the consoles and the widget are shown of the handoff: the queue, the
team, a conversation as the agent console shows it, and where a waiting
customer stands. Read models only: nothing here changes a handoff."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..clock import Clock, parse_iso
from ..knowledge import Knowledge
from ..store import Store
from ..wire import to_wire
from .presence import PresenceBoard

# What the console shows of the handoff: why the customer was handed over, and the first-response clock.
HANDOFF_SHOWN = ("reason", "intent", "confidence", "queued_at", "first_response_at", "flagged_at", "breached_at")


def _waited(queued_at: str, now: datetime) -> int:
    return int((now - parse_iso(queued_at)).total_seconds()) if queued_at else 0


class ConsoleViews:
    def __init__(self, store: Store, clock: Clock, knowledge: Knowledge, presence: PresenceBoard) -> None:
        self.store = store
        self.clock = clock
        self.knowledge = knowledge
        self.presence = presence

    async def loads(self, brand_id: str) -> dict[int, int]:
        """Agent id → the chats they hold now."""
        loads: dict[int, int] = {}
        for handoff in await self.store.live_handoffs(brand_id):
            if handoff["state"] == "assigned":
                loads[handoff["assigned_agent_id"]] = loads.get(handoff["assigned_agent_id"], 0) + 1
        return loads

    async def estimate(self, brand_id: str, position: int, loads: dict[int, int] | None = None) -> int:
        """Seconds until the customer at `position` is likely picked up: free
        seats take the first ones at once; beyond that, chats end at a rate of
        (agents × cap) per handle time."""
        loads = loads if loads is not None else await self.loads(brand_id)
        levels = self.knowledge.brand(brand_id).settings.service_levels
        agents = self.presence.available(brand_id)
        free = sum(max(0, levels.agent_chat_cap - loads.get(a.user.id, 0)) for a in agents)
        if position <= free:
            return 0
        seats = max(1, len(agents) * levels.agent_chat_cap)
        return int(math.ceil((position - free) * levels.mean_handle_seconds / seats))

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

    async def conversation_view(self, conversation_id: int, after_seq: int | None = None) -> dict[str, Any]:
        """A conversation as the agent console shows it: transcript (or only the
        messages after `after_seq`), the intent that led to the handoff, the
        customer and their records."""
        conversation = await self.store.conversation(conversation_id)
        customer = await self.store.user(conversation["user_id"])
        handoff = await self.store.last_handoff(conversation_id)
        return {
            "id": conversation_id,
            "state": conversation["state"],
            "messages": [to_wire(m) for m in await self._transcript(conversation_id, after_seq)],
            "replay_after_seq": after_seq,
            "customer": {k: customer[k] for k in ("id", "name", "email", "role")},
            "handoff": {k: handoff[k] for k in HANDOFF_SHOWN} if handoff else None,
            "records": await self._records(customer),
            "earlier_conversations": await self._earlier_conversations(customer["id"], conversation_id),
            "notes": await self.store.notes(conversation_id),
        }

    async def messages_after(self, conversation_id: int, after_seq: int | None) -> list[dict[str, Any]]:
        """The transcript on the wire, for a console filling a gap it noticed."""
        return [to_wire(m) for m in await self._transcript(conversation_id, after_seq)]

    async def _transcript(self, conversation_id: int, after_seq: int | None) -> list[dict[str, Any]]:
        """The messages after `after_seq` (a console catching up), or the latest 200."""
        if after_seq is not None:
            return await self.store.messages(conversation_id, after_seq=after_seq)
        return await self.store.messages(conversation_id, limit=200)

    async def _earlier_conversations(self, customer_id: int, conversation_id: int) -> list[dict[str, Any]]:
        """The customer's other recent conversations, for context."""
        return [
            {"id": c["id"], "state": c["state"], "created_at": c["created_at"]}
            for c in await self.store.conversations_of(customer_id)
            if c["id"] != conversation_id
        ]

    async def _records(self, customer: dict[str, Any]) -> dict[str, Any]:
        """The kinds of record the brand keeps, for the roles that have them (brand.yaml rules.records)."""
        lookups = {
            "orders": self.store.orders_of,
            "purchases": self.store.purchases_of,
            "refunds": self.store.refunds_of,
            "withdrawals": self.store.withdrawals_of,
        }
        kept = self.knowledge.brand(customer["brand"]).settings.rules.records
        return {
            table: await lookups[table](customer["id"]) for table, roles in kept.items() if customer["role"] in roles
        }

    async def queue(self, brand_id: str) -> dict[str, Any]:
        now = self.clock.now()
        items = []
        for handoff in await self.store.live_handoffs(brand_id):
            if handoff["state"] != "queued":
                continue
            customer = await self.store.user(handoff["user_id"])
            last = [
                m
                for m in await self.store.messages(handoff["conversation_id"], limit=30)
                if m["sender_type"] == "customer"
            ]
            items.append(
                {
                    "conversation_id": handoff["conversation_id"],
                    "customer": {"name": customer["name"]},
                    "waited_seconds": _waited(handoff["queued_at"], now),
                    "queued_at": handoff["queued_at"],
                    "reason": handoff["reason"],
                    "intent": handoff["intent"],
                    "confidence": handoff["confidence"],
                    "preview": (last[-1]["text"][:140] if last else ""),
                    "flagged": bool(handoff["flagged_at"]),
                    "breached": bool(handoff["breached_at"]),
                }
            )
        levels = self.knowledge.brand(brand_id).settings.service_levels
        return {
            "items": items,
            "target_seconds": levels.first_response_target_seconds,
            "breach_seconds": levels.first_response_breach_seconds,
        }

    async def team(self, brand_id: str) -> list[dict[str, Any]]:
        """The brand's agents who are connected, with their open chats (for transfers)."""
        loads = await self.loads(brand_id)
        return [
            {
                "id": p.user.id,
                "name": p.user.name,
                "status": p.status if p.sockets else "disconnected",
                "open_chats": loads.get(p.user.id, 0),
            }
            for p in self.presence.of_brand(brand_id)
        ]
