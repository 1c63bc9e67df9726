"""SQLAlchemy events on the shop's models -> outbox rows in the same transaction.

The listeners are module-level functions on the host's session; they find the app's state through
``current_app`` and do nothing without an app context or for objects that are not the adapter's
models. Rows are written inside the shop's own transaction (a rollback takes them away too); a drain
is nudged only after commit, and a nudge that fails (Redis down) is logged and left to the sweep,
so checkout never waits on the queue.

The checkout is the hot path: the row of a new order or customer is one plain INSERT (no second ORM
flush, no look for a pending twin: the record is new), sent on PostgreSQL with the transaction's COMMIT
(``held_rows``), and the commit costs at most one Redis ``SET NX`` (see ``relay.nudge_drain``).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import Dialect, Table, event, insert, inspect, select
from sqlalchemy.orm import Session, UOWTransaction

from ..bulk_sql import Executemany
from ..models import Link, OutboxEntry, utcnow
from ..origin import (
    SPECTER_VALUES,
    TRANSFER_ONLY,
    forget_marks,
    from_specter,
    install_value_marks,
    marks,
    remember_specter_object,
    writing_for_specter,
)
from ..shop.adapter import ARTICLE_FIELDS, Dependency, ShopAdapter
from ..sku import check_sku
from ..state import SpecterState, get_state
from .bad_skus import refuse_product_row
from .held_rows import held, hold
from .readiness import wake_orders
from .related_inserts import inserted_dependents

log = logging.getLogger("flask_specter.outbox")

NUDGE = "specter_outbox_nudge"  # session.info key: this transaction wrote or woke outbox rows

def install_hooks(state: SpecterState) -> None:
    """Listen on the host's session; safe to call for several apps sharing one ``db``."""
    from ..stock_guard import install_stock_guard

    install_stock_guard(state)
    install_value_marks(state.adapter)
    session = state.db.session
    for name, fn in (
        ("before_flush", _before_flush),
        ("after_flush", _after_flush),
        ("after_commit", _after_commit),
        ("after_rollback", _after_rollback),
        ("before_attach", remember_specter_object),
    ):
        if not event.contains(session, name, fn):
            event.listen(session, name, fn)


def _state_for(session: Session) -> SpecterState | None:
    """The app's state when ``session`` belongs to it, else None (no app context, another db)."""
    try:
        state = get_state()
    except RuntimeError:
        return None
    factory = getattr(state.db.session, "session_factory", None)
    if factory is not None and not isinstance(session, factory.class_):
        return None
    return state


def _changed(obj: Any, attrs: list[str]) -> bool:
    """True when one of ``attrs`` changed to a value other than the one Specter wrote (if any).

    Only an attribute set since the object was loaded has an old value in ``committed_state``: the
    others are passed over without building their history (the drain's records set one attribute of
    each customer and order, and the flush looks at every column of them)."""
    insp = inspect(obj)
    candidates = [attr for attr in attrs if attr in insp.committed_state]
    if not candidates:
        return False
    specter = marks(obj).get(SPECTER_VALUES, {})
    for attr in candidates:
        if attr in insp.attrs and insp.attrs[attr].history.has_changes():
            hist = insp.attrs[attr].history
            if list(hist.added) == list(hist.deleted):
                continue
            if attr in specter and list(hist.added) == [specter[attr]]:
                continue  # Specter's own value: it is in Specter already
            return True
    return False


