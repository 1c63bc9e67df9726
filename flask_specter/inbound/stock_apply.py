"""Apply stored stock rows to the shop in chunks: at most SPECTER_STOCK_BATCH_SIZE rows a job, the next
job SPECTER_STOCK_BATCH_DELAY seconds later, as the seed describes.

A chunk is one transaction: claim up to N pending rows (an UPDATE whose subquery uses ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite's single writer lock does the same), write the shop's stock with one
UPDATE, record history, mark the rows applied, commit, then send ``signals.stock_changed`` with each
changed SKU's (old, new) stock: the UPDATE bypasses the ORM, so the host's attribute and mapper events
never see these writes and the signal is how a host clears its caches. The old figures are the ones the
chunk reads anyway to skip unchanged SKUs (and records in the stock history). Two workers never apply the same chunk, and a
worker killed inside a chunk leaves nothing half done: its transaction rolls back and the rows are
pending again for the next job. The shop publishes Specter's available figure minus the quantities of
its own orders that the figure does not include yet (see ``stock.release_for_figures``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

from sqlalchemy import Row, case, insert, select, update
from sqlalchemy.orm import Session, scoped_session

from .. import signals
from ..backoff import backoff_delay
from ..models import Batch, StockHistory, StockLevel, StockRow, utcnow
from ..queue import job
from ..state import get_state
from ..stock import release_for_figures, reserved_quantities

log = logging.getLogger("flask_specter.stock")

CHAIN_FLAG = "apply-chain"
FAILURES_KEY = "apply-chain-failures"  # chunks failed in a row: the back-off before the next try


def has_pending() -> bool:
    """Is any row waiting? An index lookup, never a count."""
    session = get_state().db.session
    return session.execute(select(StockRow.id).where(StockRow.state == "pending").limit(1)).first() is not None


def ensure_apply_chain(*, delay: float = 0) -> bool:
    """Start the chunk chain unless one is already scheduled; True when this call started it."""
    state = get_state()
    if not has_pending():
        return False
    ttl = float(state.config["SPECTER_STOCK_BATCH_DELAY"]) + float(state.config["SPECTER_LEASE_SECONDS"])
    return run_apply_chunk.enqueue_once(CHAIN_FLAG, ttl=ttl, delay=delay, queue=state.queue)


def claim_chunk(size: int) -> list[Row[*tuple[Any, ...]]]:
    """Claim the next ``size`` pending rows inside the current transaction (committed by ``apply_chunk``).

    The ids are read first (locked with ``SKIP LOCKED`` on PostgreSQL), then claimed by id: an
    ``IN (subquery … LIMIT)`` may be re-run by the planner and would then claim more than ``size``.
    """
    session = get_state().db.session
    token = uuid.uuid4().hex
    pending = StockRow.state == "pending"
    ids = session.execute(select(StockRow.id).where(pending).order_by(StockRow.id).limit(size).with_for_update(skip_locked=True)).scalars().all()
    if not ids:
        return []
    # Marked applied right away: the same transaction writes the stock, so it commits all or nothing.
    session.execute(
        update(StockRow)
        .where(StockRow.id.in_(ids), pending)
        .values(state="applied", applied_at=utcnow(), claim_token=token)
        .execution_options(synchronize_session=False)
    )
    # Plain rows, not ORM objects: a chunk job is a hot path and needs only these five columns.
    columns = (StockRow.id, StockRow.batch_id, StockRow.sku, StockRow.available, StockRow.in_stock)
    return list(session.execute(select(*columns).where(StockRow.claim_token == token).order_by(StockRow.id)))


def apply_chunk(rows: list[Row[*tuple[Any, ...]]]) -> dict[str, int]:
    """Write one chunk in one transaction; returns counts. Older batches never overwrite newer ones."""
    state = get_state()
    session = state.db.session
    adapter = state.adapter
    table, sku_col, stock_col = adapter.stock_target()

    newest: dict[str, Row[*tuple[Any, ...]]] = {}
    for row in rows:
        if row.sku not in newest or (row.batch_id, row.id) > (newest[row.sku].batch_id, newest[row.sku].id):
            newest[row.sku] = row
    skus = list(newest)
    level_batch = dict(session.execute(select(StockLevel.sku, StockLevel.batch_id).where(StockLevel.sku.in_(skus))).all())
    fresh = {sku: row for sku, row in newest.items() if sku not in level_batch or level_batch[sku] <= row.batch_id}
    current = dict(session.execute(select(sku_col, stock_col).where(sku_col.in_(list(fresh)))).all())
    batches = {b.id: b for b in session.execute(select(Batch.id, Batch.batch_no, Batch.fetched_at, Batch.recovered).where(Batch.id.in_({r.batch_id for r in fresh.values()})))}
    batch_nos = {i: b.batch_no for i, b in batches.items()}
    release_for_figures({sku: _figure_time(fresh[sku], batches) for sku in current})  # reservations these figures include
    reserved = reserved_quantities(current)

    targets = {sku: max(0, fresh[sku].available - reserved.get(sku, 0)) for sku in current}
    changed = {sku: qty for sku, qty in targets.items() if current[sku] != qty}
    if changed:
        session.execute(
            update(table).where(sku_col.in_(list(changed))).values({stock_col.key: case(changed, value=sku_col)}),
            execution_options={"synchronize_session": False},
        )
        session.execute(
            insert(StockHistory),
            [
                {
                    "sku": sku,
                    "old": current[sku],
                    "new": qty,
                    "source": "specter",
                    "batch_no": batch_nos.get(fresh[sku].batch_id),
                    "detail": _detail(fresh[sku], reserved.get(sku, 0)),
                    "created_at": utcnow(),
                }
                for sku, qty in changed.items()
            ],
        )
    _upsert_levels(session, [fresh[s] for s in fresh])
    unknown_skus = set(fresh) - set(current)
    unknown_ids = [r.id for r in rows if r.sku in unknown_skus]
    if unknown_ids:
        session.execute(update(StockRow).where(StockRow.id.in_(unknown_ids)).values(state="unknown"), execution_options={"synchronize_session": False})
        log.info("stock feed: %d SKU(s) not in the shop, skipped (e.g. %s)", len(unknown_skus), sorted(unknown_skus)[0])
    session.commit()
    if changed and signals.stock_changed.receivers:  # the UPDATE above bypassed the ORM: this is how the host hears of it (its caches)
        signals.notify(signals.stock_changed, state.app, changes={sku: (current[sku], qty) for sku, qty in changed.items()})
    return {"rows": len(rows), "changed": len(changed), "unknown": len(unknown_skus)}


def _figure_time(row: Row[*tuple[Any, ...]], batches: dict[int, Row[*tuple[Any, ...]]]) -> tuple[int, dt.datetime | None]:
    """(batch id, when its request was sent); None for a batch recovered through 99 (frozen earlier)."""
    batch = batches.get(row.batch_id)
    return row.batch_id, (None if batch is None or batch.recovered else batch.fetched_at)


def _detail(row: Row[*tuple[Any, ...]], reserved: int) -> str:
    text = f"Specter available {row.available}"
    if row.in_stock is not None:
        text += f" (in stock {row.in_stock})"
    if reserved:
        text += f" minus {reserved} in shop orders not yet in Specter's figure"
    return text


def _upsert_levels(session: Session | scoped_session[Any], rows: list[Row[*tuple[Any, ...]]]) -> None:
    if not rows:
        return
    values = [{"sku": r.sku, "available": r.available, "in_stock": r.in_stock, "batch_id": r.batch_id, "updated_at": utcnow()} for r in rows]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        # the same on_conflict_do_update API as PostgreSQL's, in a class of its own
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    else:  # pragma: no cover - other databases: delete then insert
        session.query(StockLevel).filter(StockLevel.sku.in_([v["sku"] for v in values])).delete(synchronize_session=False)
        session.execute(insert(StockLevel), values)
        return
    stmt = dialect_insert(StockLevel)
    stmt = stmt.on_conflict_do_update(
        index_elements=[StockLevel.sku],
        set_={"available": stmt.excluded.available, "in_stock": stmt.excluded.in_stock, "batch_id": stmt.excluded.batch_id, "updated_at": stmt.excluded.updated_at},
        where=StockLevel.batch_id <= stmt.excluded.batch_id,
    )
    session.execute(stmt, values)


@job
def run_apply_chunk() -> dict[str, Any]:
    """The apply job: one chunk now, and the next job scheduled after the configured delay.

    A chunk that fails (the database restarted, its connection was cut) wrote nothing: its transaction
    rolled back. The chain is then started again after a back-off, so its rows are applied as soon as
    the database answers, not only at the next pull or sweep; the error still fails the job (RQ keeps it).
    """
    state = get_state()
    state.queue.clear_flag(CHAIN_FLAG)
    try:
        result = _apply_next_chunk(state)
    except Exception:
        _resume_after_failure(state)
        raise
    state.queue.clear_flag(FAILURES_KEY)
    return result


def _resume_after_failure(state: Any) -> None:
    """Schedule the chain again, later each time it fails in a row (up to SPECTER_RETRY_BACKOFF_MAX)."""
    session = state.db.session
    failures = state.queue.count(FAILURES_KEY, ttl=float(state.config["SPECTER_LEASE_SECONDS"]) * 10)
    delay = max(float(state.config["SPECTER_STOCK_BATCH_DELAY"]), backoff_delay(failures, state.config))
    try:
        session.rollback()  # the failed transaction; a dead connection is replaced on the next use
        ensure_apply_chain(delay=delay)
    except Exception as exc:  # the database is still away: the sweep resumes the rows once it is back
        session.rollback()
        log.warning("stock chunk failed and could not be rescheduled (%s); the sweep resumes it", type(exc).__name__)


def _apply_next_chunk(state: Any) -> dict[str, Any]:
    """Claim and apply one chunk, then schedule the next while rows wait."""
    if not state.settings.get("stock_sync"):
        return {"skipped": "stock sync is off"}
    size = max(1, int(state.config["SPECTER_STOCK_BATCH_SIZE"]))
    rows = claim_chunk(size)
    pause = float(state.config.get("SPECTER_DEBUG_PAUSE_IN_CHUNK") or 0)
    if rows and pause:  # fault tests: hold a chunk open, say so, so a worker can be killed inside it
        state.queue.set_flag("debug-in-chunk", pause)
        time.sleep(pause)
    result: dict[str, Any]
    if rows:
        result = apply_chunk(rows)
    else:
        state.db.session.commit()
        result = {"rows": 0, "changed": 0, "unknown": 0}
    remaining = has_pending()
    result["remaining"] = remaining
    if rows:
        signals.stock_chunk_applied.send(state.app, **result)
    if remaining:
        ensure_apply_chain(delay=float(state.config["SPECTER_STOCK_BATCH_DELAY"]))
    elif rows:
        signals.stock_batch_applied.send(state.app)
    return result
