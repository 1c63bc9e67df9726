"""Recovery in seconds: after a single fault, progress resumes within 15 s of the fault clearing.

Each fault is real: the database is made unreachable for 10 s (PostgreSQL refuses new connections to it
and terminates the open ones), or a real ``flask specter worker`` process is killed with SIGKILL (the
whole worker, or only the work horse running the drain). Leases keep their default, 120 s: what brings
the work back is the failed pull taking its lease back, and a dead sender's claims given back at once
(``outbound/orphans.py``), not the lease running out. Real Redis, the sandbox Specter over HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from ._push_fixtures import all_sent, entries
from .conftest import wait_until
from .test_database_down import FETCH, SLOW, _pull_waiting_on_fetch, postgres  # noqa: F401 (fixture)
from .test_outbox_drain import _checkout_new_customer, _orders_sent_once, _shop
from .test_stock_faults import _kill, _start_worker, _worker_env, real_redis  # noqa: F401 (fixture)
from .test_stock_sync import callback, confirms_per_batch, seed, shop_stock, specter_available, stock_rows

pytestmark = [pytest.mark.timeout(240)]

BOUND = 15.0  # seconds from the fault clearing to work moving again (issue 25)
AWAY = 10.0  # seconds the database is away
SWEEP = 10.0  # SPECTER_SWEEP_INTERVAL's default (the test shops switch the periodic sweep off)


@contextlib.contextmanager
def database_away(url: str):
    """The database refuses every connection, and its open ones are cut, until the block ends."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def _orders(app, n: int) -> list[str]:
    return [number for _id, number in (_checkout_new_customer(app, i) for i in range(n))]


def _sending(app) -> bool:
    states = [e["state"] for e in entries(app)]
    return "sending" in states and "sent" in states


def test_a_database_away_10_s_mid_pull_is_applied_within_15_s_of_its_return(make_shop, sandbox, postgres, real_redis):  # noqa: F811
    app = make_shop(SPECTER_RETRY_BACKOFF=2.0, SPECTER_RETRY_BACKOFF_MAX=900.0)  # the default back-off: 2 s, doubling
    seed(sandbox, app, 40)
    sandbox.hooks.fault(FETCH, "slow", seconds=SLOW)  # the pull sits on its first fetch
    worker = _start_worker(app)
    try:
        assert callback(app).data == b"1;Done"
        wait_until(lambda: _pull_waiting_on_fetch(postgres), timeout=60, message="the pull to wait on its fetch")
        with database_away(postgres):
            time.sleep(AWAY)  # the pull fails storing, and cannot release its lease
        back = time.monotonic()
        wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=150, interval=0.2, message="the stock applied")
        took = time.monotonic() - back
        print(f"\nrecovered {took:.1f} s after the fault cleared")
    finally:
        _kill(worker, signal.SIGTERM)
    assert took < BOUND, f"applied {took:.1f} s after the database came back"
    assert set(confirms_per_batch(sandbox).values()) == {1}
    assert stock_rows(app)["applied"] == 40


def test_a_database_away_10_s_mid_drain_is_sent_within_15_s_of_its_return(make_shop, sandbox, postgres, real_redis):  # noqa: F811
    app = _shop(make_shop, sandbox, SPECTER_SWEEP_INTERVAL=SWEEP)
    numbers = _orders(app, 12)
    sandbox.hooks.fault("newOrderSubmit", "slow", count=24, seconds=0.5)
    worker = _start_worker(app)
    try:
        wait_until(lambda: _sending(app), timeout=60, interval=0.02, message="the drain to be sending")
        with database_away(postgres):
            sandbox.hooks.clear_faults()
            time.sleep(AWAY)
        back = time.monotonic()
        wait_until(lambda: all_sent(app), timeout=200, interval=0.2, message="every row sent")
        took = time.monotonic() - back
        print(f"\nrecovered {took:.1f} s after the fault cleared")
    finally:
        _kill(worker, signal.SIGTERM)
    assert took < BOUND, f"all sent {took:.1f} s after the database came back"
    _orders_sent_once(sandbox, numbers)


def test_a_worker_killed_mid_drain_another_worker_sends_its_rows_within_15_s(make_shop, sandbox, real_redis):  # noqa: F811
    app = _shop(make_shop, sandbox, SPECTER_SWEEP_INTERVAL=SWEEP)
    numbers = _orders(app, 12)
    sandbox.hooks.fault("newOrderSubmit", "slow", count=24, seconds=0.5)
    first = _start_worker(app)
    second = None
    try:
        wait_until(lambda: _sending(app), timeout=60, interval=0.02, message="the drain to be sending")
        second = _start_worker(app)
        queue = app.extensions["specter"].queue
        wait_until(lambda: len(queue.live_workers()) == 2, timeout=30, message="the second worker")
        held = [e["id"] for e in entries(app) if e["state"] == "sending"]
        _kill(first)  # the whole worker: its process group, SIGKILL
        killed = time.monotonic()
        sandbox.hooks.clear_faults()
        wait_until(lambda: all_sent(app), timeout=200, interval=0.2, message="every row sent")
        took = time.monotonic() - killed
        print(f"\nrecovered {took:.1f} s after the fault cleared")
    finally:
        for proc in (first, second):
            if proc is not None:
                _kill(proc, signal.SIGTERM)
    assert held, "the killed worker held no claim"
    assert took < BOUND, f"all sent {took:.1f} s after the kill"
    _orders_sent_once(sandbox, numbers)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def test_the_work_horse_killed_mid_drain_its_rows_are_sent_within_15_s(make_shop, sandbox, real_redis):  # noqa: F811
    app = _shop(make_shop, sandbox, SPECTER_SWEEP_INTERVAL=SWEEP)
    sandbox.hooks.fault("newOrderSubmit", "slow", count=24, seconds=0.5)
    worker = _start_worker(app, fork=True)
    try:
        queue = app.extensions["specter"].queue
        wait_until(lambda: len(queue.live_workers()) == 1, timeout=30, message="the worker")
        time.sleep(1.0)  # its scheduler has started (a child of its own)
        before = _children(worker.pid)
        numbers = _orders(app, 12)  # the commit queues the drain: a work horse runs it
        wait_until(lambda: _sending(app), timeout=60, interval=0.02, message="the drain to be sending")
        horses = _children(worker.pid) - before
        assert len(horses) == 1, horses
        os.kill(horses.pop(), signal.SIGKILL)
        killed = time.monotonic()
        sandbox.hooks.clear_faults()
        wait_until(lambda: all_sent(app), timeout=200, interval=0.2, message="every row sent")
        took = time.monotonic() - killed
        print(f"\nrecovered {took:.1f} s after the fault cleared")
        assert worker.poll() is None  # the worker itself lives on
    finally:
        _kill(worker, signal.SIGTERM)
    assert took < BOUND, f"all sent {took:.1f} s after the kill"
    _orders_sent_once(sandbox, numbers)
