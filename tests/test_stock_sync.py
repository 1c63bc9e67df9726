"""Stock from Specter to the shop: signal, pull, store, confirm, apply in paced chunks, nothing lost.

Real parts: the sandbox Specter over HTTP, the example shop (served over HTTP where Specter must call
it), real RQ workers with the scheduler, Redis and PostgreSQL when configured.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import func, insert, select

from flask_specter import signals
from flask_specter.models import Batch, FeedState, StockHistory, StockRow
from flask_specter.remote import protocol
from flask_specter.sqlite import reading_only

from .conftest import api_client, wait_until

pytestmark = pytest.mark.timeout(120)


def _product_model(app):
    return app.extensions["specter"].adapter.product_model


def _db(app):
    return app.extensions["specter"].db


def add_products(app, skus, stock=0):
    """Bulk-create shop products (fast enough for thousands)."""
    model = _product_model(app)
    with app.app_context():
        _db(app).session.execute(
            insert(model),
            [{"sku": s, "name": f"Produkt {s}", "price_excl_vat": 100, "vat_percent": 25, "stock": stock, "active": True} for s in skus],
        )
        _db(app).session.commit()


def shop_stock(app) -> dict[str, int]:
    model = _product_model(app)
    with app.app_context():
        return dict(_db(app).session.execute(select(model.sku, model.stock)).all())


def specter_available(sandbox) -> dict[str, int]:
    return {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"] if not a.get("deleted")}


def callback(app, feed_path="/specter/callback/stock"):
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    with app.test_client() as c:
        return c.get(f"{feed_path}?token={token}")


def stock_rows(app) -> Counter:
    # A deferred read: a poll must see the rows while a chunk holds SQLite's write lock, not after it.
    with app.app_context(), reading_only():
        return Counter(dict(_db(app).session.execute(select(StockRow.state, func.count()).group_by(StockRow.state)).all()))


def confirms_per_batch(sandbox) -> Counter:
    return Counter(c.get("batchNo") for c in sandbox.hooks.calls(action="updateArticlesFromBatch") if c.get("ok"))


def activate_served(app, serve):
    """Serve the shop over HTTP and register its callbacks with the sandbox, as an admin would."""
    served = serve(app)
    app.config["SPECTER_PUBLIC_URL"] = served.url
    with app.app_context():
        from flask_specter.inbound.activation import activate

        assert activate().message
    return served


def pull_and_apply(app):
    """One pull and every stored chunk applied, in-process (no worker), for step-by-step tests."""
    with app.app_context():
        from flask_specter.inbound.pulls import run_pull
        from flask_specter.inbound.stock_apply import run_apply_chunk

        run_pull("stock")
        while run_apply_chunk()["remaining"]:
            pass


def seed(sandbox, app, n, stock=20):
    skus = [f"SKU-{i:05d}" for i in range(n)]
    sandbox.hooks.create_articles([{"articleNo": s, "name": f"Artikel {s}", "priceExclVat": "100.00", "vatPercent": 25, "inStock": stock + i % 7} for i, s in enumerate(skus)])
    add_products(app, skus)
    return skus


def test_1050_changes_apply_in_11_paced_chunks_with_one_confirm_per_batch(make_shop, sandbox, live_worker):
    delay = 0.4
    app = make_shop(SPECTER_STOCK_BATCH_DELAY=delay)
    seed(sandbox, app, 1050)
    chunks: list[tuple[float, int]] = []

    def on_chunk(sender, **kw):
        chunks.append((time.monotonic(), kw["rows"]))

    signals.stock_chunk_applied.connect(on_chunk, app)
    try:
        assert callback(app).data == b"1;Done"
        live_worker(app)
        wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=60, message="shop to equal Specter")
    finally:
        signals.stock_chunk_applied.disconnect(on_chunk, app)
    assert len(chunks) == 11
    assert all(rows <= 100 for _, rows in chunks) and sum(rows for _, rows in chunks) == 1050
    gaps = [b[0] - a[0] for a, b in zip(chunks, chunks[1:], strict=False)]
    assert min(gaps) >= delay * 0.9, gaps
    per_batch = confirms_per_batch(sandbox)
    assert per_batch and set(per_batch.values()) == {1}
    assert sandbox.hooks.state()["feeds"]["stock"]["openBatch"] in (None, "")


def test_pos_sale_reaches_the_shop_and_orders_lower_available_not_in_stock(make_shop, sandbox, live_worker, serve, client):
    app = make_shop()
    seed(sandbox, app, 3, stock=10)
    activate_served(app, serve)
    live_worker(app)
    callback(app)
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="initial sync")
    sandbox.hooks.pos_sale("SKU-00000", 3)  # Butikskassa: Specter calls the shop by itself
    wait_until(lambda: shop_stock(app)["SKU-00000"] == 7, message="POS sale to reach the shop")
    customer = client.submit_customer({"firstName": "Åsa", "surName": "Öberg", "emailAddress": "asa@example.se"})
    client.submit_order({"customerId": customer.id, "externalOrderNo": "POS-1"}, [{"articleNo": "SKU-00001", "noOfItems": 4, "priceExclVAT": "1", "vatPercent": 25}])
    wait_until(lambda: shop_stock(app)["SKU-00001"] == 11 - 4, message="reservation to lower available")
    article = sandbox.hooks.article("SKU-00001")
    assert article["inStock"] == 11 and article["available"] == 7


def test_shop_down_during_callback_next_change_brings_both(make_shop, sandbox, live_worker, serve):
    app = make_shop()
    seed(sandbox, app, 2, stock=10)
    served = activate_served(app, serve)
    live_worker(app)
    callback(app)
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="initial sync")
    port = served.port
    served.stop()  # the shop is down
    sandbox.hooks.pos_sale("SKU-00000", 2)
    wait_until(lambda: any(e.get("gaveUp") for e in sandbox.hooks.state()["callbackLog"]), timeout=20, message="Specter to give up calling")
    assert shop_stock(app)["SKU-00000"] == 10
    serve(app, port=port)  # back up
    sandbox.hooks.pos_sale("SKU-00001", 1)
    wait_until(lambda: shop_stock(app) == {"SKU-00000": 8, "SKU-00001": 10}, message="both changes to arrive")


def test_specter_down_during_pull_is_retried_and_nothing_confirmed_meanwhile(make_shop, sandbox, live_worker):
    app = make_shop()
    seed(sandbox, app, 5)
    sandbox.hooks.fault("getArticleExternalNeedUpdate", "fail", count=2, status=503)
    callback(app)
    live_worker(app)
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="retried pull")
    fetches = sandbox.hooks.calls(action="getArticleExternalNeedUpdate")
    assert len(fetches) >= 3
    assert len(confirms_per_batch(sandbox)) == 1
    with app.app_context():
        feed = _db(app).session.get(FeedState, "stock")
        assert feed.last_error is None and feed.last_success_at is not None


def test_slow_specter_times_out_then_recovers(make_shop, sandbox, live_worker):
    app = make_shop(SPECTER_TIMEOUT=0.5)
    seed(sandbox, app, 5)
    sandbox.hooks.fault("getArticleExternalNeedUpdate", "slow", count=1, seconds=2)
    callback(app)
    live_worker(app)
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="pull after a timeout")


def test_lost_confirm_leaves_a_batch_open_and_the_99_path_recovers_it(make_shop, sandbox, live_worker, client):
    app = make_shop()
    seed(sandbox, app, 4)
    # Someone (an old pull whose confirm was lost) left a batch open.
    open_batch = protocol.new_batch_no()
    client.fetch_stock(open_batch)
    sandbox.hooks.pos_sale("SKU-00002", 5)  # waits behind the open batch
    callback(app)
    live_worker(app)
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="recovery through 99")
    with app.app_context():
        recovered = _db(app).session.execute(select(Batch).where(Batch.batch_no == open_batch)).scalar_one()
        assert recovered.recovered and recovered.state == "confirmed"
    assert not sandbox.hooks.state()["feeds"]["stock"]["openBatch"]


def test_confirm_failing_once_is_retried_without_refetching_rows_twice(make_shop, sandbox, live_worker):
    app = make_shop()
    seed(sandbox, app, 4)
    sandbox.hooks.fault("updateArticlesFromBatch", "fail", count=1, status=500)
    callback(app)
    live_worker(app)
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="apply after a failed confirm")
    wait_until(lambda: not sandbox.hooks.state()["feeds"]["stock"]["openBatch"], message="batch confirmed")
    with app.app_context():
        assert _db(app).session.execute(select(func.count()).select_from(Batch)).scalar_one() == 1


def test_fifty_concurrent_callbacks_make_one_pull(make_shop, sandbox, live_worker, serve):
    app = make_shop()
    served = serve(app)
    seed(sandbox, app, 3)
    url = f"{served.url}/specter/callback/stock?token={app.config['SPECTER_CALLBACK_TOKEN']}"
    barrier = threading.Barrier(50)
    answers = []

    def hit():
        barrier.wait()
        answers.append(requests.get(url, timeout=10))

    threads = [threading.Thread(target=hit) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [200] * 50 and {r.text for r in answers} == {"1;Done"}
    queue = app.extensions["specter"].queue.queue
    assert [j.func_name for j in queue.get_jobs()] == ["flask_specter.inbound.pulls.run_pull"]
    live_worker(app)
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="the one pull")
    assert len(confirms_per_batch(sandbox)) == 1


def test_wrong_token_is_403_and_starts_nothing(make_shop, sandbox):
    app = make_shop()
    with app.test_client() as c:
        assert c.get("/specter/callback/stock?token=wrong").status_code == 403
        assert c.post("/specter/callback/stock").status_code == 403
    assert app.extensions["specter"].queue.queue.count == 0


@pytest.mark.parametrize("body", [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><SpecterAPI>&b;</SpecterAPI>',
    '<?xml version="1.0" encoding="ISO-8859-1"?><SpecterAPI><stockChanges><stock stockSiteId="1"><articles><article><articleNo>SKU-00000',
])
def test_malformed_or_hostile_xml_applies_nothing_and_confirms_nothing(make_shop, sandbox, live_worker, body):
    app = make_shop(SPECTER_STOCK_SITES="1")
    seed(sandbox, app, 3)
    sandbox.hooks.fault("getArticleExternalNeedUpdate", "body", count=1, body=body)
    callback(app)
    live_worker(app)

    def failed():
        with app.app_context():
            return _db(app).session.get(FeedState, "stock").last_error

    reason = wait_until(failed, message="the reason to be recorded")
    assert "som inte gick att tolka" in reason
    assert set(shop_stock(app).values()) == {0}
    assert not confirms_per_batch(sandbox)


def test_unknown_skus_are_recorded_and_skipped(make_shop, sandbox, live_worker):
    app = make_shop()
    seed(sandbox, app, 2)
    sandbox.hooks.create_articles([{"articleNo": "ONLY-IN-SPECTER", "name": "x", "priceExclVat": "1", "vatPercent": 25, "inStock": 4}])
    callback(app)
    live_worker(app)
    wait_until(lambda: stock_rows(app)["unknown"] == 1, message="unknown SKU recorded")
    assert shop_stock(app) == {k: v for k, v in specter_available(sandbox).items() if k != "ONLY-IN-SPECTER"}


def test_a_newer_batch_supersedes_an_older_one_not_yet_applied(make_shop, sandbox):
    app = make_shop()
    seed(sandbox, app, 2, stock=10)
    with app.app_context():
        from flask_specter.inbound.pulls import run_pull
        from flask_specter.inbound.stock_apply import run_apply_chunk

        run_pull("stock")  # batch 1 stored, nothing applied yet
        sandbox.hooks.adjust_stock("SKU-00000", 3)
        run_pull("stock")  # batch 2 has a newer figure for SKU-00000
        while run_apply_chunk()["remaining"]:
            pass
    assert shop_stock(app)["SKU-00000"] == 3
    assert stock_rows(app)["superseded"] == 1


def test_shop_stock_is_read_only_once_the_article_is_in_specter(make_shop, sandbox):
    app = make_shop()
    seed(sandbox, app, 1, stock=10)
    pull_and_apply(app)
    with api_client(app) as c:
        refused = c.patch("/api/products/SKU-00000", json={"stock": 99})
        assert refused.status_code == 409 and "Specter" in refused.get_json()["error"]
        assert c.patch("/api/products/SKU-00000", json={"name": "Nytt namn"}).status_code == 200
    assert shop_stock(app)["SKU-00000"] == 10
    with app.app_context():
        history = _db(app).session.execute(select(StockHistory).where(StockHistory.sku == "SKU-00000")).scalars().all()
        assert [(h.old, h.new, h.source) for h in history] == [(0, 10, "specter")]
        assert history[0].batch_no


def test_unacknowledged_shop_orders_are_not_handed_out_again(make_shop, sandbox):
    app = make_shop()
    seed(sandbox, app, 1, stock=10)
    pull_and_apply(app)
    with api_client(app) as c:
        customer = c.post("/api/customers", json={"email": "a@example.se", "first_name": "Åsa", "last_name": "Öberg"}).get_json()
        assert c.post("/api/orders", json={"customer_id": customer["id"], "lines": [{"sku": "SKU-00000", "qty": 4}]}).status_code == 201
    assert shop_stock(app)["SKU-00000"] == 6
    # Specter's next figure predates the order (Specter has not seen it yet): the shop must not go back to 10.
    sandbox.hooks.adjust_stock("SKU-00000", 10)
    pull_and_apply(app)
    assert shop_stock(app)["SKU-00000"] == 6


def test_checkout_decrement_never_goes_below_zero_under_concurrency(make_shop, sandbox):
    app = make_shop()
    add_products(app, ["LAST-ONE"], stock=1)
    with api_client(app) as c:
        customer = c.post("/api/customers", json={"email": "b@example.se", "first_name": "B", "last_name": "C"}).get_json()
    barrier = threading.Barrier(8)
    codes = []

    def buy():
        with api_client(app) as c:
            barrier.wait()
            codes.append(c.post("/api/orders", json={"customer_id": customer["id"], "lines": [{"sku": "LAST-ONE", "qty": 1}]}).status_code)

    threads = [threading.Thread(target=buy) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes).count(201) == 1 and codes.count(409) == 7
    assert shop_stock(app)["LAST-ONE"] == 0


def test_uppdatera_lager_refreshes_every_article(make_shop, sandbox, live_worker):
    app = make_shop()
    seed(sandbox, app, 5)
    live_worker(app)
    callback(app)
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="first sync")
    with app.app_context():
        model = _product_model(app)
        _db(app).session.execute(model.__table__.update().values(stock=0))  # drift, e.g. a restored backup
        _db(app).session.commit()
        from flask_specter.inbound.activation import sync_stock

        sync_stock()
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="full refresh")


@pytest.mark.parametrize("sites,expected", [("1,2", 10 + 4), ("2", 4), ("", 10 + 4)])
def test_stock_sites_are_summed_as_configured(make_shop, sandbox, sites, expected):
    app = make_shop(SPECTER_STOCK_SITES=sites)
    sandbox.hooks.add_stock_site(2, "Butiken")
    seed(sandbox, app, 1, stock=10)  # site 1 (Huvudlager)
    sandbox.hooks.goods_received("SKU-00000", 4, stock_site_id=2)
    pull_and_apply(app)
    assert shop_stock(app)["SKU-00000"] == expected


def test_the_periodic_sweep_keeps_going_and_resumes_rows_no_job_knows_about(make_shop, sandbox):
    """Rows stored while no job was queued (a lost enqueue) are applied by a later sweep, not only the first.

    On a frozen clock: the test is the worker, stepping its scheduler (embedded queue) and running what it queues.
    """
    import datetime as dt

    from freezegun import freeze_time

    from .conftest import run_queued_jobs

    app = make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None, SPECTER_SWEEP_INTERVAL=60, SPECTER_POLL_INTERVAL=0)
    add_products(app, ["SWEPT-1"])
    queue = app.extensions["specter"].queue

    def sweeps() -> int:
        return sum(job.func_name == "flask_specter.sweep.sweep" for job in queue.queue.get_jobs())

    with freeze_time(dt.datetime.now(dt.UTC)) as clock:
        scheduler = queue.make_scheduler(in_thread=True)
        scheduler.step()  # it takes the lock; the first sweep comes one interval later
        for _ in range(3):  # several sweep periods go by with nothing to do
            clock.tick(59)
            scheduler.step()
            assert sweeps() == 0
            clock.tick(1)
            scheduler.step()
            assert sweeps() == 1
            run_queued_jobs(app)
        with app.app_context():
            db = _db(app)
            batch = Batch(feed="stock", batch_no=protocol.new_batch_no(), state="confirmed", rows=1)
            db.session.add(batch)
            db.session.flush()
            db.session.add(StockRow(batch_id=batch.id, sku="SWEPT-1", available=7, state="pending"))
            db.session.commit()
        run_queued_jobs(app)
        assert shop_stock(app)["SWEPT-1"] == 0  # no job knows about the row
        clock.tick(60)
        scheduler.step()
        run_queued_jobs(app)  # a later sweep, which starts the apply chain
    assert shop_stock(app)["SWEPT-1"] == 7
