"""Benchmark (not a test): stock sync of 1k, 10k and 100k SKUs, callback to confirmed batch and to
every row applied, next to a floor measured in the same run on the same database: one bare HTTP fetch of
the same feed + parse + one bulk UPDATE of the same rows (the median of three runs).

    python bench/stock_sync.py [--sizes 1000,10000,100000] [--databases sqlite,postgresql] [--workers thread,process] [--quick]
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/other BENCH_REDIS_URL=redis://127.0.0.1:6379/9 python bench/stock_sync.py

The delay between chunks is 0 and the chunk size the default 100 (chunks of 100 rows, each its own
transaction). Two worker modes: ``thread``, RQ's loop in a thread of this process (as the embedded
queue runs it), and ``process``, ``flask specter worker`` started as production runs it, in its own
process, forking a work horse per job (needs Redis). ``jobs`` is what the worker ran: the pull and the
apply chain (one job goes on with the next chunk while the delay is 0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests
from common import PG_URL, REDIS_URL, ROOT, reachable, reset_pg
from rq import Worker  # noqa: E402
from sqlalchemy import bindparam, insert, select, update

from flask_specter.models import Batch, StockRow  # noqa: E402
from flask_specter.remote import protocol  # noqa: E402
from flask_specter.remote.client import encode_params  # noqa: E402
from flask_specter.remote.parsing import parse_stock_text  # noqa: E402
from flask_specter.sandbox.testing import SandboxServer  # noqa: E402
from flask_specter.sqlite import reading_only  # noqa: E402

FLOOR_RUNS = 3  # the floor is the median of this many runs: one run's noise would move the ratios of its whole row


def bench_config(db_url: str, sandbox: SandboxServer, redis_url: str | None) -> dict:
    return {
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


def make_app(config: dict):
    from example_shop import create_app

    return create_app(dict(config))


def start_process_worker(config: dict) -> subprocess.Popen:
    """``flask specter worker`` (forking: a work horse per job) in its own process, configured through the
    environment as a deployment would be."""
    env = dict(os.environ)
    for key, value in config.items():
        if key.startswith("SPECTER_") and value is not None and not isinstance(value, bool):
            env[key] = str(value)
    env.update(DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=config["REDIS_URL"], SECRET_KEY="bench")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "example_shop", "specter", "worker"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def stop_process_worker(proc: subprocess.Popen) -> None:
    proc.terminate()  # RQ's warm shutdown: the work horse finishes its job
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


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


def jobs_run(state) -> int:
    """Jobs the queue's workers finished (RQ counts them per worker, in Redis)."""
    return sum(w.successful_job_count + w.failed_job_count for w in Worker.all(queue=state.queue.queue))


def connector(app, mode: str) -> tuple[float, float, int]:
    """Callback -> pull job -> stored + confirmed -> apply chain, with a real worker (thread or process)."""
    from flask_specter.queue import ThreadWorker

    state = app.extensions["specter"]
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    db = state.db
    proc = thread = worker = None
    if mode == "process":  # started and listening before the clock runs: a deployment's worker is up already
        proc = start_process_worker(app.config)
        deadline = time.monotonic() + 60
        while not Worker.all(queue=state.queue.queue):
            assert proc.poll() is None and time.monotonic() < deadline, "flask specter worker did not start"
            time.sleep(0.1)
    else:
        worker = state.queue.make_worker(ThreadWorker)
        thread = threading.Thread(target=worker.work, kwargs={"with_scheduler": True, "logging_level": "WARNING"}, daemon=True)
    with app.test_client() as c:
        started = time.perf_counter()
        assert c.get(f"/specter/callback/stock?token={token}").status_code == 200
    if thread is not None:
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
                assert proc is None or proc.poll() is None, "flask specter worker died"
                time.sleep(0.05)  # the poller shares the worker's process: light queries, short naps
            done = time.perf_counter() - started
        time.sleep(0.2)  # the last job's count reaches Redis as it ends
        jobs = jobs_run(state)
    finally:
        if proc is not None:
            stop_process_worker(proc)
        if worker is not None and thread is not None:
            worker.stop()
            thread.join(5)
    return confirmed_at, done, jobs


def run_one(db_name: str, n: int, redis_url: str | None, mode: str) -> dict:
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
        app = make_app(bench_config(db_url, sandbox, redis_url))
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
            base = statistics.median(floor(app, sandbox, n) for _ in range(FLOOR_RUNS))
        confirmed, applied, jobs = connector(app, mode)
        with app.app_context():
            db.session.remove()
            ok = dict(db.session.execute(select(model.sku, model.stock)).all())
            specter = {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"]}
            assert ok == specter, "shop and Specter differ after the run"
            db.session.remove()
            db.engine.dispose()
    return {"db": db_name, "n": n, "mode": mode, "floor": base, "confirmed": confirmed, "applied": applied, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workers", default="thread,process", help="thread: RQ in a thread of this process; process: `flask specter worker` (forking)")
    parser.add_argument("--quick", action="store_true", help="small sizes only (1000,5000)")
    args = parser.parse_args()
    sizes = "1000,5000" if args.quick else args.sizes
    redis_url = REDIS_URL if reachable(6379) else None
    print(f"queue: {'Redis ' + redis_url if redis_url else 'embedded (fakeredis)'}; chunk 100, delay 0")
    print(
        f"{'db':<11}{'worker':<9}{'SKUs':>8}{'floor s':>10}{'confirmed s':>13}{'confirmed/floor':>17}{'applied s':>11}{'jobs':>7}{'applied/floor':>15}"
    )
    for db_name in args.databases.split(","):
        if db_name == "postgresql" and not reachable(5432):
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        for mode in args.workers.split(","):
            if mode == "process" and not redis_url:
                print("process worker: needs Redis on 127.0.0.1:6379, skipped")
                continue
            for n in (int(s) for s in sizes.split(",")):
                r = run_one(db_name, n, redis_url, mode)
                print(
                    f"{r['db']:<11}{r['mode']:<9}{r['n']:>8}{r['floor']:>10.2f}{r['confirmed']:>13.2f}{r['confirmed'] / r['floor']:>16.2f}x"
                    f"{r['applied']:>11.2f}{r['jobs']:>7}{r['applied'] / r['floor']:>14.1f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
