"""One order per checkout: the key a checkout form carries, stored with a unique constraint.

A double click, a retried POST or two requests racing with the same session and form all carry the same
key; the database lets one of them insert it, and the others find the order it belongs to.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from .models import Order, db

KEY_FORMAT = re.compile(r"[A-Za-z0-9_-]{16,64}")


class CheckoutKey(db.Model):
    __tablename__ = "checkout_key"
    key = db.Column(db.String(64), primary_key=True)
    order_id = db.Column(db.Integer, db.ForeignKey("order.id", ondelete="CASCADE"), nullable=True, index=True)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=lambda: datetime.now(UTC))


def new_key() -> str:
    return secrets.token_urlsafe(24)


def valid_key(value: str | None) -> str | None:
    """``value`` when it looks like a key this shop hands out, else None."""
    return value if value and KEY_FORMAT.fullmatch(value) else None


def claim(key: str) -> CheckoutKey:
    """Insert the key now (flushed), so a second checkout with it waits here and then fails."""
    row = CheckoutKey(key=key)
    db.session.add(row)
    db.session.flush()
    return row


def order_for_key(key: str) -> Order | None:
    """The order an earlier checkout with ``key`` placed (None when there is none)."""
    return db.session.execute(select(Order).join(CheckoutKey, CheckoutKey.order_id == Order.id).where(CheckoutKey.key == key)).scalar_one_or_none()