class _Writer:
    """Adds outbox rows to one flush, never two pending rows for the same (kind, ref, op)."""

    def __init__(self, session: Session, state: SpecterState) -> None:
        self.session = session
        self.state = state
        self._product_sync: bool | None = None

    def product_sync(self) -> bool:
        if self._product_sync is None:
            with self.session.no_autoflush:
                self._product_sync = bool(self.state.settings.get("product_sync"))
        return self._product_sync

    def _pending(self, kind: str, ref: str, ops: tuple[str, ...]) -> bool:
        for obj in self.session.new:
            if isinstance(obj, OutboxEntry) and obj.kind == kind and obj.ref == ref and obj.op in ops and obj.state in (None, "pending"):
                return True
        for row in held(self.session):
            if row["kind"] == kind and row["ref"] == ref and row["op"] in ops:
                return True
        with self.session.no_autoflush:
            found = self.session.execute(
                select(OutboxEntry.id).where(
                    OutboxEntry.kind == kind, OutboxEntry.ref == ref, OutboxEntry.op.in_(ops), OutboxEntry.state == "pending"
                ).limit(1)
            ).first()
        return found is not None

    def add(self, kind: str, op: str, ref: Any, payload: dict[str, Any] | None = None, *, covered_by: tuple[str, ...] = ()) -> None:
        ref = str(ref)
        if kind == "product" and refuse_product_row(self.session, op, ref):
            return  # a SKU Specter cannot take: recorded as not sent, the host's save goes on
        if self._pending(kind, ref, (op, *covered_by)):
            return
        self.session.add(OutboxEntry(kind=kind, op=op, ref=ref, payload=payload, state="pending", attempts=0))


def _before_flush(session: Session, flush_context: UOWTransaction, instances: object) -> None:  # noqa: ARG001
    """Products (keyed by SKU), customer updates and deletes: their keys exist before the flush."""
    state = _state_for(session)
    if state is None:
        return
    adapter = state.adapter
    pmodel, cmodel, omodel = adapter.product_model, adapter.customer_model, adapter.order_model
    if pmodel is None and cmodel is None and omodel is None:
        return
    # each of ``session.new``/``dirty``/``deleted`` builds a new set when read: read once per flush
    new, dirty, deleted = list(session.new), list(session.dirty), list(session.deleted)
    if pmodel is not None:
        _check_skus(adapter, pmodel, new, dirty)
    writer = _Writer(session, state)
    article_attrs = [a for a in (adapter.product_attribute(f) for f in ARTICLE_FIELDS) if a]
    sku_attr = adapter.product_attribute("sku") or "sku"
    own = {adapter.customer_attribute("specter_customer_no")}

    for obj in new:
        if pmodel is not None and isinstance(obj, pmodel) and not from_specter(obj) and writer.product_sync():
            writer.add("product", "create", adapter.product_sku(obj))
    for obj in dirty:
        if pmodel is not None and isinstance(obj, pmodel):
            if _changed(obj, article_attrs) and writer.product_sync():
                if sku_attr in inspect(obj).attrs and _changed(obj, [sku_attr]):
                    writer.add("product", "create", adapter.product_sku(obj))
                else:
                    writer.add("product", "update", adapter.product_sku(obj), covered_by=("create",))
        elif cmodel is not None and isinstance(obj, cmodel):
            attrs = [a.key for a in inspect(obj).mapper.column_attrs if a.key not in own]
            if _changed(obj, attrs):
                writer.add("customer", "update", adapter.customer_ref(obj))
    dependencies = tuple(getattr(adapter, "dependencies", tuple)())
    if dependencies:
        _write_dependents(session, adapter, writer, dependencies)
    for obj in deleted:
        if from_specter(obj) or writing_for_specter():  # marked, or flushed inside the block itself
            continue
        if pmodel is not None and isinstance(obj, pmodel) and writer.product_sync():
            sku = adapter.product_sku(obj)
            writer.add("product", "delete", sku, {"articleNo": sku})
        elif omodel is not None and isinstance(obj, omodel):
            ref = adapter.order_ref(obj)
            specter_no = _order_specter_no(session, adapter, obj, ref)
            writer.add("order", "delete", ref, {"specter_order_no": specter_no})


def _touched(obj: Any, attrs: tuple[str, ...]) -> bool:
    """True when one of ``attrs`` really changed (whoever changed it: a parent's name changed by Specter
    still changes the name of each of its variants there)."""
    insp = inspect(obj)
    for attr in attrs:
        if attr in insp.committed_state and attr in insp.attrs:
            hist = insp.attrs[attr].history
            if hist.has_changes() and list(hist.added) != list(hist.deleted):
                return True
    return False


