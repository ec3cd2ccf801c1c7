"""How the domain reaches connected people, without knowing about sockets.
The web edge implements this with Socket.IO rooms; tests may record it."""

from __future__ import annotations

from typing import Any, Protocol


class Events(Protocol):
    async def to_customer(self, conversation_id: int, event: str, data: Any) -> None:
        """Every tab of the customer in this conversation."""

    async def to_conversation(self, conversation_id: int, event: str, data: Any) -> None:
        """The customer's tabs and the agent holding the conversation."""

    async def to_agents(self, brand: str, event: str, data: Any) -> None:
        """Every connected agent of the brand."""

    async def to_agent(self, agent_id: int, event: str, data: Any) -> None:
        """Every console tab of one agent."""

    async def agent_holds(self, agent_id: int, conversation_id: int, holds: bool) -> None:
        """Start or stop sending the conversation's messages to the agent."""
