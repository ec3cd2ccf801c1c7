"""Stored messages in the shape of the wire contract (docs/protocol.md). A
leaf: the conversation and the handoff desk both send messages, and neither
needs the other to do it."""

from __future__ import annotations

from typing import Any


def to_wire(row: dict[str, Any]) -> dict[str, Any]:
    """A stored message in the shape of the wire contract."""
    message: dict[str, Any] = {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "seq": row["seq"],
        "sender": {"type": row["sender_type"], "name": row["sender_name"]},
        "text": row["text"],
        "created_at": row["created_at"],
    }
    meta = row["meta"]
    if row["sender_type"] == "bot":
        message["intent"] = row["intent"]
        message["confidence"] = row["confidence"]
        if meta.get("citation"):
            message["citation"] = meta["citation"]
    if meta.get("quick_replies"):
        message["quick_replies"] = meta["quick_replies"]
    for extra in ("buttons", "attachment_id", "rating_request"):
        if meta.get(extra):
            message[extra] = meta[extra]
    return message
