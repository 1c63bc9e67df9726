"""The database goes away while stock moves: nothing is lost, nothing is done twice.

The README promises: rows are stored before the batch is confirmed, so a database that drops its
connections during a pull leaves the batch open at Specter, and the next pull recovers it (error 99).
A pull cut while confirming confirms the stored batch again and never stores it twice. A chunk whose
connection dies is rolled back whole and applied later. The connection is cut for real: PostgreSQL
terminates every backend of the worker (a real ``flask specter worker`` process when Redis is set)
while the worker is inside the step.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from flask_specter.models import Batch, FeedState, StockHistory

from .conftest import wait_until
from .test_stock_sync import callback, confirms_per_batch, seed, shop_stock, specter_available, stock_rows

pytestmark = [pytest.mark.timeout(180)]

FETCH = "getArticleExternalNeedUpdate"
CONFIRM = "updateArticlesFromBatch"
SLOW = 3.0  # seconds Specter sits on the fetch (or confirm); below SPECTER_TIMEOUT (5 s) of the test shops
BACKOFF = 2.0  # the pull's retry comes this long after the failure: the window to look at it


@pytest.fixture
def postgres(shop_config):
    """The test database's URL, when it is PostgreSQL (the server can cut a client's connection)."""
    url = shop_config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        pytest.skip(
            "needs PostgreSQL (TEST_DATABASE_URL): SQLite is a file in the worker's own process, "
            "there is no server connection that can be cut under it"
        )
    return url


def _cut_connections(url: str) -> int:
    """Terminate every other backend of the database (the worker's pooled connections); how many."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).all())
    finally:
        engine.dispose()


def _waiting_in_transaction(url: str, last_query: str) -> bool:
    """Does a backend hold a transaction open, its last statement like ``last_query``, while its
    worker waits for Specter's answer?"""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction' AND query ILIKE :last_query"
            ), {"last_query": last_query}).first())
    finally:
        engine.dispose()


def _pull_waiting_on_fetch(url: str) -> bool:
    return _waiting_in_transaction(url, "UPDATE specter_feed_state%locked_until%")  # the lease just renewed


def _feed(app) -> tuple[str | None, int]:
    with app.app_context():
        row = app.extensions["specter"].db.session.execute(
            select(FeedState.last_error, FeedState.failures).where(FeedState.feed == "stock")
        ).one()
        return row.last_error, row.failures


def _batches(app) -> dict[str, tuple[str, bool]]:
    with app.app_context():
        rows = app.extensions["specter"].db.session.execute(select(Batch.batch_no, Batch.state, Batch.recovered).where(Batch.feed == "stock"))
        return {r.batch_no: (r.state, r.recovered) for r in rows}


def _history_rows(app) -> int:
    with app.app_context():
        return len(app.extensions["specter"].db.session.execute(select(StockHistory.id).where(StockHistory.source == "specter")).all())


def _fetches(sandbox) -> list[dict]:
    return sandbox.hooks.calls(action=FETCH)


def test_connection_cut_between_fetch_and_store_the_next_pull_recovers_the_batch(make_shop, sandbox, postgres, shop_worker):
    app = make_shop(SPECTER_RETRY_BACKOFF=BACKOFF, SPECTER_RETRY_BACKOFF_MAX=BACKOFF)
    seed(sandbox, app, 40)
    sandbox.hooks.fault(FETCH, "slow", seconds=SLOW)  # the first fetch only
    shop_worker(app)
    assert callback(app).data == b"1;Done"

    wait_until(lambda: _pull_waiting_on_fetch(postgres), timeout=60, message="the pull to wait on its fetch")
    assert _cut_connections(postgres) >= 1  # the database restarts under the pull

    # The pull fails on the dead connection after Specter answered: recorded, nothing stored or confirmed.
    error, failures = wait_until(lambda: _feed(app)[0] and _feed(app), timeout=30, message="the failure on the feed")
    assert failures >= 1 and "Oväntat fel" in error, error
    assert _batches(app) == {}
    first = _fetches(sandbox)[0]
    assert first["ok"] and first["fault"] == "slow"
    assert sandbox.hooks.state(articles=False)["feeds"]["stock"]["openBatch"] == first["batchNo"]
    assert confirms_per_batch(sandbox) == {}
    assert set(shop_stock(app).values()) == {0}

    # RQ's retry asks for a new batch, gets error 99 for the open one, stores it and confirms it once.
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=90, message="the retry to recover the batch")
    assert _batches(app)[first["batchNo"]] == ("confirmed", True)
    assert confirms_per_batch(sandbox)[first["batchNo"]] == 1
    assert set(confirms_per_batch(sandbox).values()) == {1}
    assert any(c["code"] == 99 for c in _fetches(sandbox))
    assert sandbox.hooks.state(articles=False)["feeds"]["stock"]["openBatch"] in (None, "")
    assert stock_rows(app)["applied"] == 40
    wait_until(lambda: _feed(app) == (None, 0), timeout=30, message="the feed's error cleared by the successful pull")