def _write_dependents(session: Session, adapter: ShopAdapter, writer: _Writer, dependencies: tuple[Dependency, ...]) -> None:
    """A changed object that products' or customers' data is read from: an update for each of them."""
    for obj in list(session.dirty):
        for dep in dependencies:
            if not isinstance(obj, dep.model) or not _touched(obj, dep.attributes):
                continue
            if dep.kind == "product" and not writer.product_sync():
                continue
            for owner in dep.owners(obj):
                if owner in session.new or owner in session.deleted:
                    continue  # its insert or delete is written on its own
                if dep.kind == "product":
                    writer.add("product", "update", adapter.product_sku(owner), covered_by=("create",))
                else:
                    writer.add("customer", "update", adapter.customer_ref(owner))


def _check_skus(adapter: ShopAdapter, pmodel: type[Any], new: list[Any], dirty: list[Any]) -> None:
    """Refuse (``InvalidSku``) a new or re-numbered product whose SKU Specter cannot take, before any write."""
    sku_attr = adapter.product_attribute("sku") or "sku"
    for obj in new:
        if isinstance(obj, pmodel):
            check_sku(adapter.product_sku(obj))
    for obj in dirty:
        if isinstance(obj, pmodel):
            insp = inspect(obj)
            if sku_attr in insp.committed_state and insp.attrs[sku_attr].history.has_changes():
                check_sku(adapter.product_sku(obj))


def _order_specter_no(session: Session, adapter: ShopAdapter, order: Any, ref: str) -> str | None:
    value = adapter.order_specter_no(order)
    if value:
        return value
    with session.no_autoflush:
        linked: str | None = session.execute(select(Link.remote_id).where(Link.kind == "order", Link.local_id == ref)).scalar_one_or_none()
    return linked


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:  # noqa: ARG001
    """Customer and order inserts (their ids exist only now); note that the commit must nudge a drain.
    The session still lists what was flushed (read once: each read builds a new set)."""
    new, dirty, deleted = list(session.new), list(session.dirty), list(session.deleted)
    if any(isinstance(obj, OutboxEntry) for obj in new):
        session.info[NUDGE] = True
    try:
        state = _state_for(session)
        _write_inserts(session, state, new)
        _write_inserted_dependents(session, state, new)
        _wake_waiting_orders(session, state, new, dirty, deleted)
    finally:  # the flushed changes are history now: so are the marks of what came from Specter
        forget_marks([*new, *dirty, *deleted])


def _write_inserts(session: Session, state: SpecterState | None, new: list[Any]) -> None:
    if state is None:
        return
    adapter = state.adapter
    cmodel, omodel = adapter.customer_model, adapter.order_model
    if cmodel is None and omodel is None:
        return
    rows: list[dict[str, Any]] = []
    for obj in new:
        if from_specter(obj):
            continue
        if cmodel is not None and isinstance(obj, cmodel):
            rows.append({"kind": "customer", "op": "update", "ref": str(adapter.customer_ref(obj))})
        elif omodel is not None and isinstance(obj, omodel):
            rows.append({"kind": "order", "op": "create", "ref": str(adapter.order_ref(obj))})
    rows.sort(key=lambda row: row["kind"] != "customer")  # a new customer's row before its order's
    if rows:  # new records: no pending row can exist for them yet; written in this flush's transaction
        now = utcnow()
        connection = session.connection()
        statement, values = _new_row_insert(connection.dialect, session), [{**row, **_NEW_ROW, "created_at": now} for row in rows]
        if not hold(session, connection, statement, values):  # PostgreSQL: sent with the COMMIT, one round trip for both
            statement.run(session, values)
        session.info[NUDGE] = True


def _write_inserted_dependents(session: Session, state: SpecterState | None, new: list[Any]) -> None:
    """A new row that products or customers read from (a user's first address): an update of each."""
    dependencies = tuple(getattr(state.adapter, "dependencies", tuple)()) if state is not None and new else ()
    if state is None or not dependencies or writing_for_specter():
        return
    adapter, writer = state.adapter, _Writer(session, state)
    rows: list[dict[str, Any]] = []
    for kind, owner in inserted_dependents(adapter, new, dependencies):
        if owner in session.deleted or (kind == "product" and not writer.product_sync()):
            continue
        ref = str(adapter.product_sku(owner) if kind == "product" else adapter.customer_ref(owner))
        if not writer._pending(kind, ref, ("update", "create")):
            rows.append({"kind": kind, "op": "update", "ref": ref})
    if rows:
        now, connection = utcnow(), session.connection()
        statement, values = _new_row_insert(connection.dialect, session), [{**row, **_NEW_ROW, "created_at": now} for row in rows]
        if not hold(session, connection, statement, values):
            statement.run(session, values)
        session.info[NUDGE] = True


