"""Benchmark (not a test): stock sync of 1k, 10k and 100k SKUs, callback to confirmed batch and to
every row applied, next to a floor measured in the same run on the same database: one bare HTTP fetch of
the same feed + parse + one bulk UPDATE of the same rows.

    python bench/stock_sync.py [--sizes 1000,10000,100000] [--databases sqlite,postgresql]
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/other BENCH_REDIS_URL=redis://127.0.0.1:6379/9 python bench/stock_sync.py

The delay between chunks is 0 and the chunk size the default 100, so the connector runs N/100 real RQ
jobs through a real worker (Redis when it answers on 127.0.0.1:6379, else the embedded queue).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import uuid

import requests
from sqlalchemy import bindparam, create_engine, insert, select, text, update

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flask_specter.models import Batch, StockRow  # noqa: E402
from flask_specter.remote import protocol  # noqa: E402
from flask_specter.remote.client import encode_params  # noqa: E402
from flask_specter.remote.parsing import parse_stock_text  # noqa: E402
from flask_specter.sandbox.testing import SandboxServer  # noqa: E402
from flask_specter.sqlite import reading_only  # noqa: E402

# BENCH_DATABASE_URL / BENCH_REDIS_URL: another PostgreSQL database or Redis db than the defaults (its schema is dropped).
PG_URL = os.environ.get("BENCH_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def reset_pg() -> None:
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def make_app(db_url: str, sandbox: SandboxServer, redis_url: str | None):
    from example_shop import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": db_url,
            "SECRET_KEY": "bench",
            "SPECTER_CALLBACK_TOKEN": "bench-token-0123456789",
            "SPECTER_PUBLIC_URL": "http://127.0.0.1:1",
            "SPECTER_STOCK_BATCH_DELAY": 0.0,
            "SPECTER_QUEUE_NAME": f"bench-{uuid.uuid4().hex[:8]}",
            "SPECTER_EMBEDDED_WORKER": False,
            "SPECTER_SWEEP_INTERVAL": 0,
            "SPECTER_TIMEOUT": 120.0,
            "REDIS_URL": redis_url,
            "SPECTER_REDIS_URL": redis_url,
            **sandbox.credentials,
        }
    )


def floor(app, sandbox: SandboxServer, n: int) -> float:
    """One signed fetch of the same feed + parse + one executemany UPDATE, in one transaction."""
    creds = sandbox.credentials
    batch_no = protocol.new_batch_no()
    key = protocol.sign(creds["SPECTER_INTEGRATION_KEY"], creds["SPECTER_USER_KEY"], creds["SPECTER_SBM_ID"], batch_no)
    qs = encode_params(
        {"action": protocol.STOCK.fetch_action, "sbmId": creds["SPECTER_SBM_ID"], "apiUserId": creds["SPECTER_API_USER_ID"], "batchNo": batch_no, "key": key},
        action="bench",
    )
    engine = app.extensions["specter"].db.engine
    table = app.extensions["specter"].adapter.product_model.__table__
    started = time.perf_counter()
    body = requests.get(f"{sandbox.url}getInfo.asp?{qs}", timeout=120).content.decode("iso-8859-1")
    rows = parse_stock_text(body, batch_no)
    with engine.begin() as conn:
        conn.execute(
            update(table).where(table.c.sku == bindparam("k")).values(stock=bindparam("q")),
            [{"k": r.article_no, "q": r.available} for r in rows],
        )
    elapsed = time.perf_counter() - started
    assert len(rows) == n, (len(rows), n)
    # Put the feed back as it was for the connector's run: confirm, reset the shop, queue every article again.
    app.extensions["specter"].client.confirm("stock", batch_no)
    with engine.begin() as conn:
        conn.execute(update(table).values(stock=0))
    app.extensions["specter"].client.clear_article_batch()
    return elapsed


def connector(app, n: int) -> tuple[float, float, int]:
    """Callback -> pull job -> stored + confirmed -> N/100 apply jobs, with a real worker."""
    from flask_specter.queue import ThreadWorker

    state = app.extensions["specter"]
    worker = state.queue.make_worker(ThreadWorker)
    thread = threading.Thread(target=worker.work, kwargs={"with_scheduler": True, "logging_level": "WARNING"}, daemon=True)
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    db = state.db
    with app.test_client() as c:
        started = time.perf_counter()
        assert c.get(f"/specter/callback/stock?token={token}").status_code == 200
    thread.start()
    confirmed_at = None
    try:
        # The poll only reads: deferred transactions (reading_only), or on SQLite it would take the write
        # lock every 50 ms (BEGIN IMMEDIATE outside requests) and starve the worker into "database is locked".
        with app.app_context(), reading_only():
            while True:
                db.session.remove()
                if confirmed_at is None and db.session.execute(select(Batch.id).where(Batch.feed == "stock", Batch.state == "confirmed")).first():
                    confirmed_at = time.perf_counter() - started
                left = db.session.execute(
                    select(StockRow.id).where(StockRow.state.in_(("pending", "claimed"))).limit(1)
                ).first()
                applied = db.session.execute(select(StockRow.id).where(StockRow.state == "applied").limit(1)).first()
                if confirmed_at is not None and applied and not left:
                    break
                time.sleep(0.05)  # the poller shares the worker's process: light queries, short naps
            done = time.perf_counter() - started
            jobs = n // 100 + (1 if n % 100 else 0)
    finally:
        worker.stop()
        thread.join(5)
    return confirmed_at, done, jobs


def run_one(db_name: str, n: int, redis_url: str | None) -> dict:
    tmp = tempfile.mkdtemp(prefix="bench-")
    if db_name == "postgresql":
        reset_pg()
        db_url = PG_URL
    else:
        db_url = f"sqlite:///{tmp}/shop.sqlite3"
    with SandboxServer(db=os.path.join(tmp, "sandbox.sqlite3"), response_max_limit=max(n, 1000)) as sandbox:
        skus = [f"B-{i:06d}" for i in range(n)]
        for i in range(0, n, 20000):
            sandbox.hooks.create_articles([{"articleNo": s, "name": s, "priceExclVat": "10.00", "vatPercent": 25, "inStock": 5 + j % 50} for j, s in enumerate(skus[i : i + 20000], start=i)])
        app = make_app(db_url, sandbox, redis_url)
        with app.app_context():
            model = app.extensions["specter"].adapter.product_model
            db = app.extensions["specter"].db
            for i in range(0, n, 20000):
                db.session.execute(insert(model), [{"sku": s, "name": s, "price_excl_vat": 10, "vat_percent": 25, "stock": 0, "active": True} for s in skus[i : i + 20000]])
            db.session.commit()
            # the pending-articles state after create_articles: take it out of the way for the floor
            first = app.extensions["specter"].client.fetch_stock(protocol.new_batch_no())
            app.extensions["specter"].client.confirm("stock", first.batch_no)
            app.extensions["specter"].client.clear_article_batch()
            base = floor(app, sandbox, n)
        confirmed, applied, jobs = connector(app, n)
        with app.app_context():
            db.session.remove()
            ok = dict(db.session.execute(select(model.sku, model.stock)).all())
            specter = {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"]}
            assert ok == specter, "shop and Specter differ after the run"
            db.session.remove()
            db.engine.dispose()
    return {"db": db_name, "n": n, "floor": base, "confirmed": confirmed, "applied": applied, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    redis_url = (os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/14") if reachable(6379) else None
    print(f"queue: {'Redis ' + redis_url if redis_url else 'embedded (fakeredis)'}; chunk 100, delay 0")
    print(f"{'db':<11}{'SKUs':>8}{'floor s':>10}{'confirmed s':>13}{'confirmed/floor':>17}{'applied s':>11}{'jobs':>7}{'applied/floor':>15}")
    for db_name in args.databases.split(","):
        if db_name == "postgresql" and not reachable(5432):
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        for n in (int(s) for s in args.sizes.split(",")):
            r = run_one(db_name, n, redis_url)
            print(
                f"{r['db']:<11}{r['n']:>8}{r['floor']:>10.2f}{r['confirmed']:>13.2f}{r['confirmed'] / r['floor']:>16.2f}x"
                f"{r['applied']:>11.2f}{r['jobs']:>7}{r['applied'] / r['floor']:>14.1f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
