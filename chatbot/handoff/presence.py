"""Who is connected right now: each agent's status, open console tabs and the
moment they dropped, and each customer's open tabs. Only this is kept in
memory; everything else of the handoff is in the database.

With several server processes, each board keeps its own process's
connections (`agents`, `customer_tabs`) and merges in what the other
processes last said of theirs (`remote`, fed by the edge:
chatbot/web/cluster_presence.py, which `on_local_change` tells when there is
something new to say). The answers (who is available, the team, a colleague
to transfer to, was that the customer's last tab) are for the whole cluster;
one process alone has no remote entries and answers from its own only.

A process not heard from for `ttl_seconds` no longer counts. Once this
process has heard the channel for that long without it, the silent process
has left the cluster (`expire`): its agents are taken as dropped when it was
last heard from, so the desk's grace period applies to their chats, unless
they are connected elsewhere; its customers' tabs are gone, and those who
had no other tab become departures (`departures`) for the desk to mark."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..auth import User
from ..clock import Clock

STATUSES = ("online", "away")
# Seconds without a word from a process before it stops counting: three missed
# heartbeats (chatbot/web/cluster_presence.py HEARTBEAT_SECONDS).
PRESENCE_TTL = 15.0


@dataclass
class Presence:
    user: User
    status: str = "online"
    sockets: int = 0
    dropped_at: datetime | None = None
    # When the agent last chose a status. Across processes the latest choice
    # wins, as on one process, where a new console tab keeps the chosen status.
    status_at: datetime | None = None

    @property
    def available(self) -> bool:
        return self.status == "online" and self.sockets > 0


@dataclass
class Snapshot:
    """One process's own presence as it tells the others: its agents by id
    and its customers' open tabs by conversation. On another process's board,
    `heard_at` is when it last arrived there (that board's clock)."""

    agents: dict[int, Presence] = field(default_factory=dict)
    customer_tabs: dict[int, int] = field(default_factory=dict)
    heard_at: datetime | None = None


def _status_order(presence: Presence) -> tuple[bool, float]:
    return presence.status_at is not None, presence.status_at.timestamp() if presence.status_at else 0.0


def _combined(entries: list[Presence]) -> Presence:
    """One agent seen on several processes: their tabs added up, the status
    chosen last (this process's on a tie), dropped only when no tab is open
    anywhere, then at the latest drop."""
    if len(entries) == 1:
        return entries[0]
    sockets = sum(entry.sockets for entry in entries)
    chosen = max(entries, key=_status_order)
    drops = [entry.dropped_at for entry in entries if entry.dropped_at]
    dropped_at = None if sockets or not drops else max(drops)
    return Presence(chosen.user, chosen.status, sockets, dropped_at, chosen.status_at)


class PresenceBoard:
    def __init__(self, clock: Clock, ttl_seconds: float = PRESENCE_TTL) -> None:
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self.agents: dict[int, Presence] = {}  # this process's own
        self.customer_tabs: dict[int, int] = {}  # this process's own: conversation id → open customer tabs
        self.remote: dict[str, Snapshot] = {}  # the other processes', by process id
        # Called after every change of this process's own presence (the edge publishes it).
        self.on_local_change: Callable[[], None] | None = None
        # Called with a process's id when it has left the cluster (the edge forgets its rooms).
        self.on_process_left: Callable[[str], None] | None = None
        self._channel_heard_at: datetime | None = None
        self._listening_since: datetime | None = None
        self._awaiting: set[int] = set()  # last tab here closed while the customer had tabs elsewhere
        self._departed: dict[int, datetime] = {}  # conversation id → when its last tab went, elsewhere
        self._tabs_changed: set[int] = set()  # this process's conversations whose tabs changed since told

    def _changed(self) -> None:
        if self.on_local_change is not None:
            self.on_local_change()

    # -- agents --------------------------------------------------------------------------------

    def cluster_agents(self) -> dict[int, Presence]:
        """Every agent on this process or a live other one, each as one
        Presence (`_combined`). Alone, exactly `agents`."""
        live = self._live()
        if not live:
            return self.agents
        entries: dict[int, list[Presence]] = {}
        for presences in [self.agents.values(), *(snapshot.agents.values() for snapshot in live)]:
            for presence in presences:
                entries.setdefault(presence.user.id, []).append(presence)
        return {agent_id: _combined(found) for agent_id, found in entries.items()}

    def of_brand(self, brand_id: str) -> list[Presence]:
        return [p for p in self.cluster_agents().values() if p.user.brand == brand_id]

    def available(self, brand_id: str) -> list[Presence]:
        return [p for p in self.of_brand(brand_id) if p.available]

    def colleague(self, agent: User, agent_id: int) -> Presence | None:
        """Another agent of `agent`'s brand who can take a chat now."""
        target = self.cluster_agents().get(agent_id)
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
            presence.status, presence.status_at = status, self.clock.now()
        self._changed()

    def disconnected(self, agent: User, now: datetime) -> bool:
        """One console tab less; False when the agent was not here at all."""
        presence = self.agents.get(agent.id)
        if not presence:
            return False
        presence.sockets = max(0, presence.sockets - 1)
        if presence.sockets == 0:
            presence.dropped_at = now  # keeps their chats for the grace period (HandoffDesk.tick)
        self._changed()
        return True

    def set_status(self, agent: User, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(status)
        presence = self.agents.setdefault(agent.id, Presence(agent))
        presence.status, presence.status_at = status, self.clock.now()
        self._changed()

    def dropped(self, user: User, at: datetime) -> None:
        """An agent holding a chat whose presence was lost (a restart): dropped at `at`."""
        if user.id not in self.agents:
            self.agents[user.id] = Presence(user, dropped_at=at)
            self._changed()

    def gone(self, brand_id: str, now: datetime, grace_seconds: float) -> list[User]:
        """This process's agents dropped at least `grace_seconds` ago, forgotten
        now. Those connected again on another process are forgotten here but
        not returned: their chats stay theirs."""
        due = [
            p
            for p in self.agents.values()
            if p.user.brand == brand_id and p.dropped_at and (now - p.dropped_at).total_seconds() >= grace_seconds
        ]
        for presence in due:
            self.agents.pop(presence.user.id, None)
        if due:
            self._changed()
        return [p.user for p in due if not self._connected_anywhere(p.user.id)]

    def _connected_anywhere(self, agent_id: int) -> bool:
        local = self.agents.get(agent_id)
        if local is not None and local.sockets > 0:
            return True
        return any((p := s.agents.get(agent_id)) is not None and p.sockets > 0 for s in self._live())

    # -- customers -----------------------------------------------------------------------------

    def customer_connected(self, conversation_id: int) -> None:
        self.customer_tabs[conversation_id] = self.customer_tabs.get(conversation_id, 0) + 1
        self._tabs_changed.add(conversation_id)
        self._awaiting.discard(conversation_id)
        self._departed.pop(conversation_id, None)
        self._changed()

    def customer_disconnected(self, conversation_id: int) -> bool:
        """One tab less; True when it was the customer's last one anywhere.
        When the only tabs left are on other processes, the conversation is
        watched: should those close before this process hears of it (the
        customer closed the browser, its tabs on two processes at once), it
        becomes a departure."""
        left = self.customer_tabs.get(conversation_id, 1) - 1
        self._tabs_changed.add(conversation_id)
        if left > 0:
            self.customer_tabs[conversation_id] = left
            self._changed()
            return False
        self.customer_tabs.pop(conversation_id, None)
        self._changed()
        if self._remote_tabs(conversation_id):
            self._awaiting.add(conversation_id)
            return False
        return True

    def tabs_elsewhere(self, conversation_id: int) -> bool:
        """Whether another process this one hears has a tab of the conversation."""
        return self._remote_tabs(conversation_id) > 0

    def customer_present(self, conversation_id: int) -> bool:
        """Whether the customer has a tab open on any process this one hears."""
        return bool(self.customer_tabs.get(conversation_id) or self._remote_tabs(conversation_id))

    def departures(self) -> dict[int, datetime]:
        """Conversation id → when: customers whose last tab closed on another
        process after this one had let them go, or went with a process that
        left the cluster, and who have no tab open anywhere now. Each is
        given once; the desk starts their grace period as for a last tab
        closed here."""
        found = {
            conversation_id: at
            for conversation_id, at in self._departed.items()
            if not self.customer_tabs.get(conversation_id) and not self._remote_tabs(conversation_id)
        }
        self._departed.clear()
        return found

    def _remote_tabs(self, conversation_id: int) -> int:
        return sum(snapshot.customer_tabs.get(conversation_id, 0) for snapshot in self._live())

    # -- the other processes ---------------------------------------------------------------------

    def local_snapshot(self) -> Snapshot:
        """This process's own presence, to tell the others (copies: it may be kept)."""
        self._tabs_changed.clear()
        return Snapshot({i: replace(p) for i, p in self.agents.items()}, dict(self.customer_tabs))

    def local_changes(self) -> Snapshot:
        """What changed since the last snapshot or changes were taken: every
        agent (a handful), and the tabs of the conversations whose tabs
        changed, 0 for those with none left here. A process with thousands
        of customers tells the others one tab, not all of them."""
        changed, self._tabs_changed = self._tabs_changed, set()
        tabs = {conversation_id: self.customer_tabs.get(conversation_id, 0) for conversation_id in changed}
        return Snapshot({i: replace(p) for i, p in self.agents.items()}, tabs)

    def merge(self, process_id: str, snapshot: Snapshot) -> None:
        """What another process says of its own presence now; it replaces what it said before."""
        self._heard_from(process_id, snapshot)

    def merge_changes(self, process_id: str, changes: Snapshot) -> None:
        """What another process says changed (`local_changes` there): its
        agents, and the tabs of some conversations (0: none left there)."""
        known = self.remote.get(process_id)
        tabs = known.customer_tabs if known is not None else {}  # changed in place: thousands of entries
        for conversation_id, count in changes.customer_tabs.items():
            if count > 0:
                tabs[conversation_id] = count
            else:
                tabs.pop(conversation_id, None)
        self._heard_from(process_id, Snapshot(changes.agents, tabs))

    def _heard_from(self, process_id: str, snapshot: Snapshot) -> None:
        self.channel_heard()
        now = self.clock.now()
        self.remote[process_id] = replace(snapshot, heard_at=now)
        for conversation_id in [c for c in self._awaiting if not self._remote_tabs(c)]:
            self._awaiting.discard(conversation_id)
            self._departed.setdefault(conversation_id, now)

    def forget(self, process_id: str) -> None:
        """Another process stopped cleanly (its goodbye): it has left the cluster now."""
        self.channel_heard()
        snapshot = self.remote.pop(process_id, None)
        if snapshot is not None:
            self._left_cluster(snapshot, self.clock.now())
        if self.on_process_left is not None:
            self.on_process_left(process_id)

    @property
    def channel_heard_at(self) -> datetime | None:
        """When this process last heard the channel the processes talk on
        (None alone, or before the first word): whether its listener works."""
        return self._channel_heard_at

    def hearing(self) -> dict[str, Any]:
        """How this process hears the cluster (for /healthz): the processes it
        counts, itself included; seconds since it last heard the channel; and
        whether it is deaf (not heard for a whole TTL, or never)."""
        heard_at = self._channel_heard_at
        silent = (self.clock.now() - heard_at).total_seconds() if heard_at else None
        deaf = silent is None or silent > self.ttl_seconds
        return {"processes": 1 + len(self.remote), "heard_seconds_ago": silent, "deaf": deaf}

    def channel_heard(self) -> None:
        """Something arrived on the channel the processes talk on (this
        process's own heartbeat too): this process hears the others. A break
        longer than half the TTL starts the count again, so a process that
        could not hear the cluster does not take everyone for dead as soon
        as it hears again."""
        now = self.clock.now()
        heard = self._channel_heard_at
        if heard is None or (now - heard).total_seconds() > self.ttl_seconds / 2:
            self._listening_since = now
        self._channel_heard_at = now

    def expire(self) -> None:
        """The processes that said nothing for a whole TTL while this one
        heard the channel have left the cluster, at the time they were last
        heard from. The desk calls it before its timers (HandoffDesk.tick)."""
        for process_id, snapshot in list(self.remote.items()):
            if self._silent(snapshot):
                del self.remote[process_id]
                self._left_cluster(snapshot, snapshot.heard_at or self.clock.now())
                if self.on_process_left is not None:
                    self.on_process_left(process_id)

    def _live(self) -> list[Snapshot]:
        if not self.remote:
            return []
        now = self.clock.now()
        return [s for s in self.remote.values() if s.heard_at and (now - s.heard_at).total_seconds() < self.ttl_seconds]

    def _silent(self, snapshot: Snapshot) -> bool:
        heard, since = self._channel_heard_at, self._listening_since
        if heard is None or since is None or snapshot.heard_at is None:
            return False
        return (heard - max(snapshot.heard_at, since)).total_seconds() >= self.ttl_seconds

    def _left_cluster(self, snapshot: Snapshot, at: datetime) -> None:
        """A process left at `at`: its agents dropped here (unless connected
        elsewhere), its customers with no other tab departed."""
        changed = False
        for presence in snapshot.agents.values():
            changed |= self._take_over_drop(presence, presence.dropped_at or at)
        self._tabs_gone(snapshot.customer_tabs, at)
        if changed:
            self._changed()

    def _take_over_drop(self, presence: Presence, at: datetime) -> bool:
        """Keep an agent of a process that left as dropped at `at` here, so
        this process's timers apply the grace period to their chats."""
        agent_id = presence.user.id
        if self._connected_anywhere(agent_id):
            return False
        local = self.agents.get(agent_id)
        if local is None:
            self.agents[agent_id] = Presence(presence.user, presence.status, 0, at, presence.status_at)
            return True
        if local.dropped_at is None:
            local.dropped_at = at
            return True
        return False

    def _tabs_gone(self, conversation_ids: Iterable[int], at: datetime) -> None:
        for conversation_id in conversation_ids:
            if self.customer_tabs.get(conversation_id) or self._remote_tabs(conversation_id):
                continue
            self._awaiting.discard(conversation_id)
            self._departed[conversation_id] = min(at, self._departed.get(conversation_id, at))