def test_connection_cut_inside_a_chunk_rolls_it_back_and_it_is_applied_later(make_shop, sandbox, postgres, shop_worker):
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=50, SPECTER_DEBUG_PAUSE_IN_CHUNK=3, SPECTER_RETRY_BACKOFF=0.5, SPECTER_RETRY_BACKOFF_MAX=1)
    seed(sandbox, app, 120)
    queue = app.extensions["specter"].queue
    in_chunk = queue._key("debug-in-chunk")
    shop_worker(app)
    assert callback(app).data == b"1;Done"

    wait_until(lambda: queue.connection.exists(in_chunk), timeout=60, message="the worker to be inside its first chunk")
    assert _cut_connections(postgres) >= 1
    # The chunk's transaction died with its connection: every row still waits, none half-applied.
    assert stock_rows(app) == {"pending": 120}
    assert set(shop_stock(app).values()) == {0}

    wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=90, message="the chunks to be applied after the cut")
    assert stock_rows(app) == {"applied": 120}
    assert _history_rows(app) == 120  # each SKU changed once: no chunk was applied twice
    assert set(confirms_per_batch(sandbox).values()) == {1}


def test_connection_cut_while_confirming_the_stored_batch_is_confirmed_again_never_stored_twice(make_shop, sandbox, postgres, shop_worker):
    app = make_shop(SPECTER_RETRY_BACKOFF=BACKOFF, SPECTER_RETRY_BACKOFF_MAX=BACKOFF)
    seed(sandbox, app, 40)
    sandbox.hooks.fault(CONFIRM, "slow", seconds=SLOW)  # Specter confirms, 3 s later
    shop_worker(app)
    assert callback(app).data == b"1;Done"

    stored = wait_until(lambda: next(iter(_batches(app).items()), None), timeout=60, message="the batch to be stored")
    batch_no, (state, _) = stored
    assert state == "stored"
    wait_until(lambda: _waiting_in_transaction(postgres, "SELECT specter_batches.%"), timeout=30, message="the pull to wait on its confirm")
    assert _cut_connections(postgres) >= 1

    # Specter confirmed; we could not write that down. The rows are safe, the batch still reads "stored".
    error, failures = wait_until(lambda: _feed(app)[0] and _feed(app), timeout=30, message="the failure on the feed")
    assert failures >= 1 and "Oväntat fel" in error, error
    assert _batches(app)[batch_no][0] in ("stored", "confirmed")  # "confirmed" once the retry has run

    # The retry confirms the stored batch again (a second confirm is a success, says the contract),
    # and never fetches or stores its rows a second time.
    wait_until(lambda: _batches(app)[batch_no][0] == "confirmed", timeout=60, message="the retry to confirm the stored batch")
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=60, message="the stored rows to be applied")
    assert list(_batches(app)) == [batch_no]
    assert confirms_per_batch(sandbox) == {batch_no: 2}
    assert sum(stock_rows(app).values()) == 40 and stock_rows(app)["applied"] == 40
    assert _history_rows(app) == 40
