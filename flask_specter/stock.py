"""Shop-side stock rules: Specter is master, except the shop's own decrement when an order is placed.

``decrement_for_order`` is the only way the shop lowers stock: a conditional UPDATE per SKU (never
below zero, never a lost update) plus a reservation row that keeps Specter's figure from handing the
same units out again until Specter acknowledges the order.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, event, func, inspect, select, update

from .extension import get_state
from .models import Link, Reservation, StockHistory, StockLevel
from .threadflag import ThreadFlag


class OutOfStock(Exception):
    """Not enough stock for an order line; ``sku`` names it."""

    def __init__(self, sku: str, wanted: int):
        super().__init__(f"not enough stock of {sku} for {wanted}")
        self.sku = sku
        self.wanted = wanted


class StockManagedBySpecter(Exception):
    """A stock change outside the stock feed on a product that exists in Specter."""

    def __init__(self, sku: str):
        super().__init__(
            f"The stock of {sku} is managed in Specter (Specter is stock master): change it there with "
            "Inleverans or Saldo-/Prisjustering, and the shop follows."
        )
        self.sku = sku


_CONNECTOR_WRITING = ThreadFlag()
# Marks stock writes made by the connector itself, which the guard lets through.
connector_stock_write = _CONNECTOR_WRITING.on


def is_specter_managed(sku: str) -> bool:
    """True once the article exists in Specter: pushed to it, or seen in its stock feed."""
    db = get_state().db
    if db.session.get(StockLevel, sku) is not None:
        return True
    return db.session.execute(select(Link.id).where(Link.kind == "product", Link.local_id == sku)).first() is not None


def managed_skus(skus: Iterable[str]) -> set[str]:
    db = get_state().db
    skus = list(skus)
    if not skus:
        return set()
    found = set(db.session.execute(select(StockLevel.sku).where(StockLevel.sku.in_(skus))).scalars())
    found |= set(db.session.execute(select(Link.local_id).where(Link.kind == "product", Link.local_id.in_(skus))).scalars())
    return found


def decrement_for_order(order) -> None:
    """Lower stock for every line of ``order`` in the caller's transaction, or raise ``OutOfStock``.

    Call after the order is flushed (it needs the order's id) and before commit; on ``OutOfStock`` roll
    back. Each SKU is one ``UPDATE … SET stock = stock - :n WHERE sku = :s AND stock >= :n``.
    """
    state = get_state()
    adapter, session = state.adapter, state.db.session
    table, sku_col, stock_col = adapter.stock_target()
    ref = adapter.order_ref(order)
    number = getattr(order, "number", None) or ref
    for sku, qty in sorted(adapter.order_lines(order)):
        if qty <= 0:
            continue
        result = session.execute(
            update(table).where(sku_col == sku, stock_col >= qty).values({stock_col.key: stock_col - qty}).returning(stock_col)
        )
        new = result.scalar_one_or_none()
        if new is None:
            raise OutOfStock(sku, qty)
        session.add(Reservation(order_ref=ref, sku=sku, qty=qty))
        session.add(StockHistory(sku=sku, old=new + qty, new=new, source="order", detail=f"order {number}"))


def release_reservations(order_ref: str) -> list[str]:
    """Drop the reservations of an order Specter acknowledged (or that was cancelled); returns the SKUs."""
    session = get_state().db.session
    skus = list(session.execute(select(Reservation.sku).where(Reservation.order_ref == order_ref)).scalars())
    session.execute(delete(Reservation).where(Reservation.order_ref == order_ref))
    return skus


def reserved_quantities(skus: Iterable[str]) -> dict[str, int]:
    """Quantities of shop orders Specter has not acknowledged yet, per SKU."""
    skus = list(skus)
    if not skus:
        return {}
    session = get_state().db.session
    rows = session.execute(
        select(Reservation.sku, func.sum(Reservation.qty)).where(Reservation.sku.in_(skus)).group_by(Reservation.sku)
    )
    return {sku: int(total) for sku, total in rows}


def _stock_guard(session, flush_context, instances) -> None:  # noqa: ARG001
    """before_flush: a stock change on a Specter-managed product must come from the connector."""
    if _CONNECTOR_WRITING:
        return
    try:
        adapter = get_state().adapter
    except RuntimeError:  # no app context, or an app without the extension: not ours to guard
        return
    model = getattr(adapter, "product_model", None)
    if model is None or not hasattr(adapter, "pf"):
        return
    stock_attr = adapter.pf["stock"]
    changed = []
    for obj in session.dirty:
        if isinstance(obj, model):
            hist = inspect(obj).attrs[stock_attr].history
            if hist.has_changes() and hist.deleted:
                changed.append(adapter.product_sku(obj))
    managed = managed_skus(changed) if changed else set()
    if managed:
        raise StockManagedBySpecter(sorted(managed)[0])


def install_stock_guard(state) -> None:
    """Once per session factory, however many apps share the host's ``db``; the guard finds its app."""
    if not event.contains(state.db.session, "before_flush", _stock_guard):
        event.listen(state.db.session, "before_flush", _stock_guard)
