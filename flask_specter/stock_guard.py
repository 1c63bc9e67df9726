"""The stock guard: the shop's own stock writes on Specter-managed products, judged once per transaction.

Specter is the stock master, but a shop's checkout or payment code often lowers stock itself. The guard
watches every flush of a transaction (``_watch``: the stock changes of the product model, and the orders
and order lines it writes) and judges the whole transaction when it commits (``_judge``), whatever the
order of its flushes: an order flushed before its lines, a decrement written by an autoflush before the
order changes, lines behind a ``lazy="dynamic"`` relationship. Each decrement is matched to the orders of
the transaction through ``adapter.order_record(order).quantities()`` (so a kit's component rows count):

- for an order Specter does not have yet, a reservation holds the quantity against Specter's figures
  until one includes the order (as ``decrement_for_order`` does);
- for an order Specter has already (it reserved the units when the order arrived), the shop's second
  decrement is undone, so each unit is counted once.

Whatever no order explains (a manual edit, a rise, a script) is never raised into the host's commit: it
is recorded (``UnexplainedStock`` and the SKU's history), shown on the status page, and Specter's next
figure for the SKU replaces it. The one exception is an admin's form: in a request served by one of the
host's Flask-Admin model views the commit raises ``StockEditRefused``, a ``wtforms.ValidationError``,
which Flask-Admin shows as a form error while the form stays filled in.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_request_context, request
from sqlalchemy import inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from wtforms.validators import ValidationError

from .i18n import gettext as _
from .models import Link, Reservation, StockHistory, UnexplainedStock
from .state import get_state
from .stock import StockManagedBySpecter, connector_stock_write, guard_passes, managed_skus

log = logging.getLogger("flask_specter.stock")

CHANGES = "specter_stock_changes"  # session.info: sku -> [product, first old, latest new] in this transaction
TOUCHED = "specter_orders_touched"  # session.info: id(obj) -> an order or order line this transaction wrote


class StockEditRefused(StockManagedBySpecter, ValidationError):
    """A stock edit in one of the host's Flask-Admin model views on a product Specter manages: a form
    error there (Flask-Admin flashes a ``ValidationError`` and keeps the form), never a 500."""

    def __init__(self, sku: str):
        super().__init__(sku)
        self.args = (
            _(
                "Lagersaldot för %(sku)s styrs av Specter och ändras inte här: gör ändringen i Specter "
                "(Inleverans eller Saldo-/Prisjustering), så följer butiken efter.",
                sku=sku,
            ),
        )


def _watch(session: Session, flush_context: UOWTransaction, instances: object) -> None:  # noqa: ARG001
    """before_flush: note the stock changes of the product model and the orders and lines written."""
    try:
        adapter = get_state().adapter
    except RuntimeError:  # no app context, or an app without the extension: not ours to guard
        return
    dirty = list(session.dirty)  # each read of ``session.dirty`` builds a new set
    kinds = tuple(m for m in (adapter.order_model, adapter.line_model) if m is not None)
    if kinds:
        touched: dict[int, Any] = session.info.setdefault(TOUCHED, {})
        for obj in (*session.new, *dirty, *session.deleted):
            if isinstance(obj, kinds):
                touched[id(obj)] = obj
    if guard_passes():
        return
    model, stock_attr = adapter.product_model, adapter.product_attribute("stock")
    if model is None or stock_attr is None:
        return
    for obj in dirty:
        if isinstance(obj, model):
            hist = inspect(obj).attrs[stock_attr].history
            if not hist.has_changes() or not (hist.deleted or hist.added):
                continue
            changes: dict[str, list[Any]] = session.info.setdefault(CHANGES, {})
            new = hist.added[0] if hist.added else None
            sku = adapter.product_sku(obj)
            if sku in changes:
                changes[sku][2] = new
            else:
                changes[sku] = [obj, hist.deleted[0] if hist.deleted else _stored_stock(session, adapter, sku), new]


def _stored_stock(session: Session, adapter: Any, sku: str) -> Any:
    """The stock the database holds for ``sku``: the old value of a stock set on an expired product
    (after a commit), which the ORM does not load before it writes."""
    _table, sku_col, stock_col = adapter.stock_target()
    with session.no_autoflush:
        return session.execute(select(stock_col).where(sku_col == sku)).scalar()


def _judge(session: Session) -> None:
    """before_commit: match the transaction's stock changes to its orders; record what none explains."""
    if session.info.get(CHANGES) is None and not session.dirty:
        return
    session.flush()  # the commit's last flush, here, so what it writes is judged too
    changes = session.info.pop(CHANGES, None)
    touched = session.info.pop(TOUCHED, None) or {}
    if not changes:
        return
    try:
        state = get_state()
    except RuntimeError:
        return
    try:
        with session.no_autoflush:
            _settle(session, state.adapter, changes, list(touched.values()))
    except (StockEditRefused, DBAPIError):
        raise
    except Exception:  # the guard's own fault must not fail the shop's commit: logged, the change stands
        log.exception("stock guard: the transaction's stock changes could not be judged; they stand unrecorded")


