"""Benchmark (not a test): the outbox drain on its own, next to a bare loop of the same Specter calls.

    python bench/orders_push.py [--orders 1000] [--workers 1,2,4] [--modes fork,no-fork]
                                [--databases sqlite,postgresql] [--repeat 3] [--quick]

Each run: a fresh database and sandbox; ``--orders`` checkouts, each by a new customer (so the outbox
holds a customer row and an order row per checkout), placed while no worker takes jobs (RQ suspended).
Then N ``flask specter worker`` processes (real separate processes, RQ's default forking worker or
``--no-fork``) are started, registered, and let go; the clock runs from then to the last order
acknowledged (the ``sent_at`` of the last order row, written in the transaction that stores Specter's
number on the shop's order, read once the watch sees every order acknowledged; the watch looks rarely,
so as not to compete with the drain for CPU); it starts at the first row claimed, since a suspended RQ
worker notices its release only within a second. Next to it, in the same run against the
same sandbox, a bare loop of the same calls: ``newCustomerSubmit`` + ``newOrderSubmit`` per order, with
the same fields, prepared before the clock starts, over one kept-alive session. Every run must end with
exactly ``--orders`` distinct orders of the shop in Specter. A one-worker configuration (the figure the
aim is about) runs ``--repeat`` times and shows its median run: on two shared cores one run's ratio
moves by 10 % or more.

BENCH_DATABASE_URL / BENCH_REDIS_URL: another PostgreSQL database or Redis db than the defaults (its
schema is dropped; the Redis db is suspended and resumed by the bench: give it one of its own).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

from common import REDIS_URL, ROOT, database_url
from redis import Redis
from rq import Worker
from rq.suspension import resume, suspend
from sqlalchemy import func, select

from flask_specter.models import OutboxEntry  # noqa: E402
from flask_specter.outbound import wire  # noqa: E402
from flask_specter.remote.client import SpecterClient  # noqa: E402
from flask_specter.sandbox.testing import SandboxServer  # noqa: E402
from flask_specter.sqlite import reading_only  # noqa: E402

SKU = "BENCH-1"
WATCH_EVERY = 0.25  # seconds between the watch's looks for the last order acknowledged


def prepared_calls(app: Any, n: int) -> list[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], bool]]:
    """The fields the outbox sent for each order (customer, header, rows), with the bare loop's own order numbers."""
    from example_shop.models import Order

    calls = []
    with app.app_context():
        state = app.extensions["specter"]
        adapter = state.adapter
        send_mail = bool(state.settings.get("send_order_mail"))
        for order in state.db.session.execute(select(Order).order_by(Order.id).limit(n)).scalars():
            record = adapter.order_record(order)
            customer = adapter.customer_record(adapter.get_customer(record.customer_ref))
            header = wire.order_header(record, state.config, adapter.pay_types, customer_no="", send_order_mail=send_mail)
            header["externalOrderNo"] = f"BARE-{header['externalOrderNo']}"
            calls.append((wire.customer_fields(customer), header, wire.order_rows(record, state.config), state.settings.get("ignore_email_check")))
        state.db.session.remove()
    return calls


