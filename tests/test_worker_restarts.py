"""A worker process killed and restarted, and Redis restarted empty under a running worker: the
scheduled work (the chunk chain, the sweep) moves again within seconds, without a person.

Real separate processes: ``flask specter worker`` subprocesses, a real Redis (a private redis-server
for the restart), the sandbox Specter over HTTP.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from redis import Redis

from ._push_fixtures import add_customer, add_product, place, sandbox_orders, set_toggles
from .conftest import process_group, wait_until
from .test_stock_faults import _kill, _start_worker, private_redis, real_redis  # noqa: F401 (fixtures)
from .test_stock_sync import callback, confirms_per_batch, seed, shop_stock, specter_available, stock_rows

pytestmark = [pytest.mark.timeout(180)]


def _scheduler_lock(app) -> str:
    return f"rq:scheduler-lock:{app.config['SPECTER_QUEUE_NAME']}"


def test_a_restarted_worker_takes_over_the_killed_workers_scheduler_at_once(make_shop, sandbox, real_redis):  # noqa: F811
    # Chunks one second apart: every chunk after the first needs the scheduler to move it.
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=50, SPECTER_STOCK_BATCH_DELAY=1.0)
    seed(sandbox, app, 250)
    callback(app)
    first = _start_worker(app, SPECTER_DEBUG_PAUSE_IN_CHUNK=60)
    in_chunk = f"specter:{app.config['SPECTER_QUEUE_NAME']}:debug-in-chunk"
    second = None
    try:
        wait_until(lambda: real_redis.exists(in_chunk), timeout=60, message="the worker to be inside a chunk")
        dead_holder = real_redis.get(_scheduler_lock(app))
        assert dead_holder  # the killed worker's scheduler held the lock...
        _kill(first)
        assert real_redis.get(_scheduler_lock(app)) == dead_holder  # ...and still does, for another minute
        restarted = time.monotonic()
        second = _start_worker(app)
        wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=30, message="the new worker to finish the chain")
        assert time.monotonic() - restarted < 20
        assert real_redis.get(_scheduler_lock(app)) not in (None, dead_holder)  # taken over, not waited out
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                _kill(proc, signal.SIGTERM)
    assert stock_rows(app)["applied"] == 250
    assert set(confirms_per_batch(sandbox).values()) == {1}


def test_a_worker_killed_alone_takes_its_scheduler_with_it(make_shop, sandbox, real_redis):  # noqa: F811
    """Killed alone (the out-of-memory killer picks one process): its forked scheduler stops within a tick
    and frees the lock, rather than hold it, and copies of the dead worker's database sockets, for good."""
    app = make_shop()
    first = _start_worker(app)
    try:
        wait_until(lambda: real_redis.get(_scheduler_lock(app)), timeout=60, message="the worker's scheduler to take the lock")
        scheduler_pids = [pid for pid in process_group(first.pid) if pid != first.pid]
        assert scheduler_pids
        os.kill(first.pid, signal.SIGKILL)
        wait_until(lambda: not process_group(first.pid), timeout=1.5, interval=0.01, message="the scheduler to stop")
        assert real_redis.get(_scheduler_lock(app)) is None
    finally:
        _kill(first, signal.SIGTERM)


def test_redis_restarted_empty_a_running_worker_resumes_rows_and_an_order(make_shop, sandbox, private_redis):  # noqa: F811
    port, procs, start = private_redis
    url = f"redis://127.0.0.1:{port}/0"
    app = make_shop(REDIS_URL=url, SPECTER_REDIS_URL=url, SPECTER_STOCK_BATCH_SIZE=20, SPECTER_STOCK_BATCH_DELAY=0.5, SPECTER_SWEEP_INTERVAL=2)
    set_toggles(app, product_sync=False)
    skus = seed(sandbox, app, 100)
    sandbox.hooks.create_articles([{"articleNo": "KAFFE-1", "name": "Kaffe", "inStock": 10}])
    add_product(app, "KAFFE-1", stock=10)
    callback(app)
    worker = _start_worker(app, SPECTER_DEBUG_PAUSE_IN_CHUNK=1.5)  # each chunk takes a while: Redis dies inside one
    in_chunk = Redis(port=port)
    try:
        wait_until(lambda: stock_rows(app)["applied"] >= 20 and in_chunk.exists(f"specter:{app.config['SPECTER_QUEUE_NAME']}:debug-in-chunk"),
                   timeout=60, message="a chunk or two, and the worker inside the next")
        procs[0].kill()  # Redis dies mid-job: queue, schedule, flags and the scheduler's lock are gone with it
        procs[0].wait(5)
        assert stock_rows(app)["pending"] > 0
        _, number = place(app, add_customer(app, "k@example.se"), [("KAFFE-1", 1)])  # checkout works without Redis
        procs.append(start())  # an empty Redis comes back; the worker is not restarted
        wait_until(lambda: {s: shop_stock(app)[s] for s in skus} == {s: specter_available(sandbox)[s] for s in skus},
                   timeout=40, message="the stored rows to be applied")
        wait_until(lambda: sandbox_orders(sandbox, number), timeout=20, message="the order placed during the outage to reach Specter")
        assert worker.poll() is None  # the same worker process did it
    finally:
        _kill(worker, signal.SIGTERM)
    # Each of the 100 stored figures applied once, none twice (KAFFE-1's own figures may come and go:
    # the order sent during the test makes Specter's figure for it change, and a refresh pull may apply it).
    assert applied_per_sku(app, skus) == dict.fromkeys(skus, 1)


def applied_per_sku(app, skus: list[str]) -> dict[str, int]:
    from sqlalchemy import func, select

    from flask_specter.models import StockRow
    from flask_specter.sqlite import reading_only

    with app.app_context(), reading_only():
        session = app.extensions["specter"].db.session
        rows = session.execute(select(StockRow.sku, func.count()).where(StockRow.state == "applied", StockRow.sku.in_(skus)).group_by(StockRow.sku)).all()
    return dict(rows)
