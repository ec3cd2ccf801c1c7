"""Who is connected right now: each agent's status, open console tabs and the
moment they dropped, and each customer's open tabs. Only this is kept in
memory; everything else of the handoff is in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..auth import User

STATUSES = ("online", "away")


@dataclass
class Presence:
    user: User
    status: str = "online"
    sockets: int = 0
    dropped_at: datetime | None = None

    @property
    def available(self) -> bool:
        return self.status == "online" and self.sockets > 0


class PresenceBoard:
    def __init__(self) -> None:
        self.agents: dict[int, Presence] = {}
        self.customer_tabs: dict[int, int] = {}  # conversation id → open customer tabs

    # -- agents --------------------------------------------------------------------------------

    def of_brand(self, brand_id: str) -> list[Presence]:
        return [p for p in self.agents.values() if p.user.brand == brand_id]

    def available(self, brand_id: str) -> list[Presence]:
        return [p for p in self.of_brand(brand_id) if p.available]

    def colleague(self, agent: User, agent_id: int) -> Presence | None:
        """Another agent of `agent`'s brand who can take a chat now."""
        target = self.agents.get(agent_id)
        if not target or target.user.brand != agent.brand or not target.available or agent_id == agent.id:
            return None
        return target

    def connected(self, agent: User, status: str | None) -> None:
        """`status`: what the console says it is in (a reconnecting console
        that was away), set before anything is assigned."""
        if status is not None and status not in STATUSES:
            raise ValueError(status)
        presence = self.agents.setdefault(agent.id, Presence(agent))
        presence.sockets += 1
        presence.dropped_at = None
        if status is not None:
            presence.status = status

    def disconnected(self, agent: User, now: datetime) -> bool:
        """One console tab less; False when the agent was not here at all."""
        presence = self.agents.get(agent.id)
        if not presence:
            return False
        presence.sockets = max(0, presence.sockets - 1)
        if presence.sockets == 0:
            presence.dropped_at = now  # keeps their chats for the grace period (HandoffDesk.tick)
        return True

    def set_status(self, agent: User, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(status)
        self.agents.setdefault(agent.id, Presence(agent)).status = status

    def dropped(self, user: User, at: datetime) -> None:
        """An agent holding a chat whose presence was lost (a restart): dropped at `at`."""
        if user.id not in self.agents:
            self.agents[user.id] = Presence(user, dropped_at=at)

    def gone(self, brand_id: str, now: datetime, grace_seconds: float) -> list[User]:
        """Agents dropped at least `grace_seconds` ago, forgotten now."""
        gone = [
            p.user
            for p in self.of_brand(brand_id)
            if p.dropped_at and (now - p.dropped_at).total_seconds() >= grace_seconds
        ]
        for user in gone:
            self.agents.pop(user.id, None)
        return gone

    # -- customers -----------------------------------------------------------------------------

    def customer_connected(self, conversation_id: int) -> None:
        self.customer_tabs[conversation_id] = self.customer_tabs.get(conversation_id, 0) + 1

    def customer_disconnected(self, conversation_id: int) -> bool:
        """One tab less; True when it was the customer's last one."""
        left = self.customer_tabs.get(conversation_id, 1) - 1
        if left > 0:
            self.customer_tabs[conversation_id] = left
            return False
        self.customer_tabs.pop(conversation_id, None)
        return True
