"""Apply stored stock rows to the shop in chunks: at most SPECTER_STOCK_BATCH_SIZE rows a job, the next
job SPECTER_STOCK_BATCH_DELAY seconds later, as the seed describes.

Rows are claimed with a lease (``FOR UPDATE SKIP LOCKED`` where the database has it), so two workers
never apply the same chunk and a chunk whose worker died is taken over when its lease runs out. The
shop's stock is written with one UPDATE per chunk; the shop publishes Specter's available figure minus
the quantities of its own orders that Specter has not acknowledged yet.
"""

from __future__ import annotations

import logging
import time
import uuid

from sqlalchemy import case, func, insert, or_, select, update

from . import signals
from .extension import get_state
from .models import Batch, StockHistory, StockLevel, StockRow, utcnow
from .stock import reserved_quantities

log = logging.getLogger("flask_specter.stock")

CHAIN_FLAG = "apply-chain"


def _claimable(now: float):
    return or_(StockRow.state == "pending", (StockRow.state == "claimed") & (StockRow.claimed_until < now))


def pending_count() -> int:
    session = get_state().db.session
    return session.execute(select(func.count()).select_from(StockRow).where(_claimable(time.time()))).scalar_one()


def next_lease_expiry() -> float | None:
    """When the earliest chunk claimed by another worker may be taken over (if that worker died)."""
    session = get_state().db.session
    return session.execute(select(func.min(StockRow.claimed_until)).where(StockRow.state == "claimed")).scalar_one()


def ensure_apply_chain(*, delay: float = 0, force: bool = False) -> bool:
    """Start the chunk chain unless one is already scheduled; True when this call started it."""
    state = get_state()
    if not force and pending_count() == 0:
        return False
    ttl = float(state.config["SPECTER_STOCK_BATCH_DELAY"]) + float(state.config["SPECTER_LEASE_SECONDS"])
    if not state.queue.set_flag(CHAIN_FLAG, ttl + delay):
        return False
    state.queue.enqueue("flask_specter.jobs.apply_stock_chunk", delay=delay)
    return True


def claim_chunk(size: int) -> tuple[str, list[StockRow]]:
    state = get_state()
    session = state.db.session
    token = uuid.uuid4().hex
    now = time.time()
    ids = (
        select(StockRow.id)
        .where(_claimable(now))
        .order_by(StockRow.id)
        .limit(size)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    session.execute(
        update(StockRow)
        .where(StockRow.id.in_(ids), _claimable(now))
        .values(state="claimed", claim_token=token, claimed_until=now + float(state.config["SPECTER_LEASE_SECONDS"]))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    rows = session.execute(select(StockRow).where(StockRow.claim_token == token, StockRow.state == "claimed").order_by(StockRow.id)).scalars().all()
    return token, list(rows)


def apply_chunk(rows: list[StockRow]) -> dict:
    """Write one chunk in one transaction; returns counts. Older batches never overwrite newer ones."""
    state = get_state()
    session = state.db.session
    adapter = state.adapter
    table, sku_col, stock_col = adapter.stock_target()

    newest: dict[str, StockRow] = {}
    for row in rows:
        if row.sku not in newest or (row.batch_id, row.id) > (newest[row.sku].batch_id, newest[row.sku].id):
            newest[row.sku] = row
    skus = list(newest)
    levels = {lv.sku: lv for lv in session.execute(select(StockLevel).where(StockLevel.sku.in_(skus))).scalars()}
    fresh = {sku: row for sku, row in newest.items() if sku not in levels or levels[sku].batch_id <= row.batch_id}
    current = dict(session.execute(select(sku_col, stock_col).where(sku_col.in_(list(fresh)))).all())
    reserved = reserved_quantities(current)
    batch_nos = dict(session.execute(select(Batch.id, Batch.batch_no).where(Batch.id.in_({r.batch_id for r in fresh.values()}))).all())

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
    applied_ids = [r.id for r in rows if r.sku not in unknown_skus]
    unknown_ids = [r.id for r in rows if r.sku in unknown_skus]
    now = utcnow()
    if applied_ids:
        session.execute(update(StockRow).where(StockRow.id.in_(applied_ids)).values(state="applied", applied_at=now, claim_token=None), execution_options={"synchronize_session": False})
    if unknown_ids:
        session.execute(update(StockRow).where(StockRow.id.in_(unknown_ids)).values(state="unknown", applied_at=now, claim_token=None), execution_options={"synchronize_session": False})
        log.info("stock feed: %d SKU(s) not in the shop, skipped (e.g. %s)", len(unknown_skus), sorted(unknown_skus)[0])
    session.commit()
    return {"rows": len(rows), "changed": len(changed), "unknown": len(unknown_skus)}


def _detail(row: StockRow, reserved: int) -> str:
    text = f"Specter available {row.available}"
    if row.in_stock is not None:
        text += f" (in stock {row.in_stock})"
    if reserved:
        text += f" minus {reserved} in shop orders not yet in Specter"
    return text


def _upsert_levels(session, rows: list[StockRow]) -> None:
    if not rows:
        return
    values = [{"sku": r.sku, "available": r.available, "in_stock": r.in_stock, "batch_id": r.batch_id, "updated_at": utcnow()} for r in rows]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
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


def run_apply_chunk() -> dict:
    """The apply job: one chunk now, and the next job scheduled after the configured delay."""
    state = get_state()
    state.queue.clear_flag(CHAIN_FLAG)
    if not state.settings.get("stock_sync"):
        return {"skipped": "stock sync is off"}
    size = max(1, int(state.config["SPECTER_STOCK_BATCH_SIZE"]))
    _token, rows = claim_chunk(size)
    pause = float(state.config.get("SPECTER_DEBUG_PAUSE_IN_CHUNK") or 0)
    if rows and pause:  # fault tests: hold a claimed chunk open so a worker can be killed inside it
        time.sleep(pause)
    result = apply_chunk(rows) if rows else {"rows": 0, "changed": 0, "unknown": 0}
    remaining = pending_count()
    result["remaining"] = remaining
    if rows:
        signals.stock_chunk_applied.send(state.app, **result)
    if remaining:
        ensure_apply_chain(delay=float(state.config["SPECTER_STOCK_BATCH_DELAY"]))
    else:
        expiry = next_lease_expiry()
        if expiry is not None:  # another worker holds a chunk: look again when its lease runs out
            ensure_apply_chain(delay=max(0.0, expiry - time.time()) + 0.5, force=True)
        elif rows:
            signals.stock_batch_applied.send(state.app)
    return result
