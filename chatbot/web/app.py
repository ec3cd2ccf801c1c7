"""The app factory: `create_app(settings)` builds every part and hangs it off
the aiohttp app, so a test can build as many independent apps as it likes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Middleware
from engineio.async_socket import AsyncSocket

from ..attachments import Attachments
from ..auth import Auth
from ..clock import Clock, SystemClock
from ..conversation.chat import ChatService
from ..conversation.dialogue import Dialogue
from ..demo import demo_rows
from ..handoff import HandoffDesk
from ..knowledge import Knowledge, Models
from ..metrics import Metrics
from ..operator.analytics import Analytics
from ..operator.evaluation import Evaluations
from ..operator.inbox import Inbox
from ..operator.intent_editor import IntentEditor
from ..ratelimit import Limits
from ..runtime import pace_collections, tune_garbage_collector
from ..settings import Settings
from ..store import Store
from ..store.leader import AdvisoryLockLeader, AlwaysLeader, Leadership, contending
from . import http, openapi, operator_api, proxies, security
from .agent_namespace import AgentNamespace
from .chat_namespace import ChatNamespace
from .keys import (
    ANALYTICS,
    ATTACHMENTS,
    AUTH,
    CHAT,
    CLOCK,
    DESK,
    EDITOR,
    EVALUATIONS,
    INBOX,
    KNOWLEDGE,
    LEADER,
    LIMITS,
    METRICS,
    SETTINGS,
    SIO,
    STORE,
)
from .rooms import IndexedRoomManager, RedisRoomManager, SocketEvents

log = logging.getLogger(__name__)
MAX_SOCKET_MESSAGE = 64 * 1024
SOCKET_CHANNEL = "chatbot-socketio"  # the Redis channel the cluster's Socket.IO managers share


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, *, serving: bool = False, models: Models | None = None
) -> web.Application:
    """`serving`: the app is the serving process's own (python -m chatbot
    serve), which then also paces the garbage collector (runtime.py).
    `models`: the language detector and sentence encoder already loaded
    (read-only, so apps in one process may share them); without them, the
    app loads its own at start-up."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    middlewares: list[Middleware] = [http.errors_middleware, security.origin_middleware]
    if settings.trusted_proxies:  # first: everything after sees the client's own address
        middlewares.insert(0, proxies.forwarded_middleware(proxies.networks(settings.trusted_proxies)))
    if not settings.websocket_compression:
        middlewares.append(http.no_websocket_compression)
    app = web.Application(middlewares=middlewares, client_max_size=http.MAX_UPLOAD_BODY)
    store = Store(settings.store_location)
    knowledge = Knowledge(settings.intents_dir, semantic=settings.semantic, models=models)
    auth = _auth(store, clock, settings)
    limits = _limits(settings, clock)
    metrics = Metrics()
    guard = security.InputGuard(metrics)
    sio = _socket_server(app, guard, settings)
    events = SocketEvents(sio)
    desk = HandoffDesk(store, clock, knowledge, events)
    chat = ChatService(
        store, clock, Dialogue(knowledge, store, clock), desk, events, metrics, history_limit=settings.history_limit
    )
    sio.register_namespace(ChatNamespace(auth, chat, desk, knowledge, limits, guard))
    sio.register_namespace(AgentNamespace(auth, desk, knowledge, limits, guard))
    sio.attach(app)

    app[SETTINGS], app[CLOCK], app[STORE], app[KNOWLEDGE] = settings, clock, store, knowledge
    app[AUTH], app[CHAT], app[SIO], app[DESK], app[METRICS], app[LIMITS] = auth, chat, sio, desk, metrics, limits
    app[ATTACHMENTS] = Attachments(store, clock, settings.attachments_dir)
    _add_operator_tools(app, knowledge, store, clock, settings)
    _add_routes(app)
    _add_lifetimes(app, serving)
    return app


def _socket_server(app: web.Application, guard: security.InputGuard, settings: Settings) -> security.GuardedServer:
    """One process: the rooms in memory. A cluster's process: python-socketio's
    Redis manager carries every emit to every process (JSON, never pickle)."""
    manager = (
        RedisRoomManager(settings.redis_url, channel=SOCKET_CHANNEL) if settings.redis_url else IndexedRoomManager()
    )
    return security.GuardedServer(
        guard,
        async_mode="aiohttp",
        cors_allowed_origins=security.socket_origin_check(app),
        client_manager=manager,
        max_http_buffer_size=MAX_SOCKET_MESSAGE,
    )


