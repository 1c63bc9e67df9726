"""Apply stored stock rows to the shop in chunks: at most SPECTER_STOCK_BATCH_SIZE rows a chunk, and
SPECTER_STOCK_BATCH_DELAY seconds between two chunks, as the seed describes.

With a delay of 0 one job goes on with the next chunk itself (a job per 100 rows cost more than the rows:
RQ's fetch, and a forked work horse per job with ``flask specter worker``), until no row waits, stock sync
is switched off, or ``CHAIN_BUDGET`` seconds are spent: then a fresh job takes over, so no job holds a
worker near its timeout. With a delay, the next chunk is a job scheduled after it (no worker sleeps).

A chunk is one transaction of few statements: claim up to N pending rows (one UPDATE … RETURNING whose
materialized CTE picks them with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single writer lock does
the same), read the shop's stock and the levels together, the reservations in one read, write the shop's
stock with one UPDATE, history and levels as multi-row INSERTs, commit, then send ``signals.stock_changed``
with each changed SKU's (old, new) stock: the UPDATE bypasses the ORM, so the host's attribute and mapper
events never see these writes and the signal is how a host clears its caches. The old figures are the ones
the chunk reads anyway to skip unchanged SKUs (and records in the stock history). Two workers never apply
the same chunk, and a worker killed inside a chunk leaves nothing half done: its transaction rolls back and
the rows are pending again for the next job. The shop publishes Specter's available figure minus the
quantities of its own orders that the figure does not include yet (see ``stock.settle_reservations``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

from sqlalchemy import Row, Table, delete, insert, literal, select, update
from sqlalchemy.orm import Session, scoped_session

from .. import signals
from ..backoff import backoff_delay
from ..models import Batch, StockHistory, StockLevel, StockRow, utcnow
from ..queue import job
from ..sqlite import redoable_writes
from ..state import get_state
from ..stock import settle_reservations
from .bulk_sql import insert_rows, set_column

log = logging.getLogger("flask_specter.stock")

CHAIN_FLAG = "apply-chain"
FAILURES_KEY = "apply-chain-failures"  # chunks failed in a row: the back-off before the next try
CHAIN_BUDGET = 20.0  # seconds one job applies chunks back to back before a fresh job takes over (RQ's timeout: 180 s)
LOCKED_PAUSE = 1.0  # seconds before looking again when every waiting row is in another worker's open chunk

# The mapped classes declare __table__ a FromClause; these are Tables (Core statements, no ORM bulk path).
_ROWS: Table = StockRow.__table__  # type: ignore[assignment]
_LEVELS: Table = StockLevel.__table__  # type: ignore[assignment]
_HISTORY: Table = StockHistory.__table__  # type: ignore[assignment]
_CLAIMED = (_ROWS.c.id, _ROWS.c.batch_id, _ROWS.c.sku, _ROWS.c.available, _ROWS.c.in_stock)


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

    One statement: ``UPDATE … FROM (the first size pending ids) RETURNING`` the rows. The ids come from a
    ``MATERIALIZED`` CTE (locked with ``SKIP LOCKED`` on PostgreSQL), so the planner runs the ``LIMIT``
    once and never claims more than ``size``. Rows are marked applied at once: the same transaction writes
    the stock, so it commits all or nothing.
    """
    session = get_state().db.session
    token = uuid.uuid4().hex
    pending = _ROWS.c.state == "pending"
    marks = {"state": "applied", "applied_at": utcnow(), "claim_token": token}
    first = select(_ROWS.c.id).where(pending).order_by(_ROWS.c.id).limit(size).with_for_update(skip_locked=True)
    if session.get_bind().dialect.name not in ("postgresql", "sqlite"):  # pragma: no cover - read the ids, then claim by id
        ids = session.execute(first).scalars().all()
        session.execute(update(_ROWS).where(_ROWS.c.id.in_(ids), pending).values(marks))
        return list(session.execute(select(*_CLAIMED).where(_ROWS.c.claim_token == token).order_by(_ROWS.c.id)))
    picked = first.cte("specter_claimable").prefix_with("MATERIALIZED")
    claimed = session.execute(update(_ROWS).where(_ROWS.c.id == picked.c.id, pending).values(marks).returning(*_CLAIMED))
    return sorted(claimed, key=lambda row: row.id)  # RETURNING keeps no order


