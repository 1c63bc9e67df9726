"""Shop-side stock rules: Specter is master, except the shop's own decrement when an order is placed.

``decrement_for_order`` is the connector's way for the shop to lower stock: a conditional UPDATE per SKU
(never below zero, never a lost update) plus a reservation row that keeps Specter's figure from handing
the same units out again until a figure from Specter includes the order. A shop that lowers stock with
its own code gets the same reservation when an order of the same transaction explains the decrement
(``stock_guard``). Specter's acknowledgement alone
does not release it: a figure fetched before the acknowledgement but applied after it does not hold the
order yet (``acknowledge_reservations``, ``settle_reservations``, ``cover_acknowledged``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import DateTime, String, bindparam, delete, exists, func, insert, select, update

from .host_columns import host_columns
from .models import Batch, Link, Reservation, ReservationAck, StockHistory, StockLevel, StockRow, conflict_insert, utcnow
from .state import get_state
from .threadflag import ThreadFlag


class OutOfStock(Exception):
    """Not enough stock for an order line; ``sku`` names it."""

    def __init__(self, sku: str, wanted: int):
        super().__init__(f"not enough stock of {sku} for {wanted}")
        self.sku = sku
        self.wanted = wanted


class StockManagedBySpecter(Exception):
    """A stock change outside the stock feed on a product that exists in Specter. The stock guard raises
    it only in one of the host's Flask-Admin model views (``stock_guard.StockEditRefused``, a form
    error there); a host's own code may raise it to refuse such an edit in its API."""

    def __init__(self, sku: str):
        super().__init__(
            f"The stock of {sku} is managed in Specter (Specter is stock master): change it there with "
            "Inleverans or Saldo-/Prisjustering, and the shop follows."
        )
        self.sku = sku


_CONNECTOR_WRITING = ThreadFlag()
# Marks stock writes made by the connector itself, which the guard lets through.
connector_stock_write = _CONNECTOR_WRITING.on

_SHOP_WRITING = ThreadFlag()

log = logging.getLogger("flask_specter.stock")


def guard_passes() -> bool:
    """The stock guard looks away: the connector writes, or the shop said so (``shop_stock_change``)."""
    return bool(_CONNECTOR_WRITING or _SHOP_WRITING)


@contextlib.contextmanager
def shop_stock_change() -> Iterator[None]:
    """Let the shop's own stock writes inside the block pass the stock guard unrecorded: for stock code
    that knowingly changes a Specter-managed product's stock outside an order (a reservation job, a
    return that Specter is told of too)::

        with flask_specter.shop_stock_change():
            product.stock -= qty
            db.session.commit()

    The session is flushed when the block ends (so a change left for a later commit is written as
    the shop's here, not judged there). The connector records nothing for these writes: Specter's next figure for the
    SKU replaces them, so use it for changes Specter also knows of, or for products Specter does not
    manage. Within an app context; re-entrant; per thread."""
    with _SHOP_WRITING.on():
        yield
        try:
            session = get_state().db.session
        except RuntimeError:  # no app context: nothing of ours to flush
            return
        session.flush()


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


def decrement_for_order(order: object) -> None:
    """Lower stock for every line of ``order`` in the caller's transaction, or raise ``OutOfStock``.

    Call after the order is flushed (it needs the order's id) and before commit; on ``OutOfStock`` roll
    back. Each SKU is one ``UPDATE … SET stock = stock - :n WHERE sku = :s AND stock >= :n``.
    """
    state = get_state()
    adapter, session = state.adapter, state.db.session
    table, sku_col, stock_col = adapter.stock_target()
    ref = adapter.order_ref(order)
    record = adapter.order_record(order)
    number = record.number or ref
    host = host_columns(table, sku_col, stock_col, state.db)  # the host's version counter moves too
    for sku, qty in sorted(record.quantities()):
        if qty <= 0:
            continue
        stmt = update(table).where(sku_col == sku, stock_col >= qty).values({stock_col.key: stock_col - qty}).returning(stock_col)
        row = session.execute(host.counted(stmt, session, sku)).first()
        if row is None:
            raise OutOfStock(sku, qty)
        new = row[0]
        host.forget_version(session, row)
        session.add(Reservation(order_ref=ref, sku=sku, qty=qty))
        session.add(StockHistory(sku=sku, old=new + qty, new=new, source="order", detail=f"order {number}"))


def release_reservations(order_ref: str) -> list[str]:
    """Drop the reservations of a cancelled or removed order at once; returns the SKUs."""
    session = get_state().db.session
    skus = list(session.execute(select(Reservation.sku).where(Reservation.order_ref == order_ref)).scalars())
    session.execute(delete(Reservation).where(Reservation.order_ref == order_ref))
    session.execute(delete(ReservationAck).where(ReservationAck.order_ref == order_ref))
    return skus


_ACK_INSERTS: dict[str, Any] = {}  # dialect name -> the acknowledgement's INSERT, built once


