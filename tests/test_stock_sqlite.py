"""SQLite's chunks read their rows before they take the write lock (``stock_sqlite.ReadFirstChunks``):
what another connection commits between the read and the claim is never lost (the chunk claims and reads
again inside its transaction), and the chunks pause for others' writes only while there are any."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.pool import NullPool

from flask_specter import signals
from flask_specter.inbound import stock_apply, stock_sqlite
from flask_specter.models import Reservation

from .test_stock_chain import _run_job, _stored
from .test_stock_sync import shop_stock, specter_available, stock_rows


@pytest.fixture
def sqlite_shop(make_shop):
    def factory(**config):
        app = make_shop(SPECTER_STOCK_BATCH_DELAY=0, **config)
        if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            pytest.skip("SQLite's chunks")
        return app

    return factory


def _other_connection(app):
    """A connection of another process's kind: its own engine on the same file."""
    return create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)


def test_the_apply_on_sqlite_reads_first(sqlite_shop):
    app = sqlite_shop()
    with app.app_context():
        writer = stock_apply.open_writer()
        assert isinstance(writer, stock_sqlite.ReadFirstChunks)
        writer.close()


def test_a_reservation_committed_between_the_read_and_the_claim_is_held_back(sqlite_shop, sandbox, monkeypatch):
    """A checkout commits its reservation after the first chunk read its rows but before it took the
    lock: the rows read say the SKU holds nothing, so the chunk must read again inside its transaction."""
    app = sqlite_shop(SPECTER_STOCK_BATCH_SIZE=50)
    _stored(app, sandbox, 120)
    other = _other_connection(app)
    looks: list[bool] = []
    real_look = stock_sqlite.ReadFirstChunks._look

    def look(self):
        if len(looks) == 1:  # the first chunk's second look: its write transaction begins now
            with other.begin() as conn:
                conn.execute(insert(Reservation), {"order_ref": "WEB-1", "sku": "SKU-00000", "qty": 3})
        looks.append(real_look(self))
        return looks[-1]

    first_chunk: list[str] = []
    real_claim = stock_sqlite.ReadFirstChunks.claim_and_read

    def claim_and_read(self, size, *, begun):
        rows = real_claim(self, size, begun=begun)
        first_chunk.extend([] if first_chunk else [row.sku for row in rows])
        return rows

    monkeypatch.setattr(stock_sqlite.ReadFirstChunks, "_look", look)
    monkeypatch.setattr(stock_sqlite.ReadFirstChunks, "claim_and_read", claim_and_read)
    result = _run_job(app, [])
    other.dispose()
    assert looks[:2] == [False, True]  # the second look saw the other connection's commit
    assert "SKU-00000" in first_chunk and result["rows"] == 120 and stock_rows(app) == {"applied": 120}
    expected = specter_available(sandbox)
    expected["SKU-00000"] -= 3  # the shop's own order, not in Specter's figure yet
    assert shop_stock(app) == expected


def test_chunks_pause_only_while_another_connection_writes(sqlite_shop, sandbox, monkeypatch):
    app = sqlite_shop(SPECTER_STOCK_BATCH_SIZE=20)
    _stored(app, sandbox, 200)
    pauses: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds):
        if seconds == stock_sqlite.SQLITE_WRITER_GAP:
            pauses.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(stock_sqlite.time, "sleep", sleep)
    other = _other_connection(app)

    def a_checkout_after_the_fifth_chunk(sender, **kw):
        applied.append(kw["rows"])
        if len(applied) == 5:
            with other.begin() as conn:
                conn.execute(text("UPDATE product SET name = 'Sålt' WHERE id = (SELECT min(id) FROM product)"))  # a change: SQLite skips a write of the same bytes

    applied: list[int] = []
    signals.stock_chunk_applied.connect(a_checkout_after_the_fifth_chunk, app)
    try:
        with app.app_context():
            result = stock_apply.run_apply_chunk()
    finally:
        signals.stock_chunk_applied.disconnect(a_checkout_after_the_fifth_chunk, app)
        other.dispose()
    assert result["rows"] == 200 and len(applied) == 10
    assert len(pauses) == 5  # none for the first five chunks; after the other's commit, one after each chunk
    assert shop_stock(app) == specter_available(sandbox)
