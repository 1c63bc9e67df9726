"""The payment provider's return: the buyer comes back with a transaction id; the order is paid."""

from __future__ import annotations

import logging
from decimal import Decimal

from .models import Order, db, now

log = logging.getLogger(__name__)


def payment_returned(order: Order, transaction_id: str) -> bool:
    """Mark ``order`` paid (once: the buyer may reload the page); False when it was paid already."""
    if order.status != "ny":
        return False
    order.status = "betald"
    order.transaction_id = transaction_id
    order.paid_at = now()
    paid = sum((line.total for line in order.lines), Decimal("0")) + order.shipping_price  # the lines' query autoflushes
    log.info("order %s paid: %s kr, transaction %s", order.number, paid, transaction_id)
    db.session.commit()
    return True
