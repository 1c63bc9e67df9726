"""Benchmark (not a test): on SQLite, how long the shop's writes wait for the lock while a full stock
apply (pause 0) runs, with the pause the apply leaves between chunks.

    python bench/checkout_contention.py [--skus 60000] [--gaps 0.001,0.0006] [--runs 3]

Each run: a fresh SQLite shop with ``--skus`` products and as many stored stock rows; the apply job's
chunk loop runs in this process while another process writes like a checkout every 10 ms
(``BEGIN IMMEDIATE``, one INSERT, ``COMMIT``, on an engine tuned as the shop's: ``sqlite.tune_sqlite``) for the
first 1.2 s. Printed per gap: the apply's time per chunk, the writes done and their wait for the lock
(median, p90, max). The gap is ``stock_sqlite.SQLITE_WRITER_GAP``, the pause the chunks leave while
another connection writes (the connector's is the first; 0 shows the chunks back to back).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

import common  # noqa: F401 - the repository on sys.path
from sqlalchemy import insert

from flask_specter.inbound import stock_apply, stock_sqlite
from flask_specter.models import Batch, StockRow

WRITER = r"""
import json, sys, time
from sqlalchemy import create_engine
from flask_specter.sqlite import tune_sqlite
engine = create_engine("sqlite:///" + sys.argv[1])
tune_sqlite(engine)  # the shop's engine: BEGIN IMMEDIATE and its wait for the lock as the extension sets them
waits, end = [], time.monotonic() + float(sys.argv[2])
with engine.connect() as c:
    while time.monotonic() < end:
        t = time.perf_counter()
        c.begin()
        waits.append(time.perf_counter() - t)
        c.exec_driver_sql("INSERT INTO checkout_writes (t) VALUES (?)", (t,))
        c.commit()
        time.sleep(0.01)
print(json.dumps(waits))
"""


def one_run(skus: int, gap: float) -> tuple[float, list[float]]:
    from example_shop import create_app

    path = os.path.join(tempfile.mkdtemp(prefix="bench-contention-"), "shop.sqlite3")
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench", "SPECTER_CALLBACK_TOKEN": "bench-token-0123456789",
        "SPECTER_PUBLIC_URL": "http://127.0.0.1:1", "SPECTER_STOCK_BATCH_DELAY": 0.0, "SPECTER_EMBEDDED_WORKER": False, "SPECTER_SWEEP_INTERVAL": 0,
    })
    with app.app_context():
        state = app.extensions["specter"]
        db, model = state.db, state.adapter.product_model
        names = [f"B-{i:06d}" for i in range(skus)]
        db.session.execute(insert(model), [{"sku": s, "name": s, "price_excl_vat": 10, "vat_percent": 25, "stock": 0, "active": True} for s in names])
        batch = Batch(feed="stock", batch_no="B1", state="confirmed", rows=skus)
        db.session.add(batch)
        db.session.flush()
        db.session.execute(insert(StockRow), [{"batch_id": batch.id, "sku": s, "available": 5 + i % 50, "in_stock": 5 + i % 50, "state": "pending"} for i, s in enumerate(names)])
        db.session.commit()
        db.session.remove()
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE checkout_writes (id INTEGER PRIMARY KEY, t REAL)")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path, "1.2"], stdout=subprocess.PIPE)
    time.sleep(0.3)  # the writer is connected and writing
    stock_sqlite.SQLITE_WRITER_GAP = gap
    with app.app_context():
        state = app.extensions["specter"]
        started = time.perf_counter()
        with stock_apply.redoable_writes():
            result = stock_apply._apply_next_chunk(state)
        per_chunk = (time.perf_counter() - started) / result["chunks"]
        state.db.session.remove()
    return per_chunk, sorted(json.loads(writer.communicate()[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--skus", type=int, default=60000)
    parser.add_argument("--gaps", default=f"{stock_sqlite.SQLITE_WRITER_GAP},0.0006")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.skus} SKUs applied on SQLite, chunks of 100, pause 0; a checkout-like write every 10 ms from another process")
    print("| gap between chunks ms | run | apply ms a chunk | writes | wait median ms | p90 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    stock_apply.CHAIN_BUDGET = 1e9  # one job for the whole apply
    stock_apply.ensure_apply_chain = lambda **kw: False  # noqa: ARG005 - no queue here
    for gap in (float(g) for g in args.gaps.split(",")):
        for run in range(1, args.runs + 1):
            per_chunk, waits = one_run(args.skus, gap)
            q = [waits[int(f * (len(waits) - 1))] * 1000 for f in (0.5, 0.9, 1.0)]
            print(f"| {gap * 1000:.1f} | {run} | {per_chunk * 1000:.2f} | {len(waits)} | {q[0]:.2f} | {q[1]:.2f} | {q[2]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
