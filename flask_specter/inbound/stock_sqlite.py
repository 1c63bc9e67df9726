"""SQLite: a chunk reads its rows before it takes the write lock, so checkouts write while it reads.

SQLite has one writer at a time. A chunk that claimed its rows first held the write lock while it read
them, and back to back the chunks left a checkout almost no moment to take it (SQLite's busy handler
looks again after 1, 2, 5 … 100 ms), so each chunk paused a millisecond after its commit: a third of a
chunk's time, for every chunk, with or without a checkout. Here a chunk reads its next rows (with each
SKU's level, shop stock, hold and the stock-sync toggle) in a read transaction, which in WAL mode takes
no lock, and only then begins its write transaction. ``PRAGMA data_version`` tells whether another
connection committed in between: if none did, the rows read are exactly the pending rows of that id
range, and the chunk claims the range. If one did (a checkout, a pull storing rows, the admin), what
was read may be stale: the chunk claims and reads inside its write transaction as ``ChunkWriter`` does.

The pause stays, but only while others write: for ``BUSY_FOR`` seconds after the chunks last saw another
connection's commit, each chunk leaves ``SQLITE_WRITER_GAP`` after its own, so the next checkout finds
the lock free. An apply with nobody else writing runs its chunks back to back.

The claim still marks the rows applied in the chunk's transaction: a killed worker leaves nothing half
done.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import BigInteger, Integer, bindparam, select, update

from ..bulk_sql import DriverStatement
from ..models import utcnow
from ..sqlite import reading_only
from .stock_chunk import CLAIM_MARKS, CLAIMED, PENDING, ROWS, AnyRow, ChunkWriter, named_rows

# The pause after a chunk while others write: a millisecond lets a waiting checkout in (without it the
# checkouts' p90 wait was 20-50 ms, with it about 1 ms: bench/checkout_contention.py measures both).
SQLITE_WRITER_GAP = 0.001
BUSY_FOR = 1.0  # seconds after another connection's last commit seen during which the chunks pause


class ReadFirstChunks(ChunkWriter):
    """``ChunkWriter`` for SQLite: a chunk's rows read outside the write lock, claimed by id range."""

    def __init__(self) -> None:
        super().__init__()
        after = ROWS.c.id > bindparam("after", type_=BigInteger)
        read_next = select(*CLAIMED, *self.details).where(PENDING, after).order_by(ROWS.c.id).limit(bindparam("size", type_=Integer))
        claim_range = update(ROWS).where(PENDING, after, ROWS.c.id <= bindparam("last", type_=BigInteger)).values(CLAIM_MARKS)
        self.read_next = named_rows(read_next, self.session)
        self.claim_range = DriverStatement(claim_range, self.session)
        self.version: tuple[int, int] | None = None  # (connection, ``PRAGMA data_version``) at the last ``_look``
        self.others_wrote_at = -BUSY_FOR  # ``time.monotonic()`` when another connection's commit was last seen

    def claim_and_read(self, size: int, *, begun: bool) -> list[AnyRow]:
        """Read the next ``size`` pending rows, then begin the write transaction and claim them by range;
        ``ChunkWriter``'s claim inside the transaction when another connection committed in between."""
        session = self.session
        if session().in_transaction():  # a transaction this job began already: no read before it
            return super().claim_and_read(size, begun=begun)
        with reading_only():  # a deferred BEGIN: in WAL mode, no lock
            rows = self.read_next.run(session, size=size, after=self.after)
            self._look()
        session.commit()
        if not rows:
            return rows
        if self._look():  # this begins the write transaction (BEGIN IMMEDIATE); someone wrote since the read
            return super().claim_and_read(size, begun=True)
        self.claim_range.run(session, after=self.after, last=rows[-1].id, now=utcnow(), token=uuid.uuid4().hex)
        return rows

    def write(self, rows: list[AnyRow]) -> dict[str, int]:
        """``ChunkWriter.write``, then a pause for the others' writes while there are any (``BUSY_FOR``)."""
        counts = super().write(rows)
        if time.monotonic() - self.others_wrote_at < BUSY_FOR:
            time.sleep(SQLITE_WRITER_GAP)
        return counts

    def _look(self) -> bool:
        """Has another connection committed since the last look? ``PRAGMA data_version`` counts their
        commits per connection (a look on another connection counts as a change)."""
        driver = self.session.connection().connection.driver_connection
        assert driver is not None
        version = id(driver), driver.execute("PRAGMA data_version").fetchone()[0]
        changed = self.version is not None and version != self.version
        self.version = version
        if changed:
            self.others_wrote_at = time.monotonic()
        return changed
