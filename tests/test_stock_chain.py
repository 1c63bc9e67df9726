"""The apply chain: with no delay one job applies chunk after chunk (each its own transaction), hands
over to a fresh job after its time budget, schedules the next job when a delay is set, and stops when
stock sync is switched off. A claim never takes more than a chunk, and two open chunks never share a row."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from flask_specter import signals
from flask_specter.inbound import stock_apply
from flask_specter.models import StockHistory, StockRow

from .test_stock_sync import seed, shop_stock, specter_available, stock_rows


def _stored(app, sandbox, n, **config):
    """``n`` SKUs pulled and stored, nothing applied; returns the app's queue jobs count afterwards."""
    seed(sandbox, app, n)
    with app.app_context():
        from flask_specter.inbound.pulls import run_pull

        run_pull("stock")
    assert stock_rows(app)["pending"] == n


def _jobs(app) -> int:
    queue = app.extensions["specter"].queue
    return queue.waiting_jobs()


def _run_job(app, chunks: list[int]) -> dict:
    def on_chunk(sender, **kw):
        chunks.append(kw["rows"])

    signals.stock_chunk_applied.connect(on_chunk, app)
    try:
        with app.app_context():
            return stock_apply.run_apply_chunk()
    finally:
        signals.stock_chunk_applied.disconnect(on_chunk, app)


def test_no_delay_one_job_applies_every_chunk_each_in_its_own_transaction(make_shop, sandbox):
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=50, SPECTER_STOCK_BATCH_DELAY=0)
    _stored(app, sandbox, 230)
    before = _jobs(app)
    batches_done: list[bool] = []
    signals.stock_batch_applied.connect(lambda sender: batches_done.append(True), app, weak=False)
    chunks: list[int] = []
    result = _run_job(app, chunks)
    assert chunks == [50, 50, 50, 50, 30]  # five chunks, none above the chunk size
    assert result["rows"] == 230 and result["chunks"] == 5 and result["remaining"] is False
    assert _jobs(app) == before  # the job queued no follow-up job
    assert batches_done == [True]  # once, at the end
    assert shop_stock(app) == specter_available(sandbox)
    with app.app_context():
        session = app.extensions["specter"].db.session
        tokens = session.execute(select(func.count(func.distinct(StockRow.claim_token)))).scalar()
        assert tokens == 5  # one claim (one transaction) per chunk
        assert session.execute(select(func.count()).select_from(StockHistory).where(StockHistory.source == "specter")).scalar() == 230


def test_a_job_hands_over_to_a_fresh_job_after_its_budget(make_shop, sandbox, monkeypatch):
    monkeypatch.setattr(stock_apply, "CHAIN_BUDGET", 0.0)
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=50, SPECTER_STOCK_BATCH_DELAY=0)
    _stored(app, sandbox, 120)
    before = _jobs(app)
    chunks: list[int] = []
    result = _run_job(app, chunks)
    assert chunks == [50] and result["remaining"] is True
    assert _jobs(app) == before + 1  # the next job is queued (the flag was cleared when this one began)
    assert stock_rows(app)["pending"] == 70


def test_with_a_delay_one_chunk_per_job_and_the_next_job_is_scheduled(make_shop, sandbox):
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=50, SPECTER_STOCK_BATCH_DELAY=2.0)
    _stored(app, sandbox, 120)
    queue = app.extensions["specter"].queue
    scheduled = queue.queue.scheduled_job_registry.get_job_count(cleanup=False)
    chunks: list[int] = []
    result = _run_job(app, chunks)
    assert chunks == [50] and result["remaining"] is True
    assert queue.queue.scheduled_job_registry.get_job_count(cleanup=False) == scheduled + 1  # later, not now
    assert stock_rows(app)["pending"] == 70


def test_switching_stock_sync_off_stops_the_chain_between_chunks(make_shop, sandbox):
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=50, SPECTER_STOCK_BATCH_DELAY=0)
    _stored(app, sandbox, 200)

    def switch_off(sender, **kw):
        app.extensions["specter"].settings.set("stock_sync", False)

    signals.stock_chunk_applied.connect(switch_off, app)
    try:
        chunks: list[int] = []
        result = _run_job(app, chunks)
    finally:
        signals.stock_chunk_applied.disconnect(switch_off, app)
    assert chunks == [50] and result["skipped"] == "stock sync is off"
    assert stock_rows(app)["pending"] == 150


