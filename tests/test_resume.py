"""Nothing stays behind: stored rows of every kind are resumed, missed callbacks are caught up by the
periodic pull, an import from the command line finishes, and a retry never runs before it is due.

Real parts: the sandbox Specter over HTTP, the example shop, real RQ workers with the scheduler (on
real Redis and PostgreSQL when configured), and ``flask specter import-articles`` as a real process.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from flask_specter.models import ArticleRow, Batch, OrderEvent
from flask_specter.remote import protocol

from ._push_fixtures import add_customer, add_product, all_sent, ctx, db, entries, place, set_toggles
from .conftest import run_queued_jobs, wait_until
from .test_stock_sync import confirms_per_batch, pull_and_apply, seed, shop_stock, specter_available

pytestmark = pytest.mark.timeout(180)


def _embedded_env(app) -> dict[str, str]:
    """The environment of a command run next to an embedded-mode shop: same database, no Redis."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SPECTER_REDIS_URL")}
    for key, value in app.config.items():
        if key.startswith("SPECTER_") and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            env[key] = str(value)
    env.pop("SPECTER_REDIS_URL", None)
    env["DATABASE_URL"] = app.config["SQLALCHEMY_DATABASE_URI"]
    env["SECRET_KEY"] = "test-secret"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), env.get("PYTHONPATH")) if p)
    return env


def _product_count(app) -> int:
    from example_shop.models import Product

    with ctx(app):
        return db(app).session.execute(select(func.count()).select_from(Product)).scalar_one()


def _article_rows(app) -> dict[str, int]:
    with ctx(app):
        return dict(db(app).session.execute(select(ArticleRow.state, func.count()).group_by(ArticleRow.state)).all())


def test_import_articles_command_brings_a_1050_article_catalogue_into_an_embedded_shop(make_shop, sandbox):
    app = make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None)  # the embedded mode: the command has no shared queue
    set_toggles(app, import_products=True)
    sandbox.hooks.create_articles([{"articleNo": f"KAT-{i:04d}", "name": f"Artikel {i}", "priceExclVat": "10.00", "vatPercent": 25} for i in range(1050)])
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_shop", "specter", "import-articles"],
        env=_embedded_env(app), capture_output=True, text=True, timeout=150,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # The command has exited (its in-memory queue with it): everything must be in the shop already.
    assert _article_rows(app) == {"applied": 1050}
    assert _product_count(app) == 1050
    assert "Fetched 1050 articles" in done.stdout


def _store_rows_without_a_job(app, *, sku: str, order_number: str) -> None:
    """Rows a pull stored whose apply job was lost (a flushed Redis, a killed worker)."""
    with ctx(app):
        session = db(app).session
        articles = Batch(feed="articles", batch_no=protocol.new_batch_no(), state="confirmed", rows=1)
        orders = Batch(feed="orders", batch_no=protocol.new_batch_no(), state="confirmed", rows=1)
        session.add_all([articles, orders])
        session.flush()
        session.add(ArticleRow(batch_id=articles.id, sku=sku, data={"name": "Från Specter", "price_excl_vat": "42.00", "vat_percent": "25"}))
        session.add(OrderEvent(batch_id=orders.id, order_no="9001", external_order_no=order_number, data={"status_id": 4, "delivery_status": "D", "tracking_nos": ["TRK-1"]}))
        session.commit()


