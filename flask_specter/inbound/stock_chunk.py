"""One chunk of stored stock rows written to the shop: the statements, built once per job.

A chunk is one transaction of few statements: claim up to N pending rows (one ``UPDATE`` whose
materialized CTE picks them, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single writer lock
does the same), read them back by their claim token with each SKU's stored level, the shop's stock,
whether a reservation holds it and the stock-sync toggle, read the reservations of held SKUs only
(``stock.settle_reservations``), write the shop's stock in one UPDATE, history and levels as multi-row
INSERTs (``bulk_sql``), commit. ``ChunkWriter`` builds these statements once and runs them for every
chunk of a job: at 100 rows a chunk, building them cost more than running them. On PostgreSQL,
``stock_pipeline.PipelinedChunks`` sends the same statements in two round trips a chunk; on SQLite,
``stock_sqlite.ReadFirstChunks`` reads a chunk before it takes the write lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import namedtuple
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, Row, Table, bindparam, delete, exists, select, update

from .. import signals
from ..bulk_sql import BulkInsert, BulkUpdate, DriverStatement
from ..host_columns import host_columns
from ..models import Batch, Reservation, SettingRow, StockHistory, StockLevel, StockRow, utcnow
from ..settings import stored_toggle
from ..state import get_state
from ..stock import settle_reservations

log = logging.getLogger("flask_specter.stock")

AnyRow = Row[*tuple[Any, ...]]
# The mapped classes declare __table__ a FromClause; these are Tables (Core statements, no ORM bulk path).
ROWS: Table = StockRow.__table__  # type: ignore[assignment]
LEVELS: Table = StockLevel.__table__  # type: ignore[assignment]
HISTORY: Table = StockHistory.__table__  # type: ignore[assignment]
CLAIMED = (ROWS.c.id, ROWS.c.batch_id, ROWS.c.sku, ROWS.c.available, ROWS.c.in_stock)
PENDING = ROWS.c.state == "pending"
HISTORY_KEYS = ["sku", "old", "new", "source", "batch_no", "detail", "created_at"]
LEVEL_KEYS = ["sku", "available", "in_stock", "batch_id", "updated_at"]
ANY_PENDING = select(ROWS.c.id).where(PENDING).limit(1)
# What a claim writes on its rows: applied in the chunk's own transaction, with the chunk's token.
CLAIM_MARKS = {"state": "applied", "applied_at": bindparam("now"), "claim_token": bindparam("token")}


def named_rows(statement: Any, session: Any) -> DriverStatement:
    """``statement`` run through SQLite's driver, its rows as named tuples of its columns (``Claimed``)."""
    fields = namedtuple("Claimed", [column.name for column in statement.selected_columns])  # type: ignore[misc]
    return DriverStatement(statement, session, fields._make)