def test_a_claim_never_takes_more_than_the_chunk_size(make_shop, sandbox):
    app = make_shop()
    _stored(app, sandbox, 30)
    with app.app_context():
        session = app.extensions["specter"].db.session
        rows = stock_apply.claim_chunk(7)
        assert len(rows) == 7 and [r.id for r in rows] == sorted(r.id for r in rows)
        applied = session.execute(select(func.count()).select_from(StockRow).where(StockRow.state == "applied")).scalar()
        assert applied == 7
        session.rollback()  # nothing committed: all pending again
    assert stock_rows(app)["pending"] == 30


def test_two_open_chunks_never_share_a_row(make_shop, sandbox):
    app = make_shop()
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: the second claim waits for the first to commit")
    _stored(app, sandbox, 40)
    first_claimed = threading.Event()
    release = threading.Event()
    claimed: dict[str, list[int]] = {}

    def worker(name: str, hold: bool) -> None:
        with app.app_context():
            session = app.extensions["specter"].db.session
            claimed[name] = [r.id for r in stock_apply.claim_chunk(25)]
            if hold:
                first_claimed.set()
                release.wait(10)
            session.rollback()

    a = threading.Thread(target=worker, args=("a", True))
    a.start()
    assert first_claimed.wait(10)
    worker("b", False)  # the first chunk's rows are locked: SKIP LOCKED takes the next ones
    release.set()
    a.join(10)
    assert len(claimed["a"]) == 25 and len(claimed["b"]) == 15
    assert not set(claimed["a"]) & set(claimed["b"])


def test_sqlite_chunks_commit_without_fsync_and_put_the_setting_back(make_shop):
    app = make_shop()
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("a SQLite setting")
    from sqlalchemy import text

    from flask_specter.sqlite import redoable_writes

    with app.app_context():
        session = app.extensions["specter"].db.session
        before = session.execute(text("PRAGMA synchronous")).scalar()
        session.commit()
        with redoable_writes():
            assert session.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            session.commit()
        assert session.execute(text("PRAGMA synchronous")).scalar() == before
        session.commit()


def test_a_row_waiting_again_behind_the_jobs_claims_is_still_applied_by_it(make_shop, sandbox):
    """A job claims on from its last row (not over the rows it applied); a row before that point that
    waits again (a chunk another worker gave back) is claimed once nothing is left after it."""
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=50, SPECTER_STOCK_BATCH_DELAY=0)
    _stored(app, sandbox, 120)
    with app.app_context():
        session = app.extensions["specter"].db.session
        first_id = session.execute(select(func.min(StockRow.id))).scalar()
        session.remove()

    def give_back_the_first_row(sender, **kw):
        if kw["rows"] == 50 and not given_back:
            with app.app_context():
                session = app.extensions["specter"].db.session
                session.execute(StockRow.__table__.update().where(StockRow.id == first_id).values(state="pending"))
                session.commit()
            given_back.append(first_id)

    given_back: list[int] = []
    signals.stock_chunk_applied.connect(give_back_the_first_row, app)
    try:
        chunks: list[int] = []
        result = _run_job(app, chunks)
    finally:
        signals.stock_chunk_applied.disconnect(give_back_the_first_row, app)
    assert given_back == [first_id]
    assert chunks == [50, 50, 20, 1] and result["remaining"] is False
    assert stock_rows(app) == {"applied": 120}


def test_two_jobs_at_once_apply_every_row_once(make_shop, sandbox):
    """Two apply jobs running together (two workers) share the rows by SKIP LOCKED: each row applied once."""
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=25, SPECTER_STOCK_BATCH_DELAY=0)
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: the jobs take turns")
    _stored(app, sandbox, 600)
    results: list[dict] = []

    def job() -> None:
        with app.app_context():
            results.append(stock_apply.run_apply_chunk())

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r["rows"] for r in results) == 600
    assert stock_rows(app) == {"applied": 600}
    assert shop_stock(app) == specter_available(sandbox)
    with app.app_context():
        session = app.extensions["specter"].db.session
        assert session.execute(select(func.count()).select_from(StockHistory).where(StockHistory.source == "specter")).scalar() == 600