def _auth(store: Store, clock: Clock, settings: Settings) -> Auth:
    return Auth(
        store,
        clock,
        session_ttl_seconds=settings.session_ttl_seconds,
        max_failures=settings.login_max_failures,
        failure_window_seconds=settings.login_window_seconds,
        account_max_failures=settings.login_account_max_failures,
        max_delay_seconds=settings.login_max_delay_seconds,
    )


def _limits(settings: Settings, clock: Clock) -> Limits:
    """One process: every limit in memory. A cluster's process: the per-user and
    per-address limits (messages, uploads, logins) are one budget on Redis
    for all the processes (cluster_limits.py); the per-socket ones stay here."""
    shared = None
    if settings.redis_url:
        from .cluster_limits import RedisLimiters  # redis: the optional cluster extra

        shared = RedisLimiters(settings.redis_url, clock)
    return Limits(
        clock,
        socket_event_burst=settings.socket_event_burst,
        socket_strike_burst=settings.socket_strike_burst,
        shared=shared,
    )


def _add_operator_tools(
    app: web.Application, knowledge: Knowledge, store: Store, clock: Clock, settings: Settings
) -> None:
    evaluations = Evaluations(knowledge, store, clock, settings.labelled_dir)
    app[EVALUATIONS] = evaluations
    app[EDITOR] = IntentEditor(knowledge, store, clock, evaluations.items())
    app[INBOX] = Inbox(store, knowledge, clock)
    app[ANALYTICS] = Analytics(store, clock)


def _add_routes(app: web.Application) -> None:
    app.on_response_prepare.append(http.security_headers)
    app.add_routes(http.routes)
    app.add_routes(operator_api.routes)
    app.add_routes(openapi.routes)
    http.add_static_routes(app)


def _add_lifetimes(app: web.Application, serving: bool) -> None:
    """The app's cleanup contexts (started in this order, closed in reverse) and its shutdown hook."""
    app.cleanup_ctx.append(_trained_matchers)
    app.cleanup_ctx.append(_store_lifetime)  # first in, last out: open before the rest, closed after it
    app.cleanup_ctx.append(_limits_lifetime)
    app.cleanup_ctx.append(_cluster_channel)
    app.cleanup_ctx.append(operator_api.across_processes)  # intent edits, with --redis
    app.cleanup_ctx.append(_lifecycle)
    if serving:
        app.cleanup_ctx.append(_paced_collector)  # last: start-up is done when it runs
    app.on_shutdown.append(_close_sockets)


async def _trained_matchers(app: web.Application) -> AsyncIterator[None]:
    """The intents read and the matchers trained, off the event loop, before anything is served."""
    await app[KNOWLEDGE].load()
    yield


async def _paced_collector(app: web.Application) -> AsyncIterator[None]:
    """The serving process's garbage collector (runtime.py): tuned once
    start-up is done, then paced until the app stops."""
    settings = app[SETTINGS]
    tune_garbage_collector(settings.gc_freeze, settings.gc_threshold, settings.gc_full_seconds)
    collector = asyncio.create_task(
        pace_collections(settings.gc_young_seconds, settings.gc_young_pause_ms, settings.gc_full_seconds)
    )
    yield
    collector.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await collector


async def _close_sockets(app: web.Application) -> None:
    """On stopping, aiohttp waits for every request handler, and a Socket.IO
    WebSocket's handler ends only when its socket does: with a widget open,
    stopping took 45 s (python-engineio's ping interval plus timeout).

    Each socket is closed at the Engine.IO level, so clients see a lost
    transport and reconnect when the server is back (a Socket.IO disconnect
    would tell them not to), and disconnect handlers run as usual while the
    store is still open. python-engineio's own disconnect-all is not used: it
    waits, unbounded, for each socket's queue to drain, and a long-polling
    socket whose client has stopped polling never drains."""
    eio = app[SIO].eio
    # python-engineio's ping-timeout service task runs until told to stop; left
    # running, it also keeps the whole app (and its trained matchers) alive
    await app[SIO].shutdown()
    closing = [
        asyncio.create_task(_close_socket(socket, eio.reason.SERVER_DISCONNECT))
        for socket in list(eio.sockets.values())
    ]
    if not closing:
        return
    seconds = app[SETTINGS].shutdown_seconds
    done, stuck = await asyncio.wait(closing, timeout=seconds)
    for task in stuck:
        task.cancel()
    for task in done:
        if task.exception():
            log.warning("closing a socket on shutdown failed", exc_info=task.exception())
    if stuck:
        log.warning("%d of %d sockets did not close within %s s of stopping", len(stuck), len(closing), seconds)


