"""Payment: the provider's notification marks the order paid; the paid quantities leave the stock and
the allocation together."""

from __future__ import annotations

import datetime as dt

from .cache import get_cache
from .models import Order, OrderStatus, db


def confirm_payment(order: Order, transaction_id: str) -> bool:
    """Mark ``order`` paid (once: a repeated notification changes nothing); False when it was paid already."""
    if order.paid:
        return False
    for line in order.lines:
        line.variant.stock -= line.quantity
        line.variant.allocated -= line.quantity
    order.paid = True
    order.paid_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    order.payment_reference = transaction_id
    order.status = OrderStatus.PAID
    db.session.commit()
    get_cache().forget_products(line.variant.product_id for line in order.lines)
    return True