def apply_chunk(rows: list[Row[*tuple[Any, ...]]], batches: dict[int, Row[*tuple[Any, ...]]] | None = None) -> dict[str, int]:
    """Write one chunk in one transaction; returns counts. Older batches never overwrite newer ones.

    ``batches`` caches the (immutable) batch rows across the chunks of one job.
    """
    state = get_state()
    session = state.db.session
    table, sku_col, stock_col = state.adapter.stock_target()

    newest: dict[str, Row[*tuple[Any, ...]]] = {}
    for row in rows:
        if row.sku not in newest or (row.batch_id, row.id) > (newest[row.sku].batch_id, newest[row.sku].id):
            newest[row.sku] = row
    level_batch, shop_stock = _read_levels_and_stock(session, list(newest), sku_col, stock_col)
    fresh = {sku: row for sku, row in newest.items() if sku not in level_batch or level_batch[sku] <= row.batch_id}
    current = {sku: stock for sku, stock in shop_stock.items() if sku in fresh}
    batches = _batches(session, {r.batch_id for r in fresh.values()}, {} if batches is None else batches)
    reserved = settle_reservations({sku: _figure_time(fresh[sku], batches) for sku in current})

    targets = {sku: max(0, fresh[sku].available - reserved.get(sku, 0)) for sku in current}
    changed = {sku: qty for sku, qty in targets.items() if current[sku] != qty}
    if changed:
        set_column(session, table, sku_col, stock_col, changed)
        now = utcnow()
        history = [
            {
                "sku": sku,
                "old": current[sku],
                "new": qty,
                "source": "specter",
                "batch_no": batches[fresh[sku].batch_id].batch_no if fresh[sku].batch_id in batches else None,
                "detail": _detail(fresh[sku], reserved.get(sku, 0)),
                "created_at": now,
            }
            for sku, qty in changed.items()
        ]
        insert_rows(session, _HISTORY, history)
    _upsert_levels(session, [fresh[s] for s in fresh])
    unknown_skus = set(fresh) - set(current)
    unknown_ids = [r.id for r in rows if r.sku in unknown_skus]
    if unknown_ids:
        session.execute(update(_ROWS).where(_ROWS.c.id.in_(unknown_ids)).values(state="unknown"))
        log.info("stock feed: %d SKU(s) not in the shop, skipped (e.g. %s)", len(unknown_skus), sorted(unknown_skus)[0])
    session.commit()
    if changed and signals.stock_changed.receivers:  # the UPDATE above bypassed the ORM: this is how the host hears of it (its caches)
        signals.notify(signals.stock_changed, state.app, changes={sku: (current[sku], qty) for sku, qty in changed.items()})
    return {"rows": len(rows), "changed": len(changed), "unknown": len(unknown_skus)}


def _read_levels_and_stock(session: Session | scoped_session[Any], skus: list[str], sku_col: Any, stock_col: Any) -> tuple[dict[str, int], dict[str, int]]:
    """The stored levels' batch ids and the shop's stock of ``skus``: one round trip (UNION ALL)."""
    level_rows = select(_LEVELS.c.sku, literal(1).label("is_level"), _LEVELS.c.batch_id.label("figure")).where(_LEVELS.c.sku.in_(skus))
    shop_rows = select(sku_col, literal(0), stock_col).where(sku_col.in_(skus))
    level_batch: dict[str, int] = {}
    shop_stock: dict[str, int] = {}
    for sku, is_level, figure in session.execute(level_rows.union_all(shop_rows)):
        (level_batch if is_level else shop_stock)[sku] = figure
    return level_batch, shop_stock