async def _close_socket(socket: AsyncSocket, reason: str) -> None:
    await socket.close(wait=False, reason=reason)
    # After a CLOSE packet, a browser leaves a WebSocket open for the server to
    # close (engine.io-client acts on CLOSE only on long-polling), and
    # python-engineio's writer closes it only at the end of its stream, which
    # this None is (its own end-of-stream mark), or after 45 s without one.
    await socket.queue.put(None)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings, store, knowledge = app[SETTINGS], app[STORE], app[KNOWLEDGE]
    for brand in knowledge.brands.values():
        await store.upsert_brand(brand.id, brand.settings.name)
    if settings.demo and await store.is_empty():
        await store.seed(demo_rows(app[CLOCK].now()))
        log.info("seeded the demo data into %s", store.path)
    leader = app[LEADER] = _leader(app)
    if isinstance(leader, AlwaysLeader):
        await app[DESK].recover()  # before anything is served
    tasks = [asyncio.create_task(knowledge.watch())] if settings.watch_intents else []
    if settings.tick_seconds:
        tasks.append(asyncio.create_task(_ticker(app[DESK], leader, settings.tick_seconds)))
    async with contending(leader):
        yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _leader(app: web.Application) -> Leadership:
    """Who runs the timers. On a server database, the process that holds its
    advisory lock (store/leader.py), and it recovers the desk each time it
    takes over: at the cluster's cold start, or from a leader that died."""
    database_url = app[SETTINGS].database_url
    if not database_url:
        return AlwaysLeader()
    return AdvisoryLockLeader(database_url, on_elected=app[DESK].recover)


async def _cluster_channel(app: web.Application) -> AsyncIterator[None]:
    """A cluster's process listens to the others from start-up, not from its
    first client (python-socketio's default), shares its agents' presence and
    customers' tabs with them (cluster_presence.py), takes a conversation's
    turns one at a time with them (cluster_turns.py), and closes its Redis
    connections when it stops."""
    manager = app[SIO].manager
    if not isinstance(manager, RedisRoomManager):
        yield
        return
    from .cluster_presence import ClusterPresence  # redis: the optional cluster extra
    from .cluster_rooms import RoomDirectory
    from .cluster_turns import RedisTurnGuard

    await manager.listen(app[SIO])
    board = app[DESK].board
    directory = RoomDirectory(
        manager.redis_url,
        manager.host_id,
        local_rooms=manager.routed_rooms,
        deliver=manager.deliver,
        resync=manager.resync_there,
        resubscribed=manager.resync_here,
    )
    # Before the desk's recover() (the cluster's presence decides who is connected), and stopped
    # after the sockets are closed (on_shutdown runs first), so the last disconnects go out
    # before the goodbye.
    turns = RedisTurnGuard(manager.redis_url, board)
    app[CHAT].turn_guard = turns
    async with directory, ClusterPresence(board, manager.redis_url, process_id=manager.host_id):
        manager.directory = directory
        board.on_process_left = directory.process_left
        yield
        board.on_process_left = None
        manager.directory = None
    await turns.close()
    await manager.close()


async def _limits_lifetime(app: web.Application) -> AsyncIterator[None]:
    """A cluster's shared limits close their Redis connection (it opens at the first check)."""
    yield
    await app[LIMITS].close()


async def _store_lifetime(app: web.Application) -> AsyncIterator[None]:
    """The store's thread and connection live from here to the end of cleanup,
    also when a later startup step fails."""
    async with app[STORE]:
        yield


async def _ticker(desk: HandoffDesk, leader: Leadership, interval: float) -> None:
    """Drive the service-level timers from real time; tests call tick() themselves."""
    while True:
        await asyncio.sleep(interval)
        try:
            await desk.tick(timers=leader.leads)
        except Exception:
            log.exception("handoff timers failed")
