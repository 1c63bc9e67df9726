"""PostgreSQL: a job's chunks over one connection in psycopg's pipeline mode, two round trips a chunk.

Through the session a chunk cost about fourteen round trips (BEGIN, the settings, the claim, the reads,
three writes, COMMIT, the look for more), and on PostgreSQL each round trip, not the SQL, was most of
the time: 9.3 ms a chunk of which the server's work was about 4 (measured at 100k SKUs). Here the
statements of a chunk travel together: ``BEGIN``, the claim, the chunk's settings and the read of the
claimed rows (with each SKU's stored level, shop stock, reservation hold and the stock-sync toggle) in
one round trip; the stock UPDATE, history, levels and ``COMMIT`` in the second. A chunk whose SKUs have
reservations reads them in a third; a chunk that was not full looks for more rows in one more.

Nothing about a chunk changes: it is one transaction of the same statements (the claim marks its rows
applied, so a killed worker or a cut connection rolls the whole chunk back and its rows wait again).
The job's connection is its own, in autocommit mode with explicit ``BEGIN``/``COMMIT``, and goes back
to the pool when the job ends.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import BigInteger, Integer, String, any_, bindparam, update
from sqlalchemy.dialects.postgresql import ARRAY

from ..bulk_sql import BinaryStatement
from ..models import Reservation, ReservationAck, utcnow
from ..stock import divide_reservations, held_reservations, release_statements
from .stock_chunk import ANY_PENDING, ROWS, AnyRow, ChunkPlan, ChunkWriter

# Custom plans for each chunk's own values (psycopg prepares a statement after five runs, and a generic
# plan made while a table was still empty stays a sequential scan as it grows: 11 ms a chunk at 100k SKUs,
# measured), and no wait for the WAL flush at COMMIT: a chunk a database crash undoes had its rows marked applied in the same transaction, so they
# are pending again and applied by the next job or sweep (the stock is Specter's figure, written again).
CHUNK_SETTINGS = [("SET LOCAL plan_cache_mode = force_custom_plan", None), ("SET LOCAL synchronous_commit = off", None)]


class PipelinedChunks(ChunkWriter):
    """``ChunkWriter`` for PostgreSQL: the same chunk, its statements sent in two round trips."""

    def __init__(self) -> None:
        super().__init__()
        dialect = self.session.get_bind().dialect
        table, sku_col, stock_col = self.state.adapter.stock_target()
        ids = bindparam("ids", type_=ARRAY(BigInteger))
        orders = bindparam("orders", type_=ARRAY(String))
        self.sql = {
            "claim": BinaryStatement(self.mark_claimed, dialect),
            "read": BinaryStatement(self.read_claimed, dialect),
            "pending": BinaryStatement(ANY_PENDING, dialect),
            "unknown": BinaryStatement(update(ROWS).where(ROWS.c.id == any_(ids)).values(state="unknown"), dialect),
            "held": BinaryStatement(held_reservations(Reservation.sku == any_(bindparam("skus", type_=ARRAY(String)))), dialect),
            "stock": BinaryStatement(self.set_stock.statement, dialect),
            "history": BinaryStatement(self.add_history.statement, dialect),
            "levels": BinaryStatement(self.put_levels.statement, dialect),
        }
        release = release_statements(Reservation.id == any_(bindparam("ids", type_=ARRAY(Integer))), ReservationAck.order_ref == any_(orders))
        self.release_sql = [BinaryStatement(stmt, dialect) for stmt in release]
        self.connection = self.session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT")
        self.pg: Any = self.connection.connection.driver_connection
        self.open = False  # a transaction (a claimed chunk) is open on the connection
        self.releases: list[tuple[str, dict[str, Any] | None]] = []  # the chunk's reservation deletes (``settle``)

    def claim_and_read(self, size: int, *, begun: bool) -> list[AnyRow]:
        """``ChunkWriter.claim_and_read`` in one round trip; a chunk's first also begins its transaction.

        The claim runs before the chunk's SET LOCAL: its prepared generic plan walks the (state, id)
        index, where a custom plan trusted stale statistics (a bitmap scan and a sort of every pending
        row: 10 ms a chunk, measured)."""
        claim, read, token = self.sql["claim"], self.sql["read"], uuid.uuid4().hex
        statements = [(claim.sql, claim.params(size=size, now=utcnow(), token=token, after=self.after)), *CHUNK_SETTINGS, (read.sql, read.params(token=token))]
        *_, rows = self._send(statements if begun else [("BEGIN", None), *statements], open_after=True)
        return list(rows.fetchall())

    def write(self, rows: list[AnyRow]) -> dict[str, int]:
        """Write and commit the claimed chunk; returns its counts."""
        self.releases = []
        plan = self.plan(rows)
        self._send([*self.releases, *self._writes(plan), ("COMMIT", None)], open_after=False)
        self.announce(plan)
        return plan.counts()

    def read_batches(self, ids: set[int]) -> None:
        """``ChunkWriter.read_batches``, then end the session's transaction: left open, it kept PostgreSQL
        from pruning the claimed rows' old index entries, which every later claim walked again."""
        if ids - set(self.batches):
            super().read_batches(ids)
            self.session.commit()

    def release(self) -> None:
        """Give back a claimed chunk unapplied (stock sync switched off, nothing claimed, the job stops)."""
        if self.open:
            self._send([("ROLLBACK", None)], open_after=False)

    def more_waiting(self) -> bool:
        """``has_pending`` on the job's connection, outside a transaction: the session's would stay open."""
        return bool(self._send([(self.sql["pending"].sql, self.sql["pending"].params())], open_after=False)[0].fetchone())

    def close(self) -> None:
        try:
            self.release()
        finally:
            self.connection.close()

    def settle(self, figures: dict[str, tuple[int, Any]]) -> dict[str, int]:
        """``stock.settle_reservations`` inside the chunk's transaction: the read now, the deletes with the writes."""
        with self.pg.cursor(row_factory=namedtuple_row) as cur:
            cur.execute(self.sql["held"].sql, self.sql["held"].params(skus=list(figures)))
            reserved, released, orders = divide_reservations(cur.fetchall(), figures)
        if released:
            self.releases = [(c.sql, c.params(ids=released, orders=sorted(orders))) for c in self.release_sql]
        return reserved

    def _writes(self, plan: ChunkPlan) -> list[tuple[str, dict[str, Any] | None]]:
        sql = self.sql
        writes: list[tuple[str, dict[str, Any] | None]] = []
        if plan.changed:
            writes.append((sql["stock"].sql, sql["stock"].params(**self.set_stock.params(plan.changed, plan.versions, self.connection.dialect))))
            writes.append((sql["history"].sql, sql["history"].params(**_arrays(plan.history))))
        if plan.levels:
            writes.append((sql["levels"].sql, sql["levels"].params(**_arrays(plan.levels))))
        if plan.unknown_ids:
            writes.append((sql["unknown"].sql, sql["unknown"].params(ids=plan.unknown_ids)))
        return writes

    def _send(self, statements: list[tuple[str, dict[str, Any] | None]], *, open_after: bool) -> list[Any]:
        """Run ``statements`` in one round trip; their cursors, to read results from. A failure rolls the
        chunk back (the connection may be gone: then the server has rolled it back)."""
        cursors = []
        try:
            with self.pg.pipeline():
                for sql, params in statements:
                    cur = self.pg.cursor(row_factory=namedtuple_row)
                    cur.execute(sql, params)
                    cursors.append(cur)
        except Exception:
            self.open = False
            if not self.pg.closed:
                try:
                    self.pg.execute("ROLLBACK")
                except Exception:  # noqa: S110 - the connection is unusable: closing it ends the transaction
                    self.connection.invalidate()
            raise
        self.open = open_after
        return cursors


def _arrays(values: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as one array per column (``bulk_sql``'s ``unnest`` parameters)."""
    return {f"{key}_array": [v[key] for v in values] for key in values[0]}
