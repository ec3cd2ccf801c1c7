"""The handoff desk: each brand's queue of conversations waiting for a person,
their assignment to agents, the first-response clock, and what the agent
console and the supervisor view show of it.

    desk.py           HandoffDesk: the parts put together, the one object callers hold
    queue_core.py     the queue itself: assignment, requeueing, telling everyone it moved
    customer_side.py  what customers do: ask for a person, leave the queue, tickets, rating
    agent_side.py     what agents do: take, answer, release, transfer, hand back, resolve
    presence.py       who is connected right now (agents, customers' tabs), here and, in a
                      cluster, on the other processes (merged from web/cluster_presence.py)
    views.py          the consoles' read models: queue, team, a conversation, a customer's place
    figures.py        the supervisor's figures
    timers.py         the first-response clock and the grace periods (tick)
    hours.py          a brand's opening hours
    erlang.py         Erlang C: the agents a service level needs"""

from __future__ import annotations

from .agent_side import AlreadyAssigned, NotAvailable
from .desk import HandoffDesk
from .figures import percentile
from .hours import Hours
from .presence import STATUSES, Presence

__all__ = ["AlreadyAssigned", "HandoffDesk", "Hours", "NotAvailable", "Presence", "STATUSES", "percentile"]
