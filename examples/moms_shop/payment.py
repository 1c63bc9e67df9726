"""The payment provider's return: the buyer comes back with a transaction id; the order is paid and its
receipt (the moms of each VAT rate) is logged for the bookkeeping."""

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
    moms: dict[Decimal, Decimal] = {}
    for line in order.lines:  # a query: it flushes the status first
        for _sku, qty, price, vat in line.shipments():
            moms[vat] = moms.get(vat, Decimal("0")) + price * qty * vat / (100 + vat)
    receipt = ", ".join(f"moms {rate:g} %: {amount:.2f} kr" for rate, amount in sorted(moms.items()))
    log.info("order %s paid (transaction %s); %s", order.number, transaction_id, receipt)
    db.session.commit()
    return True
