"""Apply what the orders feed stored (status, delivery, tracking) and the order-removed / invoice callbacks.

Cancelling is idempotent because Specter announces a removal twice (feed and callback).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from ..models import Link, OrderEvent
from ..queue import job
from ..shop.adapter import ORDER_STATUS_MAP
from ..state import SpecterState, get_state
from ..stock import release_reservations
from .feed_rows import enqueue_apply

ORDERS_FLAG = "apply-orders-queued"
SHIPPED, CANCELLED = ORDER_STATUS_MAP[4], ORDER_STATUS_MAP[5]

log = logging.getLogger("flask_specter.orders")


@job
def apply_order_events_job() -> dict[str, int]:
    """The job: apply stored order events (an event stored from its start on queues one more job)."""
    get_state().queue.clear_flag(ORDERS_FLAG)
    return apply_order_events()


def ensure_order_apply() -> bool:
    """Queue an apply of stored order events (the sweep and the follow-up of a full round)."""
    return enqueue_apply(OrderEvent, ORDERS_FLAG, apply_order_events_job)


def _find_order(order_no: str, external_no: str | None) -> Any:
    """The shop's order for Specter's ``order_no``: by the link table (every order the connector sent),
    then by the adapter (a Specter number the shop stored itself, or the shop's order number)."""
    state = get_state()
    adapter = state.adapter
    order = None
    local_ids = state.db.session.execute(
        select(Link.local_id).where(Link.kind == "order", Link.remote_id == str(order_no)).order_by(Link.id.desc())
    ).scalars().all()
    for local_id in local_ids:
        order = adapter.get_order(local_id)
        if order is not None:
            return order
    order = adapter.find_order(specter_order_no=order_no)
    if order is None and external_no:
        order = adapter.find_order(number=external_no)
    return order


def _shop_status(state: SpecterState, name: str | None) -> tuple[Any | None, str | None]:
    """(the shop's value for Specter's status ``name``, or None; what to record when it has none)."""
    if name is None:
        return None, None
    value = state.adapter.order_status(name)
    if value is None:
        return None, f"status {name} has no shop value"
    return value, None


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
        name = ORDER_STATUS_MAP.get(status_id) if status_id is not None else None
        if data.get("delivery_status") == "D" and status_id != 5:
            name = SHIPPED
        status, unmapped = _shop_status(state, name)
        tracking = (data.get("tracking_nos") or [None])[-1]
        state.adapter.apply_order_change(order, status=status, tracking_no=tracking)
        if status_id == 5:
            release_reservations(state.adapter.order_ref(order))
        event.state = "applied"
        if unmapped:
            event.detail = unmapped
            log.info("order event %s (Specter order %s): %s; the shop's status is left alone", event.id, event.order_no, unmapped)
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
    status, unmapped = _shop_status(state, CANCELLED)
    if status is not None:
        state.adapter.apply_order_change(order, status=status)
    release_reservations(state.adapter.order_ref(order))
    state.db.session.commit()
    if unmapped:
        log.info("order removed in Specter (order %s): %s; the shop's status is left alone", order_no, unmapped)
        return {"order_no": order_no, "result": "removed", "detail": unmapped}
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