def _batches(session: Session | scoped_session[Any], ids: set[int], known: dict[int, Row[*tuple[Any, ...]]]) -> dict[int, Row[*tuple[Any, ...]]]:
    missing = ids - set(known)
    if missing:
        known.update((b.id, b) for b in session.execute(select(Batch.id, Batch.batch_no, Batch.fetched_at, Batch.recovered).where(Batch.id.in_(missing))))
    return known


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
    now = utcnow()
    values = [{"sku": r.sku, "available": r.available, "in_stock": r.in_stock, "batch_id": r.batch_id, "updated_at": now} for r in rows]
    if session.get_bind().dialect.name not in ("postgresql", "sqlite"):  # pragma: no cover - other databases: delete then insert
        session.execute(delete(_LEVELS).where(_LEVELS.c.sku.in_([v["sku"] for v in values])))
        session.execute(insert(_LEVELS), values)
        return
    insert_rows(session, _LEVELS, values, on_conflict=_newer_level)


def _newer_level(stmt: Any) -> Any:
    """The upsert of a level: a stored figure of a newer batch is kept."""
    return stmt.on_conflict_do_update(
        index_elements=[_LEVELS.c.sku],
        set_={"available": stmt.excluded.available, "in_stock": stmt.excluded.in_stock, "batch_id": stmt.excluded.batch_id, "updated_at": stmt.excluded.updated_at},
        where=_LEVELS.c.batch_id <= stmt.excluded.batch_id,
    )

@job
def run_apply_chunk() -> dict[str, Any]:
    """The apply job: chunks back to back while the delay is 0 (see ``_apply_chunks``), else one chunk
    and the next job scheduled after the delay.

    A chunk that fails (the database restarted, its connection was cut) wrote nothing: its transaction
    rolled back (the chunks before it stay applied). The chain is then started again after a back-off,
    so its rows are applied as soon as the database answers, not only at the next pull or sweep; the
    error still fails the job (RQ keeps it).
    """
    state = get_state()
    state.queue.clear_flag(CHAIN_FLAG)  # rows stored from now on queue one more job: this one may have looked already
    try:
        with redoable_writes():  # SQLite: no fsync per chunk; a chunk a power cut undoes is pending again
            result = _apply_chunks(state)
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


def _apply_chunks(state: Any) -> dict[str, Any]:
    """Apply chunks until no row waits; hand over to a new job when the delay is set or the budget spent.

    Each chunk is its own transaction; stock sync switched off between two chunks stops the chain.
    Returns the job's totals and whether rows remain.
    """
    delay = float(state.config["SPECTER_STOCK_BATCH_DELAY"])
    size = max(1, int(state.config["SPECTER_STOCK_BATCH_SIZE"]))
    ends_at = time.monotonic() + CHAIN_BUDGET
    batches: dict[int, Row[*tuple[Any, ...]]] = {}
    totals: dict[str, Any] = {"rows": 0, "changed": 0, "unknown": 0, "chunks": 0}
    while True:
        if not state.settings.get("stock_sync"):
            state.db.session.commit()
            return {**totals, "skipped": "stock sync is off"}
        chunk = _apply_one_chunk(state, size, batches)
        totals["chunks"] += 1
        for key in ("rows", "changed", "unknown"):
            totals[key] += chunk[key]
        totals["remaining"] = chunk["remaining"]
        if not chunk["remaining"]:
            if chunk["rows"]:
                signals.stock_batch_applied.send(state.app)
            return totals
        if not chunk["rows"]:  # every waiting row is in another worker's open chunk: look again shortly
            ensure_apply_chain(delay=max(delay, LOCKED_PAUSE))
            return totals
        if delay > 0 or time.monotonic() >= ends_at:
            ensure_apply_chain(delay=delay)
            return totals


def _apply_one_chunk(state: Any, size: int, batches: dict[int, Row[*tuple[Any, ...]]]) -> dict[str, Any]:
    """Claim and apply one chunk (its own transaction); ``signals.stock_chunk_applied`` when it had rows."""
    rows = claim_chunk(size)
    pause = float(state.config.get("SPECTER_DEBUG_PAUSE_IN_CHUNK") or 0)
    if rows and pause:  # fault tests: hold a chunk open, say so, so a worker can be killed inside it
        state.queue.set_flag("debug-in-chunk", pause)
        time.sleep(pause)
    result: dict[str, Any]
    if rows:
        result = apply_chunk(rows, batches)
    else:
        state.db.session.commit()
        result = {"rows": 0, "changed": 0, "unknown": 0}
    result["remaining"] = has_pending()
    if rows:
        signals.stock_chunk_applied.send(state.app, **result)
    return result
