"""One chunk of stored stock rows written to the shop: the statements, built once per job.

A chunk is one transaction of few statements: claim up to N pending rows (one ``UPDATE … RETURNING``
whose materialized CTE picks them, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single writer
lock does the same), read the stored levels and the shop's stock together, the reservations in one read
(``stock.settle_reservations``), write the shop's stock in one UPDATE, history and levels as multi-row
INSERTs (``bulk_sql``), commit. ``ChunkWriter`` builds these statements once and runs them for every
chunk of a job: at 100 rows a chunk, building them cost more than running them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Row, Table, bindparam, delete, literal, select, text, update

from .. import signals
from ..models import Batch, StockHistory, StockLevel, StockRow, utcnow
from ..state import get_state
from ..stock import settle_reservations
from .bulk_sql import BulkInsert, BulkUpdate

log = logging.getLogger("flask_specter.stock")

AnyRow = Row[*tuple[Any, ...]]
# The mapped classes declare __table__ a FromClause; these are Tables (Core statements, no ORM bulk path).
ROWS: Table = StockRow.__table__  # type: ignore[assignment]
LEVELS: Table = StockLevel.__table__  # type: ignore[assignment]
HISTORY: Table = StockHistory.__table__  # type: ignore[assignment]
CLAIMED = (ROWS.c.id, ROWS.c.batch_id, ROWS.c.sku, ROWS.c.available, ROWS.c.in_stock)
PENDING = ROWS.c.state == "pending"
HISTORY_KEYS = ["sku", "old", "new", "source", "batch_no", "detail", "created_at"]
SET_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")
LEVEL_KEYS = ["sku", "available", "in_stock", "batch_id", "updated_at"]
_ANY_PENDING = select(ROWS.c.id).where(PENDING).limit(1)
# Back to back, chunks would take SQLite's one write lock again within microseconds of a commit, and a
# checkout waiting for it (SQLite's busy handler looks again after 1, 2, 5 … 100 ms) could wait for the
# whole chain; a millisecond between chunks lets it in (about 10 % on the apply, paid only on SQLite).
SQLITE_WRITER_GAP = 0.001


def has_pending() -> bool:
    """Is any row waiting? An index lookup, never a count."""
    return get_state().db.session.execute(_ANY_PENDING).first() is not None


class ChunkWriter:
    """Claims and writes chunks for one job; remembers the (immutable) batches it has read."""

    def __init__(self) -> None:
        state = get_state()
        self.state = state
        self.session = state.db.session
        self.dialect = dialect = self.session.get_bind().dialect.name
        self.upsert = dialect in ("postgresql", "sqlite")  # elsewhere: claim in two steps, levels deleted then inserted
        table, sku_col, stock_col = state.adapter.stock_target()
        self.batches: dict[int, AnyRow] = {}

        first = select(ROWS.c.id).where(PENDING).order_by(ROWS.c.id).limit(bindparam("size", type_=Integer)).with_for_update(skip_locked=True)
        marks = {"state": "applied", "applied_at": bindparam("now"), "claim_token": bindparam("token")}
        self.first_ids = first
        picked = first.cte("specter_claimable").prefix_with("MATERIALIZED")  # the LIMIT runs once, whatever the plan
        self.claim_stmt = update(ROWS).where(ROWS.c.id == picked.c.id, PENDING).values(marks).returning(*CLAIMED)
        self.claim_by_id = update(ROWS).where(ROWS.c.id.in_(bindparam("ids", expanding=True)), PENDING).values(marks)
        skus: Any = bindparam("skus", expanding=True)
        levels = select(LEVELS.c.sku, literal(1).label("is_level"), LEVELS.c.batch_id.label("figure")).where(LEVELS.c.sku.in_(skus))
        self.read_stmt = levels.union_all(select(sku_col, literal(0), stock_col).where(sku_col.in_(skus)))
        self.batch_stmt = select(Batch.id, Batch.batch_no, Batch.fetched_at, Batch.recovered).where(Batch.id.in_(bindparam("ids", expanding=True)))
        self.unknown_stmt = update(ROWS).where(ROWS.c.id.in_(bindparam("ids", expanding=True))).values(state="unknown")
        self.set_stock = BulkUpdate(dialect, table, sku_col, stock_col)
        self.add_history = BulkInsert(dialect, HISTORY, HISTORY_KEYS)
        self.put_levels = BulkInsert(dialect, LEVELS, LEVEL_KEYS, on_conflict=_newer_level if self.upsert else None)

    def take(self, size: int) -> tuple[bool, list[AnyRow]]:
        """Begin a chunk: (stock sync still on, the rows claimed in the open transaction)."""
        if not self.state.settings.get("stock_sync"):
            return False, []
        return True, self.claim(size)

    def write(self, rows: list[AnyRow]) -> dict[str, int]:
        """Write and commit the claimed chunk; returns its counts."""
        counts = self.apply(rows)
        if self.dialect == "sqlite":  # the write lock is free now: leave the shop's checkouts a moment to take it
            time.sleep(SQLITE_WRITER_GAP)
        return counts

    def release(self) -> None:
        """End a chunk without writing (stock sync is off, or nothing was claimed)."""
        self.session.commit()

    def close(self) -> None:
        """The job is done with the writer."""

    def claim(self, size: int) -> list[AnyRow]:
        """Claim the next ``size`` pending rows in the current transaction (committed by ``apply``).

        Marked applied at once: the same transaction writes the stock, so it commits all or nothing.
        """
        params = {"size": size, "now": utcnow(), "token": uuid.uuid4().hex}
        if not self.upsert:  # pragma: no cover - read the ids, then claim by id
            ids = self.session.execute(self.first_ids, params).scalars().all()
            self.session.execute(self.claim_by_id, {**params, "ids": ids})
            return list(self.session.execute(select(*CLAIMED).where(ROWS.c.claim_token == params["token"]).order_by(ROWS.c.id)))
        return sorted(self.session.execute(self.claim_stmt, params), key=lambda row: row.id)  # RETURNING keeps no order

    def apply(self, rows: list[AnyRow]) -> dict[str, int]:
        """Write one chunk in one transaction; returns counts. Older batches never overwrite newer ones."""
        session = self.session
        if self.dialect == "postgresql":
            # psycopg prepares a statement after five runs, and PostgreSQL then keeps a generic plan made
            # while the levels table was still empty: a sequential scan that grew to 11 ms a chunk at 100k
            # SKUs (measured). Plans made for each chunk's own SKUs use the indexes (the claim, run before
            # this, keeps its generic index plan).
            session.execute(SET_CUSTOM_PLANS)
        newest = newest_per_sku(rows)
        level_batch: dict[str, int] = {}
        shop_stock: dict[str, int] = {}
        for sku, is_level, figure in session.execute(self.read_stmt, {"skus": list(newest)}):
            (level_batch if is_level else shop_stock)[sku] = figure
        fresh, current = fresh_figures(newest, level_batch, shop_stock)
        self.read_batches({r.batch_id for r in fresh.values()})
        reserved = settle_reservations({sku: self.figure_time(fresh[sku]) for sku in current})
        plan = self.plan(rows, fresh, current, reserved)
        if plan.changed:
            self.set_stock.run(session, plan.changed)
            self.add_history.run(session, plan.history)
        if not self.upsert and plan.levels:  # pragma: no cover - other databases: delete then insert
            session.execute(delete(LEVELS).where(LEVELS.c.sku.in_(list(fresh))))
        self.put_levels.run(session, plan.levels)
        if plan.unknown_ids:
            session.execute(self.unknown_stmt, {"ids": plan.unknown_ids})
        session.commit()
        self.announce(plan)
        return plan.counts()

    def plan(self, rows: list[AnyRow], fresh: dict[str, AnyRow], current: dict[str, int], reserved: dict[str, int]) -> ChunkPlan:
        """What the chunk writes: the shop's new stock, its history, the levels and the unknown SKUs' rows."""
        targets = {sku: max(0, fresh[sku].available - reserved.get(sku, 0)) for sku in current}
        changed = {sku: qty for sku, qty in targets.items() if current[sku] != qty}
        now = utcnow()
        history = [
            {
                "sku": sku,
                "old": current[sku],
                "new": qty,
                "source": "specter",
                "batch_no": self.batches[fresh[sku].batch_id].batch_no if fresh[sku].batch_id in self.batches else None,
                "detail": _detail(fresh[sku], reserved.get(sku, 0)),
                "created_at": now,
            }
            for sku, qty in changed.items()
        ]
        levels = [{"sku": r.sku, "available": r.available, "in_stock": r.in_stock, "batch_id": r.batch_id, "updated_at": now} for r in fresh.values()]
        unknown_skus = set(fresh) - set(current)
        unknown_ids = [r.id for r in rows if r.sku in unknown_skus]
        return ChunkPlan(len(rows), current, changed, history, levels, unknown_ids, unknown_skus)

    def announce(self, plan: ChunkPlan) -> None:
        """After the chunk's commit: log its unknown SKUs, tell the host of the stock it changed."""
        if plan.unknown_skus:
            log.info("stock feed: %d SKU(s) not in the shop, skipped (e.g. %s)", len(plan.unknown_skus), sorted(plan.unknown_skus)[0])
        if plan.changed and signals.stock_changed.receivers:  # the UPDATE bypassed the ORM: this is how the host hears of it (its caches)
            signals.notify(signals.stock_changed, self.state.app, changes={sku: (plan.current[sku], qty) for sku, qty in plan.changed.items()})

    def read_batches(self, ids: set[int]) -> None:
        missing = ids - set(self.batches)
        if missing:
            self.batches.update((b.id, b) for b in self.session.execute(self.batch_stmt, {"ids": list(missing)}))

    def figure_time(self, row: AnyRow) -> tuple[int, dt.datetime | None]:
        """(batch id, when its request was sent); None for a batch recovered through 99 (frozen earlier)."""
        batch = self.batches.get(row.batch_id)
        return row.batch_id, (None if batch is None or batch.recovered else batch.fetched_at)