def acknowledge_reservations(*order_refs: str) -> None:
    """Specter acknowledged these orders (in the caller's transaction): their quantities stay held back
    until a figure that includes the order is applied; only the first acknowledgement counts."""
    if not order_refs:
        return
    session = get_state().db.session
    dialect = session.get_bind(mapper=ReservationAck.__mapper__).dialect.name
    stmt = _ACK_INSERTS.get(dialect)
    if stmt is None and (insert_ := conflict_insert(session, ReservationAck)) is not None:
        ref, at = bindparam("order_ref", type_=String()), bindparam("now", type_=DateTime())
        held = exists().where(Reservation.order_ref == ref)
        stmt = insert_.from_select(["order_ref", "acknowledged_at"], select(ref, at).where(held)).on_conflict_do_nothing(index_elements=["order_ref"])
        _ACK_INSERTS[dialect] = stmt
    if stmt is not None:  # one statement, built once, run for all (the drain acknowledges an order per row sent)
        now = utcnow()
        session.connection().execute(stmt, [{"order_ref": order_ref, "now": now} for order_ref in order_refs])
        return
    for order_ref in order_refs:
        if session.execute(select(Reservation.id).where(Reservation.order_ref == order_ref).limit(1)).first() is None:
            continue
        if session.get(ReservationAck, order_ref) is None:
            session.add(ReservationAck(order_ref=order_ref, acknowledged_at=utcnow()))


HELD_COLUMNS = (Reservation.id, Reservation.sku, Reservation.qty, Reservation.order_ref, ReservationAck.acknowledged_at, ReservationAck.covered_batch_id)


def held_reservations(sku_match: Any) -> Any:
    """The reservations of the SKUs ``sku_match`` selects, with their acknowledgements (``settle_reservations`` reads these)."""
    return select(*HELD_COLUMNS).outerjoin(ReservationAck, ReservationAck.order_ref == Reservation.order_ref).where(sku_match)


def release_statements(ids_match: Any, orders_match: Any) -> tuple[Any, Any]:
    """Delete the released reservations, then the acknowledgements left without one."""
    spent = ~exists(select(Reservation.id).where(Reservation.order_ref == ReservationAck.order_ref))
    return delete(Reservation).where(ids_match), delete(ReservationAck).where(orders_match, spent)


_HELD = held_reservations(Reservation.sku.in_(bindparam("skus", expanding=True)))  # built once: the apply runs it every chunk


def settle_reservations(figures: dict[str, tuple[int, dt.datetime | None]]) -> dict[str, int]:
    """Release the acknowledged reservations that Specter's figures include; return what stays held back.

    ``figures`` maps a SKU to (batch id, when that batch was requested; None when unknown, as for a
    batch recovered through error 99). A figure includes an order acknowledged before its batch was
    requested, or one a complete pull covered (``cover_acknowledged``).

    The stock apply calls this once per chunk: the reservations of its SKUs are read once, joined to
    their acknowledgements, and the released ones are deleted only when there are any (a shop with no
    open order pays one index lookup). Returns what stays held back, per SKU.
    """
    if not figures:
        return {}
    session = get_state().db.session
    reserved, released, orders = divide_reservations(session.execute(_HELD, {"skus": list(figures)}).all(), figures)
    if released:
        for stmt in release_statements(Reservation.id.in_(released), ReservationAck.order_ref.in_(orders)):
            session.execute(stmt.execution_options(synchronize_session=False))
    return reserved


def divide_reservations(rows: Iterable[Any], figures: dict[str, tuple[int, dt.datetime | None]]) -> tuple[dict[str, int], list[int], set[str]]:
    """Split held reservations (``HELD_COLUMNS`` rows) into what stays held back per SKU and what
    Specter's figures include: (held back per SKU, reservation ids to release, their orders)."""
    reserved: dict[str, int] = {}
    released: list[int] = []
    orders: set[str] = set()
    for row in rows:
        batch_id, fetched_at = figures[row.sku]
        acked = row.acknowledged_at is not None
        covered = row.covered_batch_id is not None and row.covered_batch_id >= batch_id
        if acked and (covered or (fetched_at is not None and row.acknowledged_at < fetched_at)):
            released.append(row.id)
            orders.add(row.order_ref)
        else:
            reserved[row.sku] = reserved.get(row.sku, 0) + int(row.qty)
    return reserved, released, orders


def cover_acknowledged(pull_started_at: dt.datetime) -> int:
    """A pull that began after these acknowledgements has drained the stock feed: release by the newest figures.

    Specter queues an order's SKUs in the stock feed when it creates the order, so once a complete pull
    that began after the acknowledgement is over, the newest stored figure of each SKU includes the
    order (even one fetched while the acknowledgement was on its way). Marks the acknowledgements
    covered up to the newest batch and queues that figure again where it was applied already, so the
    apply chain releases the reservation and writes the shop's stock. Returns the acknowledgements covered.
    """
    session = get_state().db.session
    refs = list(
        session.execute(
            select(ReservationAck.order_ref).where(ReservationAck.covered_batch_id.is_(None), ReservationAck.acknowledged_at < pull_started_at)
        ).scalars()
    )
    if not refs:
        return 0
    newest = session.execute(select(func.max(Batch.id)).where(Batch.feed == "stock")).scalar() or 0
    session.execute(update(ReservationAck).where(ReservationAck.order_ref.in_(refs)).values(covered_batch_id=newest))
    skus = set(session.execute(select(Reservation.sku).where(Reservation.order_ref.in_(refs))).scalars())
    waiting = set(session.execute(select(StockRow.sku).where(StockRow.state == "pending", StockRow.sku.in_(skus))).scalars())
    levels = session.execute(select(StockLevel).where(StockLevel.sku.in_(skus - waiting))).scalars().all()
    if levels:
        session.execute(
            insert(StockRow),
            [{"batch_id": lv.batch_id, "sku": lv.sku, "available": lv.available, "in_stock": lv.in_stock, "state": "pending"} for lv in levels],
        )
    session.commit()
    return len(refs)
