"""Benchmark (not a test): 1,000 orders through checkout, the outbox and RQ workers, next to the same
1,000 ``newOrderSubmit`` calls in a bare loop, in the same run against the same sandbox.

    python bench/orders_push.py [--orders 1000] [--workers 2] [--database sqlite|postgresql]

The outbox figure runs from the first checkout to the last order acknowledged by Specter (its number
stored on the shop's order); checkouts happen while the workers push, as in a shop. Workers are real
``flask specter worker --no-fork`` processes on real Redis (127.0.0.1:6379 unless REDIS_URL is set).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

from sqlalchemy import create_engine, func, select, text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from flask_specter.models import OutboxEntry  # noqa: E402
from flask_specter.remote.client import SpecterClient  # noqa: E402
from flask_specter.sandbox.testing import SandboxServer  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SKU = "BENCH-1"


def database_url(kind: str, tmp: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{os.path.join(tmp, 'shop.sqlite3')}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return PG_URL


def bare_loop(sandbox: SandboxServer, customer_no: str, n: int) -> float:
    client = SpecterClient.from_config({**sandbox.credentials, "SPECTER_TIMEOUT": 30.0})
    rows = [{"articleNo": SKU, "articleName": "Bänk", "priceExclVAT": "100.000", "noOfItems": 1, "vatPercent": 25}]
    run = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    for i in range(n):
        client.submit_order({"customerId": customer_no, "externalOrderNo": f"BARE-{run}-{i}", "currency": "SEK", "sendOrderMail": 0}, rows)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    tmp = tempfile.mkdtemp(prefix="bench-orders-")
    queue = f"bench-{uuid.uuid4().hex[:8]}"

    with SandboxServer(db_path=os.path.join(tmp, "sandbox.sqlite3")) as sandbox:
        db_url = database_url(args.database, tmp)
        config = {
            "SQLALCHEMY_DATABASE_URI": db_url,
            "SECRET_KEY": "bench",
            "SPECTER_CALLBACK_TOKEN": "bench-token-0123456789",
            "SPECTER_PUBLIC_URL": "http://127.0.0.1:1",
            "SPECTER_QUEUE_NAME": queue,
            "SPECTER_EMBEDDED_WORKER": False,
            "SPECTER_SWEEP_INTERVAL": 0,
            "REDIS_URL": redis_url,
            "SPECTER_REDIS_URL": redis_url,
            **sandbox.credentials,
        }
        from example_shop import create_app
        from example_shop.models import Customer, Order, Product, db
        from example_shop.orders import LineRequest, place_order
        from flask_specter.outbound.resend import drain

        app = create_app(config)
        sandbox.hooks.create_articles([{"articleNo": SKU, "name": "Bänk", "inStock": 10 * args.orders + 10}])
        with app.app_context():
            app.extensions["specter"].settings.set("product_sync", False)
            db.session.add(Product(sku=SKU, name="Bänk", stock=10 * args.orders + 10, price_excl_vat=100, vat_percent=25))
            db.session.add(Customer(email="bench@example.se", first_name="Bänk", last_name="Märk"))
            db.session.commit()
            drain()  # the customer gets its Specter number before the clock starts
            customer = db.session.execute(select(Customer)).scalar_one()
            customer_id, customer_no = customer.id, customer.specter_customer_no
            app.extensions["specter"].queue.queue.empty()

        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "PYTHONPATH": ROOT, "SECRET_KEY": "bench"}
        env.update({k: str(v) for k, v in config.items() if k.startswith("SPECTER_")})
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "example_shop", "specter", "worker", "--no-fork"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        try:
            time.sleep(2.0)  # let the workers start (not timed)
            started = time.perf_counter()
            with app.app_context():
                for _ in range(args.orders):
                    place_order(db.session.get(Customer, customer_id), [LineRequest(SKU, 1)])
                    db.session.remove()
            checkout = time.perf_counter() - started
            with app.app_context():
                while True:
                    acked = db.session.execute(select(func.count()).select_from(Order).where(Order.specter_order_no.is_not(None))).scalar_one()
                    db.session.remove()
                    if acked >= args.orders:
                        break
                    time.sleep(0.02)
            outbox = time.perf_counter() - started
            with app.app_context():
                states = dict(db.session.execute(select(OutboxEntry.state, func.count()).group_by(OutboxEntry.state)).all())
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(10)
        in_specter = len({o["externalOrderNo"] for o in sandbox.hooks.state(articles=False)["orders"] if o["externalOrderNo"].startswith("WEB-")})
        bare = bare_loop(sandbox, customer_no, args.orders)

    print(f"database {args.database}, {args.workers} worker process(es), Redis {redis_url}")
    print(f"checkout of {args.orders} orders (outbox row + enqueue each):   {checkout:7.2f} s ({args.orders / checkout:6.0f} orders/s)")
    print(f"outbox + workers, first checkout to last acknowledged: {outbox:7.2f} s ({args.orders / outbox:6.0f} orders/s)")
    print(f"bare loop of {args.orders} newOrderSubmit calls:              {bare:7.2f} s ({args.orders / bare:6.0f} orders/s)")
    print(f"ratio outbox / bare loop: {outbox / bare:.2f}x   (outbox rows {states}; distinct orders in Specter: {in_specter})")


if __name__ == "__main__":
    main()
