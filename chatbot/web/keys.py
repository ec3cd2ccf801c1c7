"""The application's state, hung off the aiohttp app under typed keys."""

from __future__ import annotations

import socketio
from aiohttp import web

from ..attachments import Attachments
from ..auth import Auth
from ..clock import Clock
from ..conversation.chat import ChatService
from ..handoff import HandoffDesk
from ..knowledge import Knowledge
from ..metrics import Metrics
from ..operator.analytics import Analytics
from ..operator.evaluation import Evaluations
from ..operator.inbox import Inbox
from ..operator.intent_editor import IntentEditor
from ..ratelimit import Limits
from ..settings import Settings
from ..store import Store
from ..store.leader import Leadership

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
STORE = web.AppKey("store", Store)
AUTH = web.AppKey("auth", Auth)
KNOWLEDGE = web.AppKey("knowledge", Knowledge)
CHAT = web.AppKey("chat", ChatService)
SIO = web.AppKey("sio", socketio.AsyncServer)
ATTACHMENTS = web.AppKey("attachments", Attachments)
DESK = web.AppKey("desk", HandoffDesk)
METRICS = web.AppKey("metrics", Metrics)
EDITOR = web.AppKey("editor", IntentEditor)
INBOX = web.AppKey("inbox", Inbox)
EVALUATIONS = web.AppKey("evaluations", Evaluations)
ANALYTICS = web.AppKey("analytics", Analytics)
LIMITS = web.AppKey("limits", Limits)
LEADER = web.AppKey("leader", Leadership)
