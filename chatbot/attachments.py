"""Screenshots customers attach (a dispute's evidence). Only images, checked
by their content rather than by what the client claims, up to a size limit;
stored under a name of our own so nothing the client sends names a path."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .auth import User
from .clock import Clock, isoformat
from .errors import InvalidPayload
from .store import Store

MAX_BYTES = 5 * 1024 * 1024
SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
]


def sniff(data: bytes) -> tuple[str, str]:
    """(content type, extension) of an accepted image, or InvalidPayload."""
    for magic, content_type, ext in SIGNATURES:
        if data.startswith(magic):
            return content_type, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    raise InvalidPayload("only PNG, JPEG, GIF or WebP images can be attached")


def clean_filename(name: str | None) -> str:
    base = Path(unquote(name or "screenshot").replace("\\", "/")).name
    kept = "".join(c for c in base if c.isalnum() or c in "._- ")[:80].strip()
    return kept or "screenshot"


class Attachments:
    def __init__(self, store: Store, clock: Clock, folder: Path) -> None:
        self.store = store
        self.clock = clock
        self.folder = folder

    async def save(self, user: User, conversation_id: int, filename: str | None, data: bytes) -> dict[str, Any]:
        if not data:
            raise InvalidPayload("the file is empty")
        if len(data) > MAX_BYTES:
            raise InvalidPayload(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
        content_type, ext = sniff(data)
        stored_as = f"{secrets.token_hex(16)}{ext}"
        await asyncio.to_thread(self._write, stored_as, data)
        row = {
            "brand": user.brand,
            "user_id": user.id,
            "conversation_id": conversation_id,
            "case_id": None,
            "filename": clean_filename(filename),
            "content_type": content_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "stored_as": stored_as,
            "created_at": isoformat(self.clock.now()),
        }
        row["id"] = await self.store.add_attachment(row)
        return row

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_bytes(data)