def _settle(session: Session, adapter: Any, changes: dict[str, list[Any]], touched: list[Any]) -> None:
    stock_attr = adapter.product_attribute("stock")
    current = {sku: _now(product, stock_attr, new) for sku, (product, _old, new) in changes.items()}
    moved = {sku: (product, _int(old), current[sku]) for sku, (product, old, _new) in changes.items() if _int(old) != current[sku]}
    managed = sorted(managed_skus(moved)) if moved else []
    if not managed:
        return
    orders = _orders_of(adapter, touched)
    wanted = _still_wanted(session, adapter, orders)
    refs = [ref for ref, _order, _want in wanted]
    in_specter = set(session.execute(select(Link.local_id).where(Link.kind == "order", Link.local_id.in_(refs))).scalars()) if refs else set()
    unexplained: list[tuple[str, int | None, int | None, int]] = []
    for sku in managed:
        product, old, new = moved[sku]
        if old is None or new is None:
            unexplained.append((sku, old, new, 0))
            continue
        left = old - new
        explained = left > 0
        undo = 0
        for ref, order, want in wanted if explained else ():
            take = min(want.get(sku, 0), left)
            if take <= 0:
                continue
            want[sku] -= take
            left -= take
            if ref in in_specter:
                undo += take  # Specter's figure holds this order already
                log.info("stock of %s: the shop's decrement for order %s is counted by Specter already; undone", sku, ref)
            else:
                number = adapter.order_number(order) or ref
                session.add(Reservation(order_ref=ref, sku=sku, qty=take))
                session.add(StockHistory(sku=sku, old=new + take, new=new, source="order", detail=f"order {number} (the shop's own decrement)"))
            if left == 0:
                break
        if undo:
            with connector_stock_write():
                setattr(product, stock_attr, int(getattr(product, stock_attr)) + undo)
                session.flush()
        if not explained or left:
            unexplained.append((sku, old, new, (new - old) if not explained else -left))
    if unexplained:
        _unexplained(session, unexplained)


def _unexplained(session: Session, rows: list[tuple[str, int | None, int | None, int]]) -> None:
    """Refused in a Flask-Admin model view's request; anywhere else recorded and let through."""
    if _in_admin_model_view():
        raise StockEditRefused(rows[0][0])
    where = f"{request.method} {request.path}"[:200] if has_request_context() else "no request"
    for sku, old, new, qty in rows:
        session.add(UnexplainedStock(sku=sku, old=old, new=new, unexplained=qty, detail=where))
        session.add(StockHistory(sku=sku, old=old, new=new if new is not None else 0, source="unexplained", detail=f"no order explains it ({where})"[:255]))
        log.warning("stock of %s changed %s -> %s by the shop with no order to explain %+d (%s): recorded; Specter's next figure replaces it", sku, old, new, qty, where)


def _orders_of(adapter: Any, touched: list[Any]) -> list[Any]:
    """The orders this transaction wrote, or wrote a line of, each once (oldest reference first)."""
    omodel, lmodel = adapter.order_model, adapter.line_model
    found: dict[str, Any] = {}
    for obj in touched:
        if omodel is not None and isinstance(obj, omodel):
            if inspect(obj).deleted or inspect(obj).was_deleted:
                continue
            found.setdefault(str(adapter.order_ref(obj)), obj)
        elif lmodel is not None and isinstance(obj, lmodel):
            ref = adapter.line_order_ref(obj)
            if ref is not None and str(ref) not in found:
                order = adapter.get_order(str(ref))
                if order is not None:
                    found[str(ref)] = order
    return [found[ref] for ref in sorted(found, key=lambda r: (len(r), r))]


def _still_wanted(session: Session, adapter: Any, orders: list[Any]) -> list[tuple[str, Any, dict[str, int]]]:
    """Per order: (ref, order, quantity per SKU not held by a reservation of it yet)."""
    out: list[tuple[str, Any, dict[str, int]]] = []
    refs = [str(adapter.order_ref(order)) for order in orders]
    held: dict[tuple[str, str], int] = {}
    if refs:
        for ref, sku, qty in session.execute(select(Reservation.order_ref, Reservation.sku, Reservation.qty).where(Reservation.order_ref.in_(refs))):
            held[(ref, sku)] = held.get((ref, sku), 0) + int(qty)
    for ref, order in zip(refs, orders, strict=True):
        want = {sku: int(qty) - held.get((ref, sku), 0) for sku, qty in adapter.order_record(order).quantities()}
        out.append((ref, order, want))
    return out


def _in_admin_model_view() -> bool:
    """The request is served by a Flask-Admin model view (an admin saving a form)."""
    if not has_request_context() or not request.blueprint:
        return False
    try:
        from flask_admin.model import BaseModelView
    except ImportError:  # pragma: no cover - Flask-Admin is a dependency
        return False
    for admin in current_app.extensions.get("admin", []) or []:
        for view in getattr(admin, "_views", []):
            blueprint = getattr(view, "blueprint", None)
            if isinstance(view, BaseModelView) and blueprint is not None and blueprint.name == request.blueprint:
                return True
    return False


def _now(product: Any, stock_attr: str, written: Any) -> int | None:
    """The product's stock as the transaction leaves it (loaded after the last flush: also right for a
    stock written as an SQL expression, ``Product.stock - qty``)."""
    try:
        return _int(getattr(product, stock_attr))
    except Exception:  # deleted or detached meanwhile: what the last flush wrote
        return _int(written)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _forget(session: Session, transaction: SessionTransaction) -> None:
    """after_transaction_end: the outermost transaction is over, and with it what the guard noted."""
    if transaction.parent is None:
        session.info.pop(CHANGES, None)
        session.info.pop(TOUCHED, None)


def install_stock_guard(state: Any) -> None:
    """Once per session factory, however many apps share the host's ``db``; the guard finds its app."""
    from sqlalchemy import event

    for name, fn in (("before_flush", _watch), ("before_commit", _judge), ("after_transaction_end", _forget)):
        if not event.contains(state.db.session, name, fn):
            event.listen(state.db.session, name, fn)
