"""What a pull stores for each feed: the row table and the values of a row, and how a page of stock
rows is inserted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, scoped_session

from ..bulk_sql import BulkInsert
from ..models import ArticleRow, OrderEvent, StockRow

STOCK_KEYS = ["batch_id", "sku", "available", "in_stock", "state"]


def stock_insert(session: Session | scoped_session[Any]) -> BulkInsert:
    """A page of stock rows in one statement (``bulk_sql``: ``unnest`` on PostgreSQL, the driver's
    executemany on SQLite): through the ORM each row cost its own parameter handling, and on PostgreSQL
    its own INSERT (about 1 s of a 100k pull, measured)."""
    return BulkInsert(session.get_bind().dialect.name, StockRow.__table__, STOCK_KEYS)  # type: ignore[arg-type]


def _stock_values(batch_id: int, r: Any) -> dict[str, Any]:
    return {"batch_id": batch_id, "sku": r.article_no, "available": r.available, "in_stock": r.in_stock, "state": "pending"}


def _article_values(batch_id: int, a: Any) -> dict[str, Any]:
    return {"batch_id": batch_id, "sku": a.article_no, "data": _article_json(a)}


def _order_values(batch_id: int, o: Any) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "order_no": o.order_no,
        "external_order_no": o.external_order_no,
        "data": {"status_id": o.status_id, "delivery_status": o.delivery_status, "tracking_nos": list(o.tracking_nos)},
    }


ROW_MODEL: dict[str, Any] = {"stock": StockRow, "articles": ArticleRow, "orders": OrderEvent}
ROW_VALUES = {"stock": _stock_values, "articles": _article_values, "orders": _order_values}


def _article_json(a: Any) -> dict[str, Any]:
    return {
        "name": a.name,
        "price_excl_vat": None if a.price_excl_vat is None else str(a.price_excl_vat),
        "buy_price": None if a.buy_price is None else str(a.buy_price),
        "bar_code": a.bar_code,
        "weight": None if a.weight is None else str(a.weight),
        "vat_percent": None if a.vat_percent is None else str(a.vat_percent),
        "group_no": a.group_no,
        "group_name": a.group_name,
        "deleted": a.deleted,
    }
