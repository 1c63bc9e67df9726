"""Benchmark (not a test): the latency of one change, from a sale in Specter's till (a sandbox POS sale)
to the shop showing the new stock, over 50 single changes with the default settings, broken down by
stage, next to a bare fetch + confirm round trip to the same sandbox measured in the same run.

    python bench/latency.py [--changes 50] [--databases sqlite,postgresql] [--modes fork,no-fork]
    python bench/latency.py --quick        # 10 changes, SQLite, forking worker
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_h4 BENCH_REDIS_URL=redis://127.0.0.1:6379/8 python bench/latency.py

Real parts: the sandbox in its own process calls the shop's callback URL over HTTP (the shop served by
werkzeug in this process), ``flask specter worker`` in its own process on Redis runs the pull and the
apply, and this process polls the shop's database every 2 ms. The stages, from timestamps on one clock:

- callback: the sale is made → the shop has answered Specter's callback (the sandbox's coalescing window
  and its HTTP call)
- queue: callback answered → the pull job sends its fetch (``Batch.fetched_at``): Redis, the worker, a fork
- fetch: the fetch sent → Specter has answered it (the sandbox's call log)
- store: answered → Specter has the confirm (rows stored and committed, the confirm sent)
- confirm: Specter has the confirm → the batch is marked confirmed here (``Batch.confirmed_at``)
- chain: confirmed → the chunk job has claimed the row (``StockRow.applied_at``): the apply job's start
- apply: claimed → the shop's stock shows the new figure (the chunk's commit, and this poll)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import statistics
import tempfile
import threading
import time
from typing import Any

import worker_proc as wp
from sqlalchemy import create_engine, select, text
from werkzeug.serving import make_server

from flask_specter.models import Batch, StockRow  # noqa: E402
from flask_specter.remote import protocol  # noqa: E402
from flask_specter.sandbox.testing import SandboxServer  # noqa: E402

STAGES = ("callback", "queue", "fetch", "store", "confirm", "chain", "apply")
ARTICLES = 20


def _epoch(value: dt.datetime) -> float:
    return value.replace(tzinfo=dt.UTC).timestamp()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def baseline(app: Any, sandbox: SandboxServer, rounds: int) -> list[float]:
    """A POS sale with callbacks off, then one bare signed fetch + confirm of its batch (the client)."""
    sandbox.hooks.configure(callbacksEnabled=False)
    client = app.extensions["specter"].client
    times = []
    try:
        for i in range(rounds):
            sandbox.hooks.pos_sale(f"L-{i % ARTICLES:06d}", 1)
            started = time.perf_counter()
            batch = client.fetch_stock(protocol.new_batch_no())
            client.confirm("stock", batch.batch_no)
            times.append(time.perf_counter() - started)
            assert len(batch.items) == 1
    finally:
        sandbox.hooks.configure(callbacksEnabled=True)
    return times


def run(db_name: str, fork: bool, changes: int) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="bench-lat-")
    try:
        db_url = wp.database_url(db_name, tmp)
        with SandboxServer(db=os.path.join(tmp, "sandbox.sqlite3")) as sandbox:
            config = wp.shop_config(db_url, sandbox)  # the defaults: delay 5 s between chunks, chunks of 100
            config.pop("SPECTER_TIMEOUT")
            app = wp.make_app(config)
            answered: list[float] = []

            @app.after_request
            def _mark(response: Any) -> Any:
                from flask import request

                if request.path.startswith("/specter/callback/stock"):
                    answered.append(time.time())
                return response

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per callback in the figures
            server = make_server("127.0.0.1", 0, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            app.config["SPECTER_PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
            skus = wp.seed(app, sandbox, ARTICLES, prefix="L")
            proc = wp.start_worker(config, fork=fork, log_path=os.path.join(tmp, "worker.log"))
            engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
            try:
                wp.wait_for_worker(app)
                with app.app_context():
                    from flask_specter.inbound.activation import activate

                    activate()  # registers the callback URLs
                with app.test_client() as c:  # the articles' stock is pending: a first sync
                    assert c.get(f"/specter/callback/stock?token={wp.TOKEN}").status_code == 200
                truth = {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"]}
                _wait_stock(engine, app, truth, timeout=60)
                time.sleep(1.0)
                base = baseline(app, sandbox, 20)
                time.sleep(0.5)
                samples = [_one_change(app, sandbox, engine, skus[i % len(skus)], answered) for i in range(changes)]
            finally:
                wp.stop_worker(proc)
                server.shutdown()
                engine.dispose()
                with app.app_context():
                    app.extensions["specter"].db.session.remove()
                    app.extensions["specter"].db.engine.dispose()
        return {"db": db_name, "mode": "fork" if fork else "no-fork", "samples": samples, "baseline": base}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _table(app: Any) -> tuple[str, str, str]:
    table, sku_col, stock_col = app.extensions["specter"].adapter.stock_target()
    return table.name, sku_col.name, stock_col.name


def _stock(engine: Any, app: Any, sku: str) -> int:
    name, sku_col, stock_col = _table(app)
    with engine.connect() as conn:
        value: int = conn.execute(text(f"SELECT {stock_col} FROM {name} WHERE {sku_col} = :s"), {"s": sku}).scalar_one()  # noqa: S608
        return value


def _wait_stock(engine: Any, app: Any, truth: dict[str, int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_stock(engine, app, sku) != figure for sku, figure in truth.items()):
        if time.monotonic() > deadline:
            raise RuntimeError("the first sync did not arrive")
        time.sleep(0.05)


def _one_change(app: Any, sandbox: SandboxServer, engine: Any, sku: str, answered: list[float]) -> dict[str, float]:
    """One sale, until the shop shows it; the stages from the timestamps the parts leave."""
    seen_before = len(answered)
    started = time.time()
    expected = sandbox.hooks.pos_sale(sku, 1)["available"]
    while _stock(engine, app, sku) != expected:
        if time.time() - started > 30:
            raise RuntimeError(f"{sku} did not reach {expected} within 30 s")
        time.sleep(0.002)
    shown = time.time()
    with app.app_context():
        session = app.extensions["specter"].db.session
        session.remove()
        row = session.execute(
            select(StockRow.applied_at, Batch.batch_no, Batch.fetched_at, Batch.confirmed_at)
            .join(Batch, Batch.id == StockRow.batch_id)
            .where(StockRow.sku == sku, StockRow.available == expected)
            .order_by(StockRow.id.desc())
            .limit(1)
        ).one()
        session.remove()
    calls = {c["action"]: c["time"] for c in sandbox.hooks.calls() if c.get("batch_no") == row.batch_no or c.get("batchNo") == row.batch_no}
    fetch_done = calls.get(protocol.STOCK.fetch_action, _epoch(row.fetched_at))
    confirm_seen = calls.get(protocol.STOCK.confirm_action, _epoch(row.confirmed_at))
    callback = min((t for t in answered[seen_before:] if t >= started), default=_epoch(row.fetched_at))
    time.sleep(0.3)  # let the trailing empty fetch end: the next change starts from a quiet shop
    return {
        "callback": callback - started,
        "queue": _epoch(row.fetched_at) - callback,
        "fetch": fetch_done - _epoch(row.fetched_at),
        "store": confirm_seen - fetch_done,
        "confirm": _epoch(row.confirmed_at) - confirm_seen,
        "chain": _epoch(row.applied_at) - _epoch(row.confirmed_at),
        "apply": shown - _epoch(row.applied_at),
        "total": shown - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--modes", default="fork,no-fork")
    parser.add_argument("--quick", action="store_true", help="10 changes, SQLite, forking worker")
    args = parser.parse_args()
    if args.quick:
        args.changes, args.databases, args.modes = 10, "sqlite", "fork"
    if not wp.reachable(6379):
        raise SystemExit("needs Redis on 127.0.0.1:6379 (the worker is a separate process)")
    print(f"{args.changes} single changes (a POS sale each), default settings, `flask specter worker` on Redis; ms")
    header = f"{'db':<11}{'mode':<9}{'':<5}" + "".join(f"{s:>10}" for s in (*STAGES, "total")) + f"{'bare fetch+confirm':>20}"
    print(header)
    for db_name in args.databases.split(","):
        if db_name == "postgresql" and not wp.reachable(5432):
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        for mode in args.modes.split(","):
            r = run(db_name, mode == "fork", args.changes)
            for label, q in (("p50", 0.5), ("p95", 0.95)):
                cells = "".join(f"{_pct([s[k] for s in r['samples']], q) * 1000:>10.1f}" for k in (*STAGES, "total"))
                print(f"{r['db']:<11}{r['mode']:<9}{label:<5}{cells}{_pct(r['baseline'], q) * 1000:>20.1f}", flush=True)
            print(f"{'':<25}mean total {statistics.mean(s['total'] for s in r['samples']) * 1000:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
