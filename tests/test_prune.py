"""Old rows pruned (issue 25, part 5): on a frozen clock, rows of every kind, old and new, pending and done;
after the prune exactly the expected rows remain, no statement deletes more than its chunk, and the
periodic job runs under a real worker with its scheduler. SQLite and PostgreSQL + Redis alike."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time
from sqlalchemy import event, func, select

from flask_specter.models import (
    ArticleRow,
    Batch,
    CallbackCount,
    OrderEvent,
    OutboxEntry,
    Reservation,
    StockHistory,
    StockRow,
)
from flask_specter.remote.errors import SpecterConfigError

from .conftest import wait_until

pytestmark = pytest.mark.timeout(120)

NOW = dt.datetime(2026, 3, 10, 12, 0, 0)
OLD = NOW - dt.timedelta(days=40)  # older than every default
MID = NOW - dt.timedelta(days=20)  # older than SPECTER_KEEP_APPLIED_DAYS (14), younger than the others (30)
RECENT = NOW - dt.timedelta(days=1)


def _session(app):
    return app.extensions["sqlalchemy"].session


def _seed(app) -> None:
    """Every kind of row the prune looks at, each named by what it is and whether it must stay."""
    s = _session(app)

    def batch(feed: str, no: str, at: dt.datetime, state: str = "confirmed") -> Batch:
        b = Batch(feed=feed, batch_no=no, state=state, fetched_at=at, confirmed_at=at if state == "confirmed" else None)
        s.add(b)
        s.flush()
        return b

    stock_done = batch("stock", "stock-old-done", OLD)  # its rows all go, then it goes
    stock_waiting = batch("stock", "stock-old-waiting", OLD)  # a pending row refers to it: stays
    batch("stock", "stock-old-open", OLD, state="stored")  # not confirmed yet: stays
    batch("stock", "stock-mid-empty", MID)  # confirmed, no rows, older than 14 days: goes
    stock_new = batch("stock", "stock-new", RECENT)
    articles_old = batch("articles", "articles-old", OLD)
    articles_new = batch("articles", "articles-new", RECENT)
    batch("orders", "orders-old-empty", OLD)  # goes
    orders_old = batch("orders", "orders-old-events", OLD)  # a pending event refers to it: stays
    batch("orders", "orders-old-newest", OLD)  # the feed's newest batch: stays, however old
    s.add_all(
        [
            StockRow(batch_id=stock_done.id, sku="A", available=1, state="applied", applied_at=OLD),  # goes
            StockRow(batch_id=stock_done.id, sku="B", available=1, state="superseded"),  # goes (its batch is old)
            StockRow(batch_id=stock_done.id, sku="C", available=1, state="unknown"),  # goes: C has a newer row
            StockRow(batch_id=stock_waiting.id, sku="D", available=4, state="pending"),  # stays: still to apply
            StockRow(batch_id=stock_waiting.id, sku="E", available=1, state="unknown"),  # stays: E's newest, listed
            StockRow(batch_id=stock_waiting.id, sku="G", available=1, state="applied", applied_at=MID),  # goes
            StockRow(batch_id=stock_new.id, sku="B", available=1, state="superseded"),  # stays: recent batch
            StockRow(batch_id=stock_new.id, sku="C", available=2, state="applied", applied_at=RECENT),  # stays
        ]
    )
    s.add_all(
        [
            ArticleRow(batch_id=articles_old.id, sku="X1", data={}, state="applied"),  # goes
            ArticleRow(batch_id=articles_old.id, sku="X2", data={}, state="skipped"),  # goes
            ArticleRow(batch_id=articles_old.id, sku="X3", data={}, state="failed"),  # stays
            ArticleRow(batch_id=articles_old.id, sku="X4", data={}, state="pending"),  # stays
            ArticleRow(batch_id=articles_old.id, sku="frakt", data={}, state="skipped"),  # stays: a service article's
            ArticleRow(batch_id=articles_new.id, sku="X5", data={}, state="applied"),  # stays: recent
        ]
    )
    s.add_all(
        [
            OrderEvent(batch_id=orders_old.id, order_no="1", data={}, state="applied", created_at=OLD),  # goes
            OrderEvent(batch_id=orders_old.id, order_no="2", data={}, state="unknown", created_at=OLD),  # goes
            OrderEvent(batch_id=orders_old.id, order_no="3", data={}, state="pending", created_at=OLD),  # stays
            OrderEvent(batch_id=None, order_no="4", data={}, state="applied", created_at=RECENT),  # stays
        ]
    )
    for sku, at in (("A", OLD), ("A", OLD + dt.timedelta(hours=1)), ("B", OLD), ("A", RECENT), ("B", OLD + dt.timedelta(hours=2)), ("C", MID), ("Z", OLD)):
        s.add(StockHistory(sku=sku, old=0, new=1, source="specter", created_at=at))
        s.flush()  # ids in this order
    # history left: A's recent entry, B's newest (old), C (20 days), Z's only one (old)
    for kind, ref, state, sent_at, created_at in (
        ("product", "P1", "sent", OLD, OLD),  # goes
        ("product", "P2", "sent", OLD, OLD),  # stays: P2 has a failed row ("Försök igen")
        ("product", "P2", "failed", None, OLD),  # stays
        ("order", "O1", "sent", None, OLD),  # goes: sent long ago (no sent_at: its creation counts)
        ("order", "O2", "pending", None, OLD),  # stays
        ("customer", "K1", "sending", None, OLD),  # stays
        ("customer", "K2", "sent", RECENT, RECENT),  # stays
        ("product", "P3", "sent", MID, MID),  # stays: 20 days < 30
        ("product", "P5", "sent", OLD, OLD),  # stays: the table's newest row
    ):
        s.add(OutboxEntry(kind=kind, op="update", ref=ref, state=state, sent_at=sent_at, created_at=created_at, attempts=0))
        s.flush()
    for hour in (OLD, MID, RECENT):
        for route in ("stock", "orders"):
            s.add(CallbackCount(hour=hour, route=route, accepted=1, refused=0))
    s.add(Reservation(order_ref="O2", sku="D", qty=1, created_at=OLD))
    s.commit()


def _left(app) -> dict[str, set]:
    s = _session(app)
    left = {
        "batches": set(s.execute(select(Batch.batch_no)).scalars()),
        "stock_rows": set(s.execute(select(StockRow.sku, StockRow.state))),
        "article_rows": set(s.execute(select(ArticleRow.sku, ArticleRow.state))),
        "order_events": set(s.execute(select(OrderEvent.order_no, OrderEvent.state))),
        "history": set(s.execute(select(StockHistory.sku, StockHistory.created_at))),
        "outbox": set(s.execute(select(OutboxEntry.ref, OutboxEntry.state))),
        "callback_counts": set(s.execute(select(CallbackCount.hour, CallbackCount.route))),
        "reservations": set(s.execute(select(Reservation.order_ref)).scalars()),
    }
    s.commit()
    return left


EXPECTED = {
    "batches": {"stock-old-waiting", "stock-old-open", "stock-new", "articles-old", "articles-new", "orders-old-events", "orders-old-newest"},
    "stock_rows": {("D", "pending"), ("E", "unknown"), ("B", "superseded"), ("C", "applied")},
    "article_rows": {("X3", "failed"), ("X4", "pending"), ("frakt", "skipped"), ("X5", "applied")},
    "order_events": {("3", "pending"), ("4", "applied")},
    "history": {("A", RECENT), ("B", OLD + dt.timedelta(hours=2)), ("C", MID), ("Z", OLD)},
    "outbox": {("P2", "sent"), ("P2", "failed"), ("O2", "pending"), ("K1", "sending"), ("K2", "sent"), ("P3", "sent"), ("P5", "sent")},
    "callback_counts": {(MID, "stock"), (MID, "orders"), (RECENT, "stock"), (RECENT, "orders")},
    "reservations": {"O2"},
}
DELETED = {"history": 3, "stock_rows": 4, "article_rows": 2, "order_events": 2, "batches": 3, "outbox_sent": 2, "callback_counts": 2}


def test_the_prune_leaves_exactly_what_is_pending_needed_or_young(make_shop):
    from flask_specter.prune import prune_now

    app = make_shop()
    with app.app_context():
        _seed(app)
        before = _left(app)
        deletes: list[int] = []

        def count_deletes(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("DELETE"):
                deletes.append(cursor.rowcount)

        engine = app.extensions["sqlalchemy"].engine
        event.listen(engine, "after_cursor_execute", count_deletes)
        try:
            with freeze_time(NOW):
                dry = prune_now(dry_run=True, chunk=2)
                assert _left(app) == before  # a dry run deletes nothing
                assert deletes == []
                done = prune_now(chunk=2)
        finally:
            event.remove(engine, "after_cursor_execute", count_deletes)
        assert dry.counts == DELETED
        assert done.counts == DELETED and not done.more
        assert _left(app) == EXPECTED
        assert deletes and max(deletes) <= 2  # no statement deleted more than its chunk
        with freeze_time(NOW):
            assert sum(prune_now().counts.values()) == 0  # nothing left to prune


def test_zero_keeps_forever_and_a_bad_value_stops_the_app(make_shop):
    from flask_specter.prune import prune_now

    forever = {"SPECTER_KEEP_HISTORY_DAYS": 0, "SPECTER_KEEP_APPLIED_DAYS": 0, "SPECTER_KEEP_SENT_DAYS": 0, "SPECTER_KEEP_CALLBACK_DAYS": 0}
    app = make_shop(**forever)
    with app.app_context():
        _seed(app)
        before = _left(app)
        with freeze_time(NOW):
            result = prune_now()
        assert sum(result.counts.values()) == 0 and set(result.cutoffs.values()) == {None}
        assert _left(app) == before
    for bad in (-1, "a month", True, float("inf")):
        with pytest.raises(SpecterConfigError, match="SPECTER_KEEP_SENT_DAYS"):
            make_shop(SPECTER_KEEP_SENT_DAYS=bad)
    with pytest.raises(SpecterConfigError, match="SPECTER_PRUNE_INTERVAL"):
        make_shop(SPECTER_PRUNE_INTERVAL="hourly")


def test_a_spent_budget_stops_between_statements_and_the_next_run_goes_on(make_shop):
    from flask_specter.prune import prune_now

    app = make_shop()
    with app.app_context():
        _seed(app)
        with freeze_time(NOW):
            first = prune_now(chunk=1, budget=0)  # one statement, then the budget is spent
            assert first.more and first.counts == {"history": 1}
            runs = 1
            while prune_now(chunk=1, budget=0).more:
                runs += 1
        assert runs > 5
        assert _left(app) == EXPECTED


def test_flask_specter_prune_prints_what_it_would_delete_and_deletes_it(make_shop):
    app = make_shop(SPECTER_KEEP_CALLBACK_DAYS=0)
    with app.app_context():
        _seed(app)
        before = _left(app)
    runner = app.test_cli_runner()
    with freeze_time(NOW):
        dry = runner.invoke(args=["specter", "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would delete (dry run, nothing deleted):" in dry.output
    assert "stock history (each SKU's newest entry kept), older than 2026-02-08 12:00 UTC: 3" in dry.output
    assert "sent outbox rows, older than 2026-02-08 12:00 UTC: 2" in dry.output
    assert "hourly counts of Specter's calls: kept forever (SPECTER_KEEP_CALLBACK_DAYS is 0)" in dry.output
    with app.app_context():
        assert _left(app) == before
    with freeze_time(NOW):
        done = runner.invoke(args=["specter", "prune"])
    assert done.exit_code == 0, done.output
    assert "Deleted:" in done.output and "stock rows applied, superseded or unknown, older than 2026-02-24 12:00 UTC: 4" in done.output
    with app.app_context():
        left = _left(app)
    assert left == {**EXPECTED, "callback_counts": before["callback_counts"]}


def test_the_scheduler_runs_the_prune_under_a_real_worker(make_shop, live_worker):
    """Real clock: rows dated relative to now; the lock holder's schedule runs ``prune`` every second."""
    app = make_shop(SPECTER_PRUNE_INTERVAL=1)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with app.app_context():
        s = _session(app)
        for sku, days in (("A", 40), ("A", 39), ("A", 1), ("B", 40)):
            s.add(StockHistory(sku=sku, old=0, new=1, source="specter", created_at=now - dt.timedelta(days=days)))
        s.add_all(
            [
                OutboxEntry(kind="product", op="update", ref="P1", state="sent", sent_at=now - dt.timedelta(days=40), attempts=0),
                OutboxEntry(kind="product", op="update", ref="P2", state="failed", failed_at=now - dt.timedelta(days=40), attempts=3),
                OutboxEntry(kind="product", op="update", ref="P3", state="sent", sent_at=now, attempts=0),
            ]
        )
        s.commit()

        def pruned() -> bool:
            history = s.execute(select(func.count()).select_from(StockHistory)).scalar()
            outbox = set(s.execute(select(OutboxEntry.ref)).scalars())
            s.commit()
            return history == 2 and outbox == {"P2", "P3"}

        live_worker(app)
        wait_until(pruned, timeout=30, message="the periodic prune")
        assert set(s.execute(select(StockHistory.sku, StockHistory.created_at))) == {("A", now - dt.timedelta(days=1)), ("B", now - dt.timedelta(days=40))}
        s.commit()


def test_the_hourly_prune_comes_on_schedule_on_a_frozen_clock(make_shop):
    """The default schedule: the test is the worker, stepping its scheduler (embedded queue) and running what it queues."""
    from .conftest import run_queued_jobs

    app = make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None, SPECTER_POLL_INTERVAL=0)
    queue = app.extensions["specter"].queue

    def prunes() -> int:
        return sum(job.func_name == "flask_specter.prune.prune" for job in queue.queue.get_jobs())

    with app.app_context():
        _seed(app)
    queue.queue.empty()  # the drain the seeded outbox rows nudged: not this test's (it would wait on the frozen clock)
    with freeze_time(NOW) as clock:
        scheduler = queue.make_scheduler(in_thread=True)
        scheduler.step()  # it takes the lock; the first prune comes one interval (an hour) later
        clock.tick(3599)
        scheduler.step()
        assert prunes() == 0
        clock.tick(1)
        scheduler.step()
        assert prunes() == 1 and len(queue.queue) == 1
        run_queued_jobs(app)
    with app.app_context():
        assert _left(app) == EXPECTED