def has_pending() -> bool:
    """Is any row waiting? An index lookup, never a count."""
    return get_state().db.session.execute(ANY_PENDING).first() is not None


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

        # A job's claims start after the last row it claimed: PostgreSQL keeps the index entries of the rows
        # applied before until a vacuum, and a claim from the start walked over all of them (1.3 ms a chunk
        # at 100k, growing). Rows before that point (a chunk another worker gave back) are claimed when
        # nothing is left after it.
        self.after = 0
        after = ROWS.c.id > bindparam("after", type_=BigInteger)
        first = select(ROWS.c.id).where(PENDING, after).order_by(ROWS.c.id).limit(bindparam("size", type_=Integer)).with_for_update(skip_locked=True)
        self.first_ids = first
        picked = first.cte("specter_claimable").prefix_with("MATERIALIZED")  # the LIMIT runs once, whatever the plan
        self.claim_by_id = update(ROWS).where(ROWS.c.id.in_(bindparam("ids", expanding=True)), PENDING).values(CLAIM_MARKS)
        # After the claim, its rows are read by their token with each SKU's stored level, the shop's stock,
        # whether a reservation holds it, and the stock-sync toggle. Subqueries, looked up by index per
        # row: as joins, PostgreSQL's planner, trusting statistics taken before the levels were written,
        # hashed the whole levels table for every chunk (a scan that grows with the catalogue; 3-4 ms a
        # chunk at 100k). Not in the claim's RETURNING: SQLite computes such a subquery there once for all rows.
        level = select(LEVELS.c.batch_id).where(LEVELS.c.sku == ROWS.c.sku).scalar_subquery()
        shop = select(stock_col).where(sku_col == ROWS.c.sku).limit(1).scalar_subquery()  # a SKU twice in the shop: one of them
        held = exists(select(Reservation.id).where(Reservation.sku == ROWS.c.sku))
        toggle = select(SettingRow.value).where(SettingRow.key == "stock_sync").scalar_subquery()
        self.details: tuple[Any, ...] = (level.label("level_batch"), shop.label("shop_stock"), held.label("held"), toggle.label("stock_sync"))
        # The host's onupdate columns and version counter move with our stock write (``host_columns``); a
        # custom version generator needs each row's version before.
        self.host = host_columns(table, sku_col, stock_col, state.db)
        if (version := self.host.version_read()) is not None:
            self.details += (select(version).where(sku_col == ROWS.c.sku).limit(1).scalar_subquery().label("shop_version"),)
        self.mark_claimed = update(ROWS).where(ROWS.c.id == picked.c.id, PENDING).values(CLAIM_MARKS)
        self.claim_stmt = self.mark_claimed.returning(*CLAIMED)
        self.read_claimed = select(*CLAIMED, *self.details).where(ROWS.c.claim_token == bindparam("token")).order_by(ROWS.c.id)
        self.driver: tuple[DriverStatement, DriverStatement] | None = None  # SQLite: the claim and the read, run through the driver
        self.batch_stmt = select(Batch.id, Batch.batch_no, Batch.fetched_at, Batch.recovered).where(Batch.id.in_(bindparam("ids", expanding=True)))
        self.unknown_stmt = update(ROWS).where(ROWS.c.id.in_(bindparam("ids", expanding=True))).values(state="unknown")
        self.set_stock = BulkUpdate(dialect, table, sku_col, stock_col, self.host)
        self.add_history = BulkInsert(dialect, HISTORY, HISTORY_KEYS)
        self.put_levels = BulkInsert(dialect, LEVELS, LEVEL_KEYS, on_conflict=_newer_level if self.upsert else None)

    def take(self, size: int) -> tuple[bool, list[AnyRow]]:
        """Begin a chunk: (stock sync still on, the rows claimed in the open transaction, each with its
        SKU's level, shop stock and hold). Nothing claimed: (True, [])."""
        rows = self.claim_and_read(size, begun=False)
        if not rows and self.after:  # nothing after this job's last claim: look from the start once
            self.after = 0
            rows = self.claim_and_read(size, begun=True)
        if rows:
            self.after = rows[-1].id
        return not rows or sync_on(rows[0]), rows

    def claim_and_read(self, size: int, *, begun: bool) -> list[AnyRow]:
        """Claim up to ``size`` rows after ``self.after`` and read them (``read_claimed``), sorted by id."""
        token = uuid.uuid4().hex
        if self.dialect == "sqlite":
            if self.driver is None:
                self.driver = DriverStatement(self.mark_claimed, self.session), named_rows(self.read_claimed, self.session)
            mark, read = self.driver
            mark.run(self.session, size=size, now=utcnow(), token=token, after=self.after)
            return read.run(self.session, token=token)
        if self.upsert:  # the claim's own rows are not needed: the read brings them, with more
            self.session.execute(self.mark_claimed, {"size": size, "now": utcnow(), "token": token, "after": self.after})
        else:  # pragma: no cover - other databases
            self.claim(size, token)
        return list(self.session.execute(self.read_claimed, {"token": token}))

    def write(self, rows: list[AnyRow]) -> dict[str, int]:
        """Write and commit the claimed chunk (rows from ``take``); returns its counts."""
        session = self.session
        plan = self.plan(rows)
        if plan.changed:
            self.set_stock.run(session, plan.changed, plan.versions)
            self.add_history.run(session, plan.history)
        if not self.upsert and plan.levels:  # pragma: no cover - other databases: delete then insert
            session.execute(delete(LEVELS).where(LEVELS.c.sku.in_([level["sku"] for level in plan.levels])))
        self.put_levels.run(session, plan.levels)
        if plan.unknown_ids:
            session.execute(self.unknown_stmt, {"ids": plan.unknown_ids})
        session.commit()
        self.announce(plan)
        return plan.counts()

    def settle(self, figures: dict[str, tuple[int, dt.datetime | None]]) -> dict[str, int]:
        """``stock.settle_reservations`` for the held SKUs, in the chunk's transaction."""
        return settle_reservations(figures)

    def release(self) -> None:
        """End a chunk without writing (stock sync is off, or nothing was claimed): its rows wait again."""
        self.session.rollback()

    def close(self) -> None:
        """The job is done with the writer."""

    def more_waiting(self) -> bool:
        """Does any row wait (after a chunk that was not full)?"""
        return has_pending()

    def claim(self, size: int, token: str | None = None) -> list[AnyRow]:
        """Claim the next ``size`` pending rows in the current transaction (committed by ``write``).

        Marked applied at once: the same transaction writes the stock, so it commits all or nothing.
        """
        params = {"size": size, "now": utcnow(), "token": token or uuid.uuid4().hex, "after": self.after}
        if not self.upsert:  # pragma: no cover - read the ids, then claim by id
            ids = self.session.execute(self.first_ids, params).scalars().all()
            self.session.execute(self.claim_by_id, {**params, "ids": ids})
            return list(self.session.execute(self.read_claimed, params))
        return sorted(self.session.execute(self.claim_stmt, params), key=lambda row: row.id)  # RETURNING keeps no order

    def plan(self, rows: list[AnyRow]) -> ChunkPlan:
        """What the chunk writes (rows from ``take``): the shop's new stock, its history, the levels and
        the unknown SKUs' rows. Older batches never overwrite newer ones. (One pass per step, each row's
        fields read once: at 100 rows a chunk this Python was a sixth of a SQLite chunk.)"""
        fresh: dict[str, AnyRow] = {}
        current: dict[str, int] = {}
        held: list[str] = []
        for sku, row in newest_per_sku(rows).items():
            level = row.level_batch
            if level is not None and level > row.batch_id:
                continue
            fresh[sku] = row
            if row.shop_stock is not None:
                current[sku] = row.shop_stock
                if row.held:
                    held.append(sku)
        self.read_batches({r.batch_id for r in fresh.values()})
        reserved = self.settle({sku: self.figure_time(fresh[sku]) for sku in held}) if held else {}
        now = utcnow()
        batches = self.batches
        changed: dict[str, int] = {}
        history: list[dict[str, Any]] = []
        for sku, stock in current.items():
            row = fresh[sku]
            held_back = reserved.get(sku, 0)
            qty = max(0, row.available - held_back)
            if qty != stock:
                changed[sku] = qty
                batch = batches.get(row.batch_id)
                detail = _detail(row, held_back)
                history.append({"sku": sku, "old": stock, "new": qty, "source": "specter", "batch_no": batch and batch.batch_no, "detail": detail, "created_at": now})
        levels = [{"sku": sku, "available": r.available, "in_stock": r.in_stock, "batch_id": r.batch_id, "updated_at": now} for sku, r in fresh.items()]
        unknown_skus = fresh.keys() - current.keys()
        unknown_ids = [r.id for r in rows if r.sku in unknown_skus] if unknown_skus else []
        versions = {sku: fresh[sku].shop_version for sku in changed} if self.host.version_read() is not None else {}
        return ChunkPlan(len(rows), current, changed, history, levels, unknown_ids, unknown_skus, versions)

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
    versions: dict[str, Any]  # SKU -> the shop row's version before, for a custom version generator only

    def counts(self) -> dict[str, int]:
        return {"rows": self.rows, "changed": len(self.changed), "unknown": len(self.unknown_skus)}


def sync_on(row: AnyRow) -> bool:
    """The stock-sync toggle as a claimed row brought it (``stock_sync``: the stored text, or None)."""
    return stored_toggle("stock_sync", row.stock_sync)


def newest_per_sku(rows: list[AnyRow]) -> dict[str, AnyRow]:
    """Each SKU's row of the newest batch (a chunk may hold one SKU from several batches)."""
    newest = {row.sku: row for row in rows}
    if len(newest) == len(rows):  # each SKU once: the common case
        return newest
    newest = {}
    for row in rows:
        if row.sku not in newest or (row.batch_id, row.id) > (newest[row.sku].batch_id, newest[row.sku].id):
            newest[row.sku] = row
    return newest


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

