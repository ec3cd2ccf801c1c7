"""The demo data of shared/spec/demo-data.md, with dates relative to the
moment of seeding so the demo stays true whenever it is started."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from .auth import hash_password
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


@lru_cache(maxsize=None)
def _demo_hash(password: str) -> str:
    # argon2 is slow on purpose; the demo passwords are hashed once per process.
    return hash_password(password)


def demo_rows(now: datetime) -> dict[str, list[dict[str, Any]]]:
    def day(offset: int) -> str:
        return isoformat(now + timedelta(days=offset))

    users = []
    ids: dict[str, int] = {}
    for number, (brand, role, email, password, name) in enumerate(ACCOUNTS, start=1):
        users.append({"id": number, "brand": brand, "email": email, "name": name, "role": role,
                      "password_hash": _demo_hash(password), "created_at": day(-90),
                      "password_changed_at": day(-90)})
        ids[email.split("@")[0]] = number
    alice, bob, sunny, carol = ids["alice"], ids["bob"], ids["sunny"], ids["carol"]

    def order(number, owner, status, items, total, created, notes=""):
        return {"number": number, "brand": "cltiktok", "user_id": owner, "status": status,
                "items": json.dumps(items), "total_cents": total, "currency": "USD",
                "created_at": day(created), "updated_at": day(created), "notes": notes}

    def item(name, quantity=1):
        return {"name": name, "quantity": quantity}

    return {
        "users": users,
        "orders": [
            order("CT-100234", alice, "shipped", [item("wireless earbuds")], 4999, -4),
            order("CT-100235", alice, "processing", [item("phone case", 2)], 1800, -2),
            order("CT-100236", alice, "delivered", [item("desk lamp")], 3550, -10),
            order("CT-100300", bob, "pending_payment", [item("sneakers")], 8900, 0,
                  notes="payment failed once today"),
            order("CT-100301", bob, "delivered", [item("backpack")], 4200, -45),
        ],
        "shipments": [
            {"order_number": "CT-100234", "carrier": "UPS", "tracking_number": "1Z999AA10123456784",
             "shipped_at": day(-2), "estimated_delivery": day(2), "delivered_at": None},
            {"order_number": "CT-100236", "carrier": None, "tracking_number": None,
             "shipped_at": None, "estimated_delivery": None, "delivered_at": day(-6)},
            {"order_number": "CT-100301", "carrier": None, "tracking_number": None,
             "shipped_at": None, "estimated_delivery": None, "delivered_at": day(-40)},
        ],
        "refunds": [
            {"number": "RF-5001", "brand": "cltiktok", "user_id": alice, "order_number": "CT-100236",
             "purchase_number": None, "status": "processing", "amount_cents": 3550, "currency": "USD",
             "requested_at": day(-4), "approved_at": day(-2), "completed_at": None, "reason": None},
            {"number": "RF-5002", "brand": "cltiktok", "user_id": bob, "order_number": "CT-100301",
             "purchase_number": None, "status": "rejected", "amount_cents": 4200, "currency": "USD",
             "requested_at": day(-5), "approved_at": None, "completed_at": None,
             "reason": "requested after the return window"},
            {"number": "RF-9001", "brand": "ttr-e", "user_id": carol, "order_number": None,
             "purchase_number": "TT-2000", "status": "completed", "amount_cents": 47500, "currency": "USD",
             "requested_at": day(-58), "approved_at": day(-57), "completed_at": day(-55), "reason": None},
        ],
        "withdrawals": [
            {"number": "WD-7001", "brand": "cltiktok", "user_id": sunny, "status": "pending",
             "amount_cents": 124000, "currency": "USD", "requested_at": day(-1), "paid_at": None},
            {"number": "WD-7000", "brand": "cltiktok", "user_id": sunny, "status": "completed",
             "amount_cents": 98000, "currency": "USD", "requested_at": day(-17), "paid_at": day(-15)},
        ],
        "purchases": [
            {"number": "TT-2000", "brand": "ttr-e", "user_id": carol, "package": "ALL IN ONE",
             "amount_cents": 50000, "currency": "USD", "purchased_at": day(-60), "status": "cancelled",
             "activated_at": None},
            {"number": "TT-2001", "brand": "ttr-e", "user_id": carol, "package": "ALL IN ONE",
             "amount_cents": 50000, "currency": "USD", "purchased_at": day(-3), "status": "paid",
             "activated_at": None},
            {"number": "TT-2002", "brand": "ttr-e", "user_id": carol, "package": "TikTok Shop management",
             "amount_cents": 100000, "currency": "USD", "purchased_at": day(-30), "status": "active",
             "activated_at": day(-29)},
            {"number": "TT-2003", "brand": "ttr-e", "user_id": carol, "package": "ALL IN ONE",
             "amount_cents": 50000, "currency": "USD", "purchased_at": day(-20), "status": "paid",
             "activated_at": None},
        ],
    }
