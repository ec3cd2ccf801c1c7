"""The handoff's states as dialogue states. Queued: questions about the wait
are answered from the live queue, "never mind" or "bye" offers to leave it,
and what the bot can answer for sure it still answers. Offline (nobody can
take the chat): never the 5-10 minute promise it cannot keep; when the team
is back, the other channels, and a message left for the team."""

from __future__ import annotations

from ..clock import isoformat
from ..handoff.hours import Hours
from . import expecting
from .reply import Reply
from .state import LeaveMessage, LeaveQueue
from .turn import TurnContext

SURE = 0.8
MESSAGE_CONTENT_WORDS = 2  # a request to leave a message that says this much more is the message itself


def wants_to_leave_queue(t: TurnContext) -> bool:
    return t.has("leave") or t.has("cancel") or t.intent == "goodbye" or (t.intent == "deny" and len(t.said) <= 3)


def asks_about_wait(t: TurnContext) -> bool:
    return t.intent in ("human_agent", "response_times") or (t.has("wait") and t.parse.confidence < SURE)


def email_offer(t: TurnContext) -> Reply | None:
    """Past the breach, the desk offered to continue by email ("Continue by email" / "Keep waiting")."""
    if t.has("keep_waiting") or expecting.yes_or_no(t) is False:
        return t.reply(t.say("stay_in_queue"), "deny")
    if t.has("email_followup") or expecting.yes_or_no(t) is True:
        return Reply("", "continue_by_email", 1.0, continue_by_email=t.text.strip())
    return None


def queued(t: TurnContext) -> Reply | None:
    """A reply about the queue itself, or None to answer the message as usual."""
    if wants_to_leave_queue(t):
        t.state.expecting = LeaveQueue()
        return t.reply(
            t.say("leave_queue_ask"),
            "leave_queue",
            [t.button("button_leave_queue", "affirm"), t.button("button_keep_waiting", "deny")],
        )
    if asks_about_wait(t):
        return t.reply(queue_position(t), t.intent or "response_times")
    return None


def queue_position(t: TurnContext) -> str:
    view = t.queue or {}
    seconds = int(view.get("eta_seconds") or 0)
    waited = int(view.get("waited_seconds") or 0)
    if waited >= t.brand.settings.service_levels.first_response_breach_seconds:
        eta = t.say("eta_past_target")
    elif seconds < 60:
        eta = t.say("eta_now")
    else:
        eta = t.say("eta_minutes", minutes=max(1, round(seconds / 60)))
    return t.say("queue_position", position=view.get("position", 1), eta=eta)


async def offline(t: TurnContext) -> Reply | None:
    """While nobody can take the chat: questions about the wait, and leaving a message."""
    if t.has("leave_message") or t.intent == "leave_message":
        return await start_leave_message(t)
    if t.intent == "response_times" or (t.has("wait") and t.intent != "human_agent"):
        return t.reply(
            offline_text(t), t.intent or "response_times", [t.button("button_leave_message", "leave_message")]
        )
    return None


async def start_leave_message(t: TurnContext) -> Reply | None:
    """ "Can I leave a message?" asks for it; "my earbuds stopped working, please email me" is it."""
    if _says_more(t):
        return await expecting.on_leave_message(t, LeaveMessage(step="text"))
    t.state.expecting = LeaveMessage(step="text")
    return t.reply(t.say("leave_message_ask", user_email=t.records.user.email), "leave_message")


def _says_more(t: TurnContext) -> bool:
    """More than the request to leave a message: words of its own."""
    own = [w for w in t.said if len(w) > 2 and w not in t.cues.stopwords and w not in t.cues.message_request_words]
    return len(own) >= MESSAGE_CONTENT_WORDS


def offline_text(t: TurnContext) -> str:
    hours = Hours(t.brand.settings.hours)
    now = t.records.clock.now()
    if hours.is_open(now):
        return t.say(
            "offline_wait",
            why=t.say("offline_nobody"),
            back=t.say("offline_back_today", closes=t.brand.settings.hours.close),
        )
    opens = hours.next_opening(now)
    return t.say(
        "offline_wait",
        why=t.say("offline_closed"),
        back=t.say("offline_back", opens=hours.local_text(opens), opens_at=isoformat(opens)),
    )
