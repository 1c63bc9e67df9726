"""A product whose SKU Specter cannot take (``sku.py``): the host's save goes through, the product is not
sent, and one failed outbox row says why, in Swedish, on the admin's Utkorg."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import REF_LENGTH, OutboxEntry, utcnow
from ..sku import sku_problem


def refuse_product_row(session: Session, op: str, sku: str) -> bool:
    """True when ``sku`` cannot go to Specter: then a failed row is recorded in its place (once per SKU;
    none for a delete, the article was never in Specter). The outbox holds ``REF_LENGTH`` characters of
    a SKU; a longer one is named in full in the reason."""
    problem = sku_problem(sku)
    if problem is None:
        return False
    if op == "delete":
        return True
    ref = sku[:REF_LENGTH]
    for obj in session.new:
        if isinstance(obj, OutboxEntry) and obj.kind == "product" and obj.ref == ref and obj.state == "failed":
            return True
    with session.no_autoflush:
        if session.execute(select(OutboxEntry.id).where(OutboxEntry.kind == "product", OutboxEntry.ref == ref, OutboxEntry.state == "failed")).first():
            return True
    reason = problem.message_sv if ref == sku else f"{problem.message_sv} SKU: {sku}"
    session.add(OutboxEntry(kind="product", op="create", ref=ref, state="failed", permanent=True, attempts=0, last_error=reason, failed_at=utcnow()))
    return True
