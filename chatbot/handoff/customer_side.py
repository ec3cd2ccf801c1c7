"""The customer's side of the desk: asking for a person (or the honest answer
when nobody can come), leaving the queue, the messages and breach follow-ups
that become tickets, the customer's tabs coming and going, and the rating
after a resolved chat. What the customer's side shares with the agent's is in
queue_core.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..access import can_see
from ..auth import User
from ..clock import isoformat
from .hours import Hours
from .queue_core import DeskPart


class CustomerSide(DeskPart):
    async def request(
        self, user: User, conversation_id: int, *, reason: str, intent: str | None, confidence: float | None
    ) -> dict[str, Any]:
        """Hand the conversation to a person, or say honestly why not now.
        Returns the `handoff` event sent to the customer."""
        brand = self.core.brand(user.brand)
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
            await self.core.system(conversation_id, brand.say("handoff.queued"))
        await self.core.reassign(user.brand)
        return await self.core.views.customer_view(conversation_id)

    async def _offline(self, user: User, conversation_id: int, hours: Hours, now: datetime) -> dict[str, Any]:
        brand = self.core.brand(user.brand)
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
        await self.core.system(conversation_id, " ".join(parts))
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
        await self.core.broadcast(user.brand)
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
            await self.events.to_agents(handoff["brand"], "queue", await self.core.views.queue(handoff["brand"]))

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
            await self.core.unassigned(handoff["assigned_agent_id"], conversation_id, "continued_by_email")
        ticket = await self._ticket(user, conversation_id, "breach_followup", text)
        brand = self.core.brand(user.brand)
        contact = brand.settings.contact
        await self.core.system(
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
        await self.core.broadcast(handoff["brand"])
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
