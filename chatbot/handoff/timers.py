"""The first-response clock and the grace periods (shared/spec/service-levels.md):
`tick()` flags a wait past the target, offers email past the breach, puts a
dropped agent's chats back in the queue after their grace period, and counts
a customer gone longer than theirs as abandoned. The server calls it every
second; tests call it after moving the clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..auth import User
from ..brands import Brand
from ..clock import isoformat
from .figures import seconds_between
from .queue_core import QueueCore


class Timers:
    def __init__(self, core: QueueCore) -> None:
        self.core = core
        self.store = core.store

    async def tick(self) -> None:
        now = self.core.clock.now()
        for brand_id, brand in self.core.knowledge.brands.items():
            levels = brand.settings.service_levels
            changed = False
            for agent in self.core.board.gone(brand_id, now, levels.agent_grace_seconds):
                changed |= await self._requeue_dropped(agent)
            for handoff in await self.store.live_handoffs(brand_id):
                changed |= await self._apply(brand, handoff, now)
            if changed:
                await self.core.reassign(brand_id)

    async def _apply(self, brand: Brand, handoff: dict[str, Any], now: datetime) -> bool:
        """The timers of one live handoff; True when it changed."""
        levels = brand.settings.service_levels
        waited = seconds_between(handoff["queued_at"], now) or 0
        left = seconds_between(handoff["customer_left_at"], now)
        if handoff["state"] == "queued" and left is not None and left >= levels.customer_grace_seconds:
            if self.core.board.customer_present(handoff["conversation_id"]):
                # a tab on another process that the one which saw the last tab close here had not
                # heard of yet: the customer never left
                await self.store.update_handoff(handoff["id"], customer_left_at=None)
                return False
            await self.store.move_handoff(
                handoff["id"],
                to="abandoned",
                from_states=("queued",),
                conversation_state="bot",
                fields={"abandoned_at": isoformat(now), "ended_at": isoformat(now)},
            )
            return True
        if handoff["first_response_at"]:
            return False
        changed = False
        # Each stamp is set once, by whichever process gets there first (store.stamp_handoff).
        if waited >= levels.first_response_target_seconds and not handoff["flagged_at"]:
            changed |= await self.store.stamp_handoff(handoff["id"], "flagged_at", now) is not None
        if waited >= levels.first_response_breach_seconds and not handoff["breached_at"]:
            offer = await self.store.stamp_handoff(handoff["id"], "breached_at", now, self._email_offer(brand))
            if offer is not None:
                await self.core.posted(offer)
                changed = True
        return changed

    async def _requeue_dropped(self, agent: User) -> bool:
        moved = False
        for handoff in await self.store.live_handoffs(agent.brand):
            if handoff["state"] != "assigned" or handoff["assigned_agent_id"] != agent.id:
                continue
            if await self.core.requeue(
                handoff, agent.id, saying=self.core.brand(agent.brand).say("handoff.agent_dropped")
            ):
                await self.core.unassigned(agent.id, handoff["conversation_id"], "grace_period_over")
                moved = True
        return moved

    def _email_offer(self, brand: Brand) -> dict[str, Any]:
        contact = brand.settings.contact
        return self.core.note(
            brand.say(
                "handoff.breach_offer",
                minutes=brand.settings.service_levels.first_response_breach_seconds // 60,
                email=contact.email,
                reply_promise=contact.email_reply_promise,
            ),
            quick_replies=["Continue by email", "Keep waiting"],
        )
