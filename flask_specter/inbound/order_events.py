"""Apply what the orders feed stored (status, delivery, tracking) and the order-removed / invoice callbacks.

Cancelling is idempotent because Specter announces a removal twice (feed and callback).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..models import OrderEvent
from ..queue import job
from ..shop.adapter import ORDER_STATUS_MAP
from ..state import get_state
from ..stock import release_reservations
from .feed_rows import enqueue_apply

ORDERS_FLAG = "apply-orders-queued"


@job
def apply_order_events_job() -> dict[str, int]:
    """The job: apply stored order events (an event stored from its start on queues one more job)."""
    get_state().queue.clear_flag(ORDERS_FLAG)
    return apply_order_events()


def ensure_order_apply() -> bool:
    """Queue an apply of stored order events (the sweep and the follow-up of a full round)."""
    return enqueue_apply(OrderEvent, ORDERS_FLAG, apply_order_events_job)


def _find_order(order_no: str, external_no: str | None) -> Any:
    adapter = get_state().adapter
    order = adapter.find_order(specter_order_no=order_no)
    if order is None and external_no:
        order = adapter.find_order(number=external_no)
    return order


def apply_order_events(limit: int = 500) -> dict[str, Any]:
    state = get_state()
    session = state.db.session
    counts = {"applied": 0, "unknown": 0}
    pending = select(OrderEvent).where(OrderEvent.state == "pending").order_by(OrderEvent.id).limit(limit)
    events = session.execute(pending.with_for_update(skip_locked=True)).scalars().all()
    for event in events:
        order = _find_order(event.order_no, event.external_order_no)
        if order is None:
            event.state, event.detail = "unknown", "no such order in the shop"
            counts["unknown"] += 1
            continue
        data = event.data or {}
        status_id = data.get("status_id")
        status = ORDER_STATUS_MAP.get(status_id) if status_id is not None else None
        if data.get("delivery_status") == "D" and status_id != 5:
            status = ORDER_STATUS_MAP[4]
        tracking = (data.get("tracking_nos") or [None])[-1]
        state.adapter.apply_order_change(order, status=status, tracking_no=tracking)
        if status_id == 5:
            release_reservations(state.adapter.order_ref(order))
        event.state = "applied"
        counts["applied"] += 1
    session.commit()
    if len(events) == limit:
        ensure_order_apply()
    return counts


@job
def cancel_order_from_specter(order_no: str) -> dict[str, Any]:
    """actionRemoveOrder: cancel the shop order Specter removed (a second call changes nothing)."""
    state = get_state()
    order = _find_order(order_no, None)
    if order is None:
        return {"order_no": order_no, "result": "unknown"}
    state.adapter.apply_order_change(order, status=ORDER_STATUS_MAP[5])
    release_reservations(state.adapter.order_ref(order))
    state.db.session.commit()
    return {"order_no": order_no, "result": "cancelled"}


@job
def record_invoice(order_no: str, invoice_id: str, invoice_source: str | None = None) -> dict[str, Any]:
    """actionNewInvoice: remember Specter's invoice on the shop order."""
    state = get_state()
    order = _find_order(order_no, None)
    if order is None:
        return {"order_no": order_no, "result": "unknown"}
    state.adapter.apply_order_change(order, invoice_id=invoice_id)
    state.db.session.commit()
    return {"order_no": order_no, "invoice_id": invoice_id, "source": invoice_source}