# The outbox row's INSERT, every defaulted column given, compiled once per database driver and run as
# driver SQL (SQLAlchemy's events still see it). On PostgreSQL, measured alternately in one session,
# Core's execute of it took 0.14-0.22 ms where the same SQL through ``exec_driver_sql`` took 0.10-0.17
# (the driver alone 0.07); the ORM-entity insert before it cost more still. ``inline()``: no ``RETURNING``
# of the new id, which nobody reads.
_OUTBOX: Table = cast(Table, OutboxEntry.__table__)
_NEW_ROW = {"state": "pending", "attempts": 0, "permanent": False}
_NEW_ROW_KEYS = ["kind", "op", "ref", *_NEW_ROW, "created_at"]
_NEW_ROW_INSERTS: dict[tuple[str, str], Executemany] = {}


def _new_row_insert(dialect: Dialect, session: Session) -> Executemany:
    key = (dialect.name, dialect.driver)
    statement = _NEW_ROW_INSERTS.get(key)
    if statement is None:
        types = {name: _OUTBOX.c[name].type for name in _NEW_ROW_KEYS}
        statement = _NEW_ROW_INSERTS[key] = Executemany(insert(_OUTBOX).inline(), _NEW_ROW_KEYS, types, session)
    return statement


def _wake_waiting_orders(session: Session, state: SpecterState | None, new: list[Any], dirty: list[Any], deleted: list[Any]) -> None:
    """An order, or a line of it (``line_model``), changed after the order was inserted: its row that
    waits for ``order_ready`` is due now and is queued after commit (the lines have arrived, the order
    was paid, ...), and a row being sent this instant is marked so that a "not ready" answer read before
    the change does not hold it back (``readiness``). Runs after the flush, when a new line's foreign key
    is set."""
    own: set[str] = session.info.pop(TRANSFER_ONLY, None) or set()
    if state is None:
        return
    adapter = state.adapter
    omodel, lmodel = adapter.order_model, adapter.line_model
    if omodel is None:
        return
    new_orders = [obj for obj in new if isinstance(obj, omodel)]
    refs: set[str] = set()
    for obj in dirty:  # an order inserted or deleted in this flush has no waiting row to wake
        if isinstance(obj, omodel) and not from_specter(obj):
            order_ref = adapter.order_ref(obj)
            if order_ref not in own and session.is_modified(obj):  # the drain's own transfer records are passed over first
                refs.add(order_ref)
    if lmodel is not None:
        modified_lines = [obj for obj in dirty if isinstance(obj, lmodel) and session.is_modified(obj)]
        for obj in [*new, *modified_lines, *deleted]:
            if isinstance(obj, lmodel) and not from_specter(obj):
                ref = adapter.line_order_ref(obj)
                if ref is not None:
                    refs.add(ref)
    refs -= {adapter.order_ref(obj) for obj in new_orders}
    refs -= own
    if not refs:
        return
    if wake_orders(session, refs):
        session.info[NUDGE] = True


def _after_commit(session: Session) -> None:
    """Nudge a drain for the committed rows; the rows are the truth, the job only a nudge."""
    session.info.pop(TRANSFER_ONLY, None)
    if not session.info.pop(NUDGE, None):
        return
    state = _state_for(session)
    if state is None:
        return
    from .relay import nudge_drain

    if not nudge_drain(state):
        log.warning("outbox: new row(s) stay pending until the queue is back (sweep or `flask specter drain`)")


def _after_rollback(session: Session) -> None:
    session.info.pop(NUDGE, None)
    session.info.pop(TRANSFER_ONLY, None)
    forget_marks(list(session.identity_map.values()))
