"""Every payload that comes in, as a pydantic model: type, size and required
fields are checked here, before anything reaches the domain."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ..errors import InvalidPayload

MessageText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# Ids and counters fit SQLite's 64-bit integers (and JavaScript's safe range).
Id = Annotated[int, Field(ge=1, le=2**53)]
Count = Annotated[int, Field(ge=0, le=2**53)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class LoginBody(Payload):
    brand: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class EmbedLoginBody(Payload):
    brand: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class PasswordBody(Payload):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class ParseBody(Payload):
    brand: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class ButtonPayload(Payload):
    """What a quick-reply button does (docs/protocol.md): an intent, and the records it is about."""

    intent: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    entities: Annotated[
        dict[Annotated[str, StringConstraints(max_length=32)], Annotated[str, StringConstraints(max_length=64)]],
        Field(max_length=4),
    ] = {}


class ChatMessage(Payload):
    client_id: ClientId
    text: MessageText
    payload: ButtonPayload | None = None  # sent with a button's title when a button is clicked


class Typing(Payload):
    on: bool


class Rate(Payload):
    rating: Annotated[int, Field(ge=1, le=5)]


class ConversationRef(Payload):
    conversation_id: Id


class AgentMessage(ConversationRef):
    client_id: ClientId
    text: MessageText


class History(Payload):
    """What a tab missed: the messages after `last_seq` (none seen: the recent history)."""

    last_seq: Count | None = None


class AgentHistory(ConversationRef):
    last_seq: Count | None = None


class AgentNote(ConversationRef):
    text: MessageText


class AgentTyping(ConversationRef):
    on: bool


class Transfer(ConversationRef):
    agent_id: Id


class AgentStatus(Payload):
    status: Literal["online", "away"]


class QueueRequest(Payload):
    """No fields: the brand's queue as it is now (a console told to `resync`)."""


class ChatAuth(Payload):
    """The handshake's auth payload (all optional: the cookie may carry the session)."""

    token: Annotated[str, StringConstraints(max_length=256)] | None = None
    last_seq: Count | None = None


class AgentAuth(Payload):
    """An agent's handshake: `last_seq` maps a held conversation's id (as a
    string, JSON keys are) to the last seq the console saw, so a reconnect
    replays exactly what it missed; `status` is the one the console is in."""

    token: Annotated[str, StringConstraints(max_length=256)] | None = None
    last_seq: (
        Annotated[dict[Annotated[str, StringConstraints(pattern=r"^\d{1,12}$")], Count], Field(max_length=100)] | None
    ) = None
    status: Literal["online", "away"] | None = None  # a console reconnecting while away stays away


P = TypeVar("P", bound=Payload)


def parse_payload(model: type[P], data: Any) -> P:
    """Validate or raise InvalidPayload with a short, human-readable detail."""
    if not isinstance(data, dict):
        raise InvalidPayload("expected a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise InvalidPayload(f"{where}: {first['msg']}") from None