@dataclass
class ChunkPlan:
    """A chunk's writes, worked out in Python from what its claim and reads returned."""

    rows: int
    current: dict[str, int]  # the shop's stock before, of the SKUs with a fresh figure
    changed: dict[str, int]  # SKU -> new stock, where it differs
    history: list[dict[str, Any]]
    levels: list[dict[str, Any]]
    unknown_ids: list[int]  # rows whose SKU the shop does not have
    unknown_skus: set[str]

    def counts(self) -> dict[str, int]:
        return {"rows": self.rows, "changed": len(self.changed), "unknown": len(self.unknown_skus)}


def newest_per_sku(rows: list[AnyRow]) -> dict[str, AnyRow]:
    """Each SKU's row of the newest batch (a chunk may hold one SKU from several batches)."""
    newest: dict[str, AnyRow] = {}
    for row in rows:
        if row.sku not in newest or (row.batch_id, row.id) > (newest[row.sku].batch_id, newest[row.sku].id):
            newest[row.sku] = row
    return newest


def fresh_figures(newest: dict[str, AnyRow], level_batch: dict[str, int], shop_stock: dict[str, int]) -> tuple[dict[str, AnyRow], dict[str, int]]:
    """The figures no newer batch has overtaken, and the shop's current stock of those SKUs it has."""
    fresh = {sku: row for sku, row in newest.items() if sku not in level_batch or level_batch[sku] <= row.batch_id}
    return fresh, {sku: stock for sku, stock in shop_stock.items() if sku in fresh}


def _detail(row: AnyRow, reserved: int) -> str:
    text = f"Specter available {row.available}"
    if row.in_stock is not None:
        text += f" (in stock {row.in_stock})"
    if reserved:
        text += f" minus {reserved} in shop orders not yet in Specter's figure"
    return text


def _newer_level(stmt: Any) -> Any:
    """The upsert of a level: a stored figure of a newer batch is kept."""
    return stmt.on_conflict_do_update(
        index_elements=[LEVELS.c.sku],
        set_={"available": stmt.excluded.available, "in_stock": stmt.excluded.in_stock, "batch_id": stmt.excluded.batch_id, "updated_at": stmt.excluded.updated_at},
        where=LEVELS.c.batch_id <= stmt.excluded.batch_id,
    )

