"""The demo data of shared/spec/demo-data.md, with dates relative to the
moment of seeding so the demo stays true whenever it is started."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from .clock import isoformat

ACCOUNTS = [
    # brand, role, email, password, name
    ("cltiktok", "customer", "alice@example.com", "alice-demo-pass", "Alice Chen"),
    ("cltiktok", "customer", "bob@example.com", "bob-demo-pass", "Bob Rivera"),
    ("cltiktok", "merchant", "sunny@example.com", "sunny-demo-pass", "Sunny Socks (store)"),
    ("cltiktok", "agent", "dana@cltiktok.example", "dana-demo-pass", "Dana"),
    ("cltiktok", "agent", "eli@cltiktok.example", "eli-demo-pass", "Eli"),
    ("cltiktok", "operator", "olga@cltiktok.example", "olga-demo-pass", "Olga"),
    ("ttr-e", "customer", "carol@example.com", "carol-demo-pass", "Carol Park"),
    ("ttr-e", "agent", "tom@ttr-e.example", "tom-demo-pass", "Tom"),
    ("ttr-e", "operator", "omar@ttr-e.example", "omar-demo-pass", "Omar"),
]


# The demo passwords' argon2id hashes (auth.hash_password), computed once when
# they were written down: argon2 is slow on purpose, and every test server seeds
# these accounts. They are public demo passwords (README.md), so a salt shared
# by every demo database gives nothing away.
ARGON2ID = "$argon2id$v=19$m=65536,t=3,p=4$"  # the parameters auth.hash_password uses
DEMO_HASHES = MappingProxyType(
    {
        "alice-demo-pass": ARGON2ID + "oj61s7tfYatMOABblkyAGA$4HsZWXSrmDpv+CJAnMtOd4xX2Ux0l0VJ6TvaR8Aii8U",
        "bob-demo-pass": ARGON2ID + "RZvPds+dVwkCIi6KhhGLCA$r7kBqT3WAtqDTbhIOXK8EBNHaKG0IcdjNXoBjSrzVys",
        "sunny-demo-pass": ARGON2ID + "l6/nUeBJ+Ab/toIj3JBzaA$sY69ybZCdO5aT7pF3AlxjUpEXTuzhfeWq2ORVKDqEEg",
        "dana-demo-pass": ARGON2ID + "z/FvXIdsW50ChUmeoupC3w$4FYIThhpIrybwztTklEMvy0cOiMqtwGAGH7G62AuReY",
        "eli-demo-pass": ARGON2ID + "DYQHuxsg57bcrZlXXaeo7Q$JrsbqhHp+ftML3ALlf7JwHFChmgLZPQZC5/WqicyFJs",
        "olga-demo-pass": ARGON2ID + "jICchJquCeo/F+o/HN+S9A$cAD0f5/UHAIbKgRLD5ymcBAAgZm4O/ZylIyHhQIcxD0",
        "carol-demo-pass": ARGON2ID + "2qCQjI2eS/CRXspfYsO8Tg$DqJBzdxiJgkitwplh4UoGoE693tc5FBMq0cicLFZy9Y",
        "tom-demo-pass": ARGON2ID + "Ax8c3jHf9uv9eXXL1FNwHQ$Y4rxqnPRJoFOy2Bceq018pWLmTpCyPd8b+6dwa+IhS8",
        "omar-demo-pass": ARGON2ID + "EVJiRd2A6S4InbZ2XFL+eA$sXE4wtVy8QXo0cdoJ+4fGbkcchClo4SRilFZDtYHyuY",
    }
)


def demo_rows(now: datetime) -> dict[str, list[dict[str, Any]]]:
    def day(offset: int) -> str:
        return isoformat(now + timedelta(days=offset))

    users: list[dict[str, Any]] = [
        {
            "id": number,
            "brand": brand,
            "email": email,
            "name": name,
            "role": role,
            "password_hash": DEMO_HASHES[password],
            "created_at": day(-90),
            "password_changed_at": day(-90),
        }
        for number, (brand, role, email, password, name) in enumerate(ACCOUNTS, start=1)
    ]
    ids = {user["email"].split("@")[0]: user["id"] for user in users}
    return {"users": users, **_records(ids, day)}


# Long because it is one table of data, read top to bottom like the spec it copies.
def _records(ids: dict[str, int], day: Any) -> dict[str, list[dict[str, Any]]]:
    """The demo's records (shared/spec/demo-data.md)."""
    alice, bob, sunny, carol = ids["alice"], ids["bob"], ids["sunny"], ids["carol"]

    def order(
        number: str, owner: int, status: str, items: list[dict[str, Any]], total: int, created: int, notes: str = ""
    ) -> dict[str, Any]:
        return {
            "number": number,
            "brand": "cltiktok",
            "user_id": owner,
            "status": status,
            "items": json.dumps(items),
            "total_cents": total,
            "currency": "USD",
            "created_at": day(created),
            "updated_at": day(created),
            "notes": notes,
        }

    def item(name: str, quantity: int = 1) -> dict[str, Any]:
        return {"name": name, "quantity": quantity}

    return {
        "orders": [
            order("CT-100234", alice, "shipped", [item("wireless earbuds")], 4999, -4),
            order("CT-100235", alice, "processing", [item("phone case", 2)], 1800, -2),
            order("CT-100236", alice, "delivered", [item("desk lamp")], 3550, -10),
            order("CT-100300", bob, "pending_payment", [item("sneakers")], 8900, 0, notes="payment failed once today"),
            order("CT-100301", bob, "delivered", [item("backpack")], 4200, -45),
        ],
        "shipments": [
            {
                "order_number": "CT-100234",
                "carrier": "UPS",
                "tracking_number": "1Z999AA10123456784",
                "shipped_at": day(-2),
                "estimated_delivery": day(2),
                "delivered_at": None,
            },
            {
                "order_number": "CT-100236",
                "carrier": None,
                "tracking_number": None,
                "shipped_at": None,
                "estimated_delivery": None,
                "delivered_at": day(-6),
            },
            {
                "order_number": "CT-100301",
                "carrier": None,
                "tracking_number": None,
                "shipped_at": None,
                "estimated_delivery": None,
                "delivered_at": day(-40),
            },
        ],
        "refunds": [
            {
                "number": "RF-5001",
                "brand": "cltiktok",
                "user_id": alice,
                "order_number": "CT-100236",
                "purchase_number": None,
                "status": "processing",
                "amount_cents": 3550,
                "currency": "USD",
                "requested_at": day(-4),
                "approved_at": day(-2),
                "completed_at": None,
                "reason": None,
            },
            {
                "number": "RF-5002",
                "brand": "cltiktok",
                "user_id": bob,
                "order_number": "CT-100301",
                "purchase_number": None,
                "status": "rejected",
                "amount_cents": 4200,
                "currency": "USD",
                "requested_at": day(-5),
                "approved_at": None,
                "completed_at": None,
                "reason": "requested after the return window",
            },
            {
                "number": "RF-9001",
                "brand": "ttr-e",
                "user_id": carol,
                "order_number": None,
                "purchase_number": "TT-2000",
                "status": "completed",
                "amount_cents": 47500,
                "currency": "USD",
                "requested_at": day(-58),
                "approved_at": day(-57),
                "completed_at": day(-55),
                "reason": None,
            },
        ],
        "withdrawals": [
            {
                "number": "WD-7001",
                "brand": "cltiktok",
                "user_id": sunny,
                "status": "pending",
                "amount_cents": 124000,
                "currency": "USD",
                "requested_at": day(-1),
                "paid_at": None,
            },
            {
                "number": "WD-7000",
                "brand": "cltiktok",
                "user_id": sunny,
                "status": "completed",
                "amount_cents": 98000,
                "currency": "USD",
                "requested_at": day(-17),
                "paid_at": day(-15),
            },
        ],
        "purchases": [
            {
                "number": "TT-2000",
                "brand": "ttr-e",
                "user_id": carol,
                "package": "ALL IN ONE",
                "amount_cents": 50000,
                "currency": "USD",
                "purchased_at": day(-60),
                "status": "cancelled",
                "activated_at": None,
            },
            {
                "number": "TT-2001",
                "brand": "ttr-e",
                "user_id": carol,
                "package": "ALL IN ONE",
                "amount_cents": 50000,
                "currency": "USD",
                "purchased_at": day(-3),
                "status": "paid",
                "activated_at": None,
            },
            {
                "number": "TT-2002",
                "brand": "ttr-e",
                "user_id": carol,
                "package": "TikTok Shop management",
                "amount_cents": 100000,
                "currency": "USD",
                "purchased_at": day(-30),
                "status": "active",
                "activated_at": day(-29),
            },
            {
                "number": "TT-2003",
                "brand": "ttr-e",
                "user_id": carol,
                "package": "ALL IN ONE",
                "amount_cents": 50000,
                "currency": "USD",
                "purchased_at": day(-20),
                "status": "paid",
                "activated_at": None,
            },
        ],
    }