def test_the_sweep_resumes_stored_article_rows_and_order_events(make_shop, sandbox):
    """On a frozen clock: the test is the worker, stepping its scheduler (embedded queue) and running what it queues."""
    from example_shop.models import Order, Product

    app = make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None, SPECTER_SWEEP_INTERVAL=60, SPECTER_POLL_INTERVAL=0)
    set_toggles(app, import_products=True, product_sync=False)
    add_product(app, "VARA-1")
    with freeze_time(dt.datetime.now(dt.UTC)) as clock:
        order_id, number = place(app, add_customer(app, "kund@example.se"), [("VARA-1", 1)])
        scheduler = app.extensions["specter"].queue.make_scheduler(in_thread=True)
        scheduler.step()  # it takes the lock; the first sweep comes one interval later
        run_queued_jobs(app)  # the order's pushes
        _store_rows_without_a_job(app, sku="NY-1", order_number=number)
        run_queued_jobs(app)
        assert _article_rows(app) == {"pending": 1}  # no job knows about the rows: only the periodic sweep can find them
        clock.tick(60)
        scheduler.step()
        run_queued_jobs(app)  # the sweep, and the apply jobs it queues
    assert _article_rows(app) == {"applied": 1}
    with ctx(app):
        product = db(app).session.execute(select(Product).where(Product.sku == "NY-1")).scalar_one()
        assert product.name == "Från Specter"
        assert db(app).session.execute(select(OrderEvent.state)).scalar_one() == "applied"
        order = db(app).session.get(Order, order_id)
        assert (order.status, order.tracking_no) == ("shipped", "TRK-1")


def test_missed_callbacks_are_caught_up_by_the_periodic_pull(make_shop, sandbox, shop_worker):
    from flask_specter.inbound.activation import activate

    app = make_shop(SPECTER_POLL_INTERVAL=2)  # SPECTER_PUBLIC_URL is a closed port: the shop is "down"
    seed(sandbox, app, 5, stock=10)
    pull_and_apply(app)
    with ctx(app):
        activate()
    sandbox.hooks.pos_sale("SKU-00000", 3)
    sandbox.hooks.goods_received("SKU-00003", 5)
    # Specter gave up calling (between two attempts the sandbox may look idle: wait for the give-up itself).
    log = wait_until(lambda: [c for c in sandbox.hooks.wait_callbacks(timeout=20) if c["gaveUp"]] and sandbox.hooks.wait_callbacks(timeout=20),
                     timeout=30, message="Specter to give up calling the shop")
    assert all(not c["ok"] for c in log)
    assert shop_stock(app) != specter_available(sandbox)
    # The shop is back (a worker runs; two, even) and nothing changes in Specter any more.
    fetch = protocol.FEEDS["orders"].fetch_action
    shop_worker(app), shop_worker(app)  # with Redis: two `flask specter worker` processes
    started = time.monotonic()
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=20, message="the periodic pull to catch up")
    assert time.monotonic() - started < 2 + 10  # within the interval (and a little time to apply)
    assert set(confirms_per_batch(sandbox).values()) == {1}
    # One schedule however many workers: about one pull of the (quiet) orders feed per interval.
    before, t0 = len(sandbox.hooks.calls(action=fetch)), time.monotonic()
    time.sleep(8)
    polls = len(sandbox.hooks.calls(action=fetch)) - before
    assert 1 <= polls <= (time.monotonic() - t0) / 2 + 1, polls


def test_a_retry_due_in_under_a_second_is_sent_by_its_own_job_not_the_sweep(make_shop, sandbox, shop_worker):
    """RQ schedules in whole seconds; a retry that ran before its row was due did nothing, and the row
    waited for the sweep. Here the sweep is off: only the retry jobs can send the rows."""
    app = make_shop(SPECTER_SWEEP_INTERVAL=0, SPECTER_RETRY_BACKOFF=0.8, SPECTER_RETRY_BACKOFF_MAX=0.9)
    sandbox.hooks.fault("newArticleSubmit", "fail", count=8, status=503)
    shop_worker(app)
    for i in range(8):  # spread over the second, so their retries fall due at every phase of a scheduler tick
        add_product(app, f"RETRY-{i}")
        time.sleep(0.3)
    wait_until(lambda: all_sent(app) and len(entries(app)) == 8, timeout=40, message="every product sent by its retry")
    assert sum(e["attempts"] for e in entries(app)) == 8  # eight failed sends, each made good by a retry job
