"""Apply what the article-data and orders feeds stored, and the order-removed / invoice callbacks.

Article data reaches the shop only when "Importera produkter från Specter" is on; "Importera endast
pris" limits it to prices. Order news (status, delivery, tracking, removal, invoice) updates the shop's
order; cancelling is idempotent because Specter announces a removal twice (feed and callback).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import select

from ..extension import get_state
from ..models import ArticleRow, OrderEvent
from ..outbound.listeners import suppress_outbox
from ..remote.parsing import ArticleInfo
from ..shop.adapter import ORDER_STATUS_MAP
from ..stock import connector_stock_write, release_reservations
from .activation import forget_service_article, service_article_nos

log = logging.getLogger("flask_specter.feeds")

ARTICLES_FLAG = "apply-articles-queued"
ORDERS_FLAG = "apply-orders-queued"


def _info(sku: str, data: dict) -> ArticleInfo:
    dec = lambda key: None if data.get(key) is None else Decimal(data[key])  # noqa: E731
    return ArticleInfo(
        article_no=sku,
        name=data.get("name"),
        price_excl_vat=dec("price_excl_vat"),
        buy_price=dec("buy_price"),
        bar_code=data.get("bar_code"),
        weight=dec("weight"),
        vat_percent=dec("vat_percent"),
        group_no=data.get("group_no"),
        group_name=data.get("group_name"),
        deleted=bool(data.get("deleted")),
    )


def apply_article_rows(limit: int = 500, *, follow_up: bool = True) -> dict:
    """Apply stored article rows; with importing off they are kept as 'skipped' for the record.

    At most ``limit`` rows; with more waiting, a follow-up job is queued (unless ``follow_up`` is off:
    a CLI command loops itself). Rows another worker is applying are skipped (PostgreSQL).
    """
    state = get_state()
    session = state.db.session
    options = state.settings.all()
    counts: dict[str, int] = {}
    service = service_article_nos()
    pending = select(ArticleRow).where(ArticleRow.state == "pending").order_by(ArticleRow.id).limit(limit)
    rows = session.execute(pending.with_for_update(skip_locked=True)).scalars().all()
    for row in rows:
        if row.sku in service:
            _skip_service_article(row, service[row.sku])
        elif not options["import_products"]:
            row.state, row.detail = "skipped", "Importera produkter från Specter is off"
        else:
            try:
                # Marked as Specter's own data (no echo back to Specter); the savepoint ends, and flushes,
                # while the marks are still being made, so no flush ever sees these changes unmarked.
                with suppress_outbox(), connector_stock_write(), session.begin_nested():
                    outcome = state.adapter.apply_article(_info(row.sku, row.data), options)
                row.state, row.detail = "applied", outcome
            except Exception as exc:  # one bad article must not block the others
                log.warning("article %s could not be applied: %s", row.sku, exc)
                row.state, row.detail = "failed", str(exc)[:255]
        counts[row.detail if row.state == "applied" else row.state] = counts.get(row.detail if row.state == "applied" else row.state, 0) + 1
    session.commit()
    if follow_up and len(rows) == limit:
        ensure_article_apply()
    return counts


def _skip_service_article(row: ArticleRow, label: str) -> None:
    """Shipping and discount articles exist in Specter for order rows only: never a product for sale."""
    row.state, row.detail = "skipped", f"serviceartikel ({label.lower()}): används bara på orderrader, blir ingen produkt"
    if (row.data or {}).get("deleted"):
        forget_service_article(row.sku)


def _pending(model) -> bool:
    return get_state().db.session.execute(select(model.id).where(model.state == "pending").limit(1)).first() is not None


def _ensure(model, flag: str, job: str) -> bool:
    """Queue ``job`` if ``model`` has pending rows and none is queued yet; True when this call queued it."""
    state = get_state()
    return _pending(model) and state.queue.enqueue_once(flag, job, ttl=float(state.config["SPECTER_LEASE_SECONDS"]))


def ensure_article_apply() -> bool:
    """Queue an apply of stored article rows (the sweep and the follow-up of a full round)."""
    return _ensure(ArticleRow, ARTICLES_FLAG, "flask_specter.jobs.apply_articles")


def ensure_order_apply() -> bool:
    """Queue an apply of stored order events (the sweep and the follow-up of a full round)."""
    return _ensure(OrderEvent, ORDERS_FLAG, "flask_specter.jobs.apply_order_events")


def has_pending_articles() -> bool:
    return _pending(ArticleRow)


def _find_order(order_no: str, external_no: str | None):
    adapter = get_state().adapter
    order = adapter.find_order(specter_order_no=order_no)
    if order is None and external_no:
        order = adapter.find_order(number=external_no)
    return order


def apply_order_events(limit: int = 500) -> dict:
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


def cancel_order_from_specter(order_no: str) -> dict:
    """actionRemoveOrder: cancel the shop order Specter removed (a second call changes nothing)."""
    state = get_state()
    order = _find_order(order_no, None)
    if order is None:
        return {"order_no": order_no, "result": "unknown"}
    state.adapter.apply_order_change(order, status=ORDER_STATUS_MAP[5])
    release_reservations(state.adapter.order_ref(order))
    state.db.session.commit()
    return {"order_no": order_no, "result": "cancelled"}


def record_invoice(order_no: str, invoice_id: str, invoice_source: str | None = None) -> dict:
    """actionNewInvoice: remember Specter's invoice on the shop order."""
    state = get_state()
    order = _find_order(order_no, None)
    if order is None:
        return {"order_no": order_no, "result": "unknown"}
    state.adapter.apply_order_change(order, invoice_id=invoice_id)
    state.db.session.commit()
    return {"order_no": order_no, "invoice_id": invoice_id, "source": invoice_source}