def bare_loop(sandbox: SandboxServer, calls: list[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], bool]]) -> float:
    client = SpecterClient.from_config({**sandbox.credentials, "SPECTER_TIMEOUT": 30.0})
    started = time.perf_counter()
    for fields, header, rows, ignore_email in calls:
        customer_no = client.submit_customer(fields, force_update=True, ignore_email=bool(ignore_email)).id
        client.submit_order({**header, "customerId": customer_no}, rows)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def one_run(kind: str, mode: str, workers: int, orders: int) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="bench-orders-")
    queue_name = f"bench-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL)
    with SandboxServer(db_path=os.path.join(tmp, "sandbox.sqlite3")) as sandbox:
        db_url = database_url(kind, tmp)
        config = {
            "SQLALCHEMY_DATABASE_URI": db_url,
            "SECRET_KEY": "bench",
            "SPECTER_CALLBACK_TOKEN": "bench-token-0123456789",
            "SPECTER_PUBLIC_URL": "http://127.0.0.1:1",
            "SPECTER_QUEUE_NAME": queue_name,
            "SPECTER_EMBEDDED_WORKER": False,
            "SPECTER_SWEEP_INTERVAL": 0,
            "REDIS_URL": REDIS_URL,
            "SPECTER_REDIS_URL": REDIS_URL,
            **sandbox.credentials,
        }
        from example_shop import create_app
        from example_shop.models import Customer, Order, Product, db
        from example_shop.orders import LineRequest, place_order

        app = create_app(config)
        sandbox.hooks.create_articles([{"articleNo": SKU, "name": "Bänk", "inStock": 10 * orders + 10}])
        suspend(redis)  # no worker takes a job until the clock starts
        try:
            with app.app_context():
                app.extensions["specter"].settings.set("product_sync", False)
                db.session.add(Product(sku=SKU, name="Bänk", stock=10 * orders + 10, price_excl_vat=100, vat_percent=25))
                db.session.commit()
                run = uuid.uuid4().hex[:6]
                checkout_started = time.perf_counter()
                for i in range(orders):
                    customer = Customer(email=f"k{i}-{run}@example.se", first_name="Kund", last_name=f"Nummer {i}", zip="123 45", city="Västerås")
                    place_order(customer, [LineRequest(SKU, 1)])
                    db.session.remove()
                checkout = time.perf_counter() - checkout_started
            env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": REDIS_URL, "PYTHONPATH": ROOT, "SECRET_KEY": "bench"}
            env.update({k: str(v) for k, v in config.items() if k.startswith("SPECTER_")})
            args = [sys.executable, "-m", "flask", "--app", "example_shop", "specter", "worker"] + (["--no-fork"] if mode == "no-fork" else [])
            log = open(os.environ.get("BENCH_WORKER_LOG", os.devnull), "ab")  # noqa: SIM115 - closed with the processes
            procs = [subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT) for _ in range(workers)]
            try:
                deadline = time.monotonic() + 60
                queue = app.extensions["specter"].queue.queue
                while Worker.count(queue=queue) < workers and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(1.0)  # their start-up sweeps are queued too (not timed)
                resume(redis)
                with app.app_context(), reading_only():  # the watch must not take SQLite's write lock
                    # The clock starts at the first claim: a suspended RQ worker looks for its release once a second.
                    while not db.session.execute(select(func.count()).select_from(OutboxEntry).where(OutboxEntry.state != "pending")).scalar_one():
                        db.session.remove()
                        time.sleep(0.002)
                    started = time.time()
                    # It stops at the last order's outcome committed, read from the rows afterwards: the watch
                    # looks only every WATCH_EVERY seconds, so that it takes next to no CPU from the two cores
                    # the worker, the sandbox and the database share (a look every 10 ms cost 0.4-0.6 s of CPU).
                    while True:
                        acked = db.session.execute(select(func.count()).select_from(Order).where(Order.specter_order_no.is_not(None))).scalar_one()
                        db.session.remove()
                        if acked >= orders or time.time() - started > 600:
                            break
                        time.sleep(WATCH_EVERY)
                    last_sent = db.session.execute(select(func.max(OutboxEntry.sent_at)).where(OutboxEntry.kind == "order")).scalar_one()
                    db.session.remove()
                drained = last_sent.replace(tzinfo=dt.UTC).timestamp() - started
                with app.app_context():
                    states = dict(db.session.execute(select(OutboxEntry.state, func.count()).group_by(OutboxEntry.state)).all())
                    db.session.remove()
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(20)
        finally:
            resume(redis)
        in_specter = [o["externalOrderNo"] for o in sandbox.hooks.state(articles=False)["orders"] if o["externalOrderNo"].startswith("WEB-")]
        calls = prepared_calls(app, orders)
        bare = bare_loop(sandbox, calls)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        for key in redis.scan_iter(f"*{queue_name}*"):
            redis.delete(key)
    distinct = len(set(in_specter))
    assert distinct == orders and len(in_specter) == orders, f"{distinct} distinct of {len(in_specter)} orders in Specter, expected {orders}"
    return {"checkout": checkout, "drained": drained, "bare": bare, "states": states}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--modes", default="fork,no-fork")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each one-worker configuration; the row shows the median run")
    parser.add_argument("--quick", action="store_true", help="200 orders, 1 and 2 workers, no-fork only, one run each")
    args = parser.parse_args()
    orders, counts, modes, repeat = args.orders, [int(w) for w in args.workers.split(",")], args.modes.split(","), max(1, args.repeat)
    if args.quick:
        orders, counts, modes, repeat = 200, [1, 2], ["no-fork"], 1
    print(f"Redis {REDIS_URL}; {orders} orders, each by a new customer (customer + order rows), placed while no worker runs")
    print(f"one worker: the median of {repeat} runs (drain and bare loop side by side in each), the runs' ratios after it")
    print("| db | worker | workers | drained s | rows/s | orders/s | bare loop s | drained / bare | runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in args.databases.split(","):
        name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(kind, kind)
        for mode in modes:
            for n in counts:
                runs = sorted((one_run(kind, mode, n, orders) for _ in range(repeat if n == 1 else 1)), key=lambda r: r["drained"] / r["bare"])
                r = runs[len(runs) // 2]
                rows = sum(r["states"].values())
                spread = " ".join(f"{run['drained'] / run['bare']:.2f}" for run in runs) if len(runs) > 1 else ""
                print(
                    f"| {name} | {mode} | {n} | {r['drained']:.2f} | {rows / r['drained']:,.0f} | {orders / r['drained']:,.0f} | "
                    f"{r['bare']:.2f} | **{r['drained'] / r['bare']:.2f}x** | {spread} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
