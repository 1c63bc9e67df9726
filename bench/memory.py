"""Benchmark (not a test): the worker's peak memory while it pulls, stores and applies N changed SKUs,
next to the same worker's RSS when idle, measured in the same run.

    python bench/memory.py [--sizes 1000,10000,100000] [--databases sqlite,postgresql] [--modes fork,no-fork]
    python bench/memory.py --quick                     # 1,000 and 10,000 SKUs, SQLite only
    python bench/memory.py --code /path/to/other/tree  # the worker runs another checkout (a before/after)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_h4 BENCH_REDIS_URL=redis://127.0.0.1:6379/8 python bench/memory.py

The worker is ``flask specter worker`` in its own process, as production runs it: forking a work horse
per job (RQ's default) or ``--no-fork``. Its process tree (worker, scheduler, horses) is read from /proc
every 20 ms. *Idle* is the worker's RSS once it has started and settled. *Above idle* is what the pull
and the applies cost: with --no-fork the worker's peak RSS (VmHWM, reset when the run starts) minus its
idle RSS; forking, the highest private memory (Private_Clean + Private_Dirty) of a work horse, what it
held beyond the pages it shares with the worker. *Job peak* is idle + above idle. The sandbox answers the whole batch in one
page (responseMaxLimit = N): the hardest case for the pull's memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from typing import Any

from sqlalchemy import select
from worker_proc import (
    ROOT,
    TreeWatch,
    database_url,
    make_app,
    reachable,
    seed,
    shop_config,
    start_worker,
    status_kb,
    stop_worker,
    wait_for_worker,
)

from flask_specter.models import StockRow  # noqa: E402
from flask_specter.sandbox.testing import SandboxServer  # noqa: E402
from flask_specter.sqlite import reading_only  # noqa: E402


def _done(app: Any) -> bool:
    with app.app_context(), reading_only():
        session = app.extensions["specter"].db.session
        session.remove()
        waiting = session.execute(select(StockRow.id).where(StockRow.state.in_(("pending", "claimed"))).limit(1)).first()
        applied = session.execute(select(StockRow.id).where(StockRow.state == "applied").limit(1)).first()
        session.remove()
        return bool(applied) and not waiting


def run_one(db_name: str, n: int, fork: bool, code: str) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="bench-mem-")
    try:
        db_url = database_url(db_name, tmp)
        with SandboxServer(db=os.path.join(tmp, "sandbox.sqlite3"), response_max_limit=max(n, 1000)) as sandbox:
            config = shop_config(db_url, sandbox, SPECTER_STOCK_BATCH_DELAY=0.0, SPECTER_SWEEP_INTERVAL=0)
            app = make_app(config)
            seed(app, sandbox, n)
            proc = start_worker(config, fork=fork, code=code, log_path=os.path.join(tmp, "worker.log"))
            try:
                wait_for_worker(app)
                time.sleep(1.5)  # the start-up sweep and the scheduler settle
                watch = TreeWatch(proc.pid)
                idle_kb = watch.rss_kb()  # worker + scheduler
                idle_one_kb = status_kb(proc.pid).get("VmRSS", 0)  # the worker alone
                started = time.perf_counter()
                with app.test_client() as c:
                    assert c.get(f"/specter/callback/stock?token={config['SPECTER_CALLBACK_TOKEN']}").status_code == 200
                last_check = 0.0
                while True:
                    watch.sample()
                    now = time.perf_counter()
                    if now - last_check > 0.25:
                        last_check = now
                        if _done(app):
                            break
                    if now - started > 900:
                        raise RuntimeError("not applied within 15 minutes")
                    time.sleep(0.02)
                elapsed = time.perf_counter() - started
                watch.sample()
            finally:
                stop_worker(proc)
            with app.app_context():
                state = app.extensions["specter"]
                model = state.adapter.product_model
                state.db.session.remove()
                shop = dict(state.db.session.execute(select(model.sku, model.stock)).all())
                specter = {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"]}
                assert shop == specter, "shop and Specter differ after the run"
                state.db.session.remove()
                state.db.engine.dispose()
        above_kb = watch.horse_private_kb if fork else watch.hwm_kb.get(proc.pid, idle_one_kb) - idle_one_kb
        return {
            "db": db_name, "n": n, "mode": "fork" if fork else "no-fork", "seconds": elapsed,
            "idle_mb": idle_one_kb / 1024, "idle_tree_mb": idle_kb / 1024,
            "peak_mb": (idle_one_kb + above_kb) / 1024, "tree_peak_mb": watch.tree_peak_kb / 1024,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--modes", default="no-fork,fork")
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 SKUs on SQLite, no-fork")
    parser.add_argument("--code", default=ROOT, help="the checkout the worker process runs (default: this one)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.databases, args.modes = "1000,10000", "sqlite", "no-fork"
    if not reachable(6379):
        raise SystemExit("needs Redis on 127.0.0.1:6379 (the worker is a separate process)")
    print(f"worker code: {args.code}; one page of N rows; delay 0, chunks of 100")
    print(f"{'db':<11}{'mode':<9}{'SKUs':>8}{'idle MB':>9}{'job peak MB':>13}{'above idle MB':>15}{'tree idle MB':>14}{'tree peak MB':>14}{'s':>8}")
    for db_name in args.databases.split(","):
        if db_name == "postgresql" and not reachable(5432):
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        for mode in args.modes.split(","):
            for n in (int(s) for s in args.sizes.split(",")):
                r = run_one(db_name, n, mode == "fork", args.code)
                print(
                    f"{r['db']:<11}{r['mode']:<9}{r['n']:>8}{r['idle_mb']:>9.1f}{r['peak_mb']:>13.1f}{r['peak_mb'] - r['idle_mb']:>15.1f}"
                    f"{r['idle_tree_mb']:>14.1f}{r['tree_peak_mb']:>14.1f}{r['seconds']:>8.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
