"""Who may see and do what: the one way HTTP routes, Socket.IO namespaces and
the handoff desk fetch an object a user names, or check the user may act.

Each `access_*` function returns the object (or the user) or raises a typed
error (errors.py), which the edge turns into the protocol's error at one
boundary (web/http.py's middleware, web/boundary.py for socket events):

- AccessDenied (403 `forbidden`): the user's role or brand may not do this.
- NotVisible (404 `not_found`): not there for this user; another customer's
  or another brand's conversation or record looks exactly like a missing one.

The rules: a customer or merchant sees only their own conversations, records
and handoffs; an agent or operator only those of their own brand; operators
(and agents given the supervisor right) see a brand's figures; only operators
change its intents and policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .auth import User
from .errors import AccessDenied, NotVisible
from .store import Store

CUSTOMER_ROLES = ("customer", "merchant")
STAFF_ROLES = ("agent", "operator")
AccessCheck = Callable[[User], User]  # access_customer, access_agent, ...
RECORD_TABLES = {"order": "orders", "purchase": "purchases", "refund": "refunds", "withdrawal": "withdrawals"}


def can_see(user: User, row: dict[str, Any] | None) -> bool:
    """Whether `user` may see a row that has a `brand` and the `user_id` of
    its customer (a conversation, a handoff, a record, a ticket)."""
    if row is None or row.get("brand") != user.brand:
        return False
    if user.role in CUSTOMER_ROLES:
        return row.get("user_id") == user.id
    return user.role in STAFF_ROLES


# -- roles ---------------------------------------------------------------------------------------


def access_customer(user: User, detail: str = "needs a customer or merchant") -> User:
    if user.role not in CUSTOMER_ROLES:
        raise AccessDenied(detail)
    return user


def access_agent(user: User) -> User:
    if user.role != "agent":
        raise AccessDenied("needs an agent")
    return user


def access_staff(user: User, brand: str | None = None) -> User:
    """An agent or operator (of `brand`, when one is named)."""
    if user.role not in STAFF_ROLES or (brand is not None and user.brand != brand):
        raise AccessDenied("needs an agent or operator" + (f" of {brand}" if brand is not None else ""))
    return user


def access_operator(user: User, brand: str) -> User:
    if user.role != "operator" or user.brand != brand:
        raise AccessDenied(f"needs an operator of {brand}")
    return user


def access_supervisor(user: User, brand: str) -> User:
    """Operators of the brand, and its agents given the supervisor right."""
    if not user.can_supervise(brand):
        raise AccessDenied("needs an operator or a supervising agent of the brand")
    return user


# -- objects -------------------------------------------------------------------------------------


async def access_conversation(store: Store, user: User, conversation_id: int) -> dict[str, Any]:
    """A conversation the user may see: their own (customers), their brand's (staff)."""
    conversation = await store.conversation(conversation_id)
    if conversation is None or not can_see(user, conversation):
        raise NotVisible("no such conversation")
    return conversation


async def access_record(store: Store, user: User, kind: str, number: str) -> dict[str, Any]:
    """One of the customer's own orders, purchases, refunds or withdrawals.
    Staff see records only through a conversation's view (HandoffDesk)."""
    table = RECORD_TABLES.get(kind)
    if table is None or user.role not in CUSTOMER_ROLES:
        raise NotVisible(f"no such {kind}")
    record = await store.record_of(table, number, user.id)
    if record is None or not can_see(user, record):
        raise NotVisible(f"no such {kind}")
    return record


async def access_live_handoff(
    store: Store, agent: User, conversation_id: int, detail: str = "no such conversation waiting or open"
) -> dict[str, Any]:
    """The live handoff of a conversation of the agent's brand."""
    handoff = await store.live_handoff(conversation_id)
    if handoff is None or not can_see(agent, handoff) or agent.role not in STAFF_ROLES:
        raise NotVisible(detail)
    return handoff


async def access_held_handoff(store: Store, agent: User, conversation_id: int) -> dict[str, Any]:
    """The live handoff of a conversation the agent holds now."""
    handoff = await access_live_handoff(store, agent, conversation_id)
    if handoff["state"] != "assigned" or handoff["assigned_agent_id"] != agent.id:
        raise AccessDenied("you don't hold this conversation")
    return handoff
