"""The outbox drain: one job sends many rows; a burst's last row is never left behind; parallel workers
and a worker killed mid-drain send every order exactly once.

Real parts: the sandbox Specter over HTTP, the example shop's checkout, RQ (embedded or real Redis), and
for the parallel and kill tests real ``flask specter worker`` processes on real Redis.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter

import pytest

from ._push_fixtures import add_product, all_sent, ctx, entries, order_row, sandbox_orders, set_toggles
from .conftest import run_queued_jobs, wait_until
from .test_stock_faults import _kill, _start_worker, real_redis  # noqa: F401 (fixture)

pytestmark = [pytest.mark.timeout(180)]


def _checkout_new_customer(app, i: int, sku: str = "KAFFE-1") -> tuple[int, str]:
    """A checkout by a new customer: the customer's row and the order's row in one commit."""
    from example_shop.models import Customer
    from example_shop.orders import LineRequest, place_order

    with ctx(app) as state:
        customer = Customer(email=f"kund{i}-{random.randrange(10**9)}@example.se", first_name="Kund", last_name=f"Nummer {i}")
        order = place_order(customer, [LineRequest(sku, 1)])
        result = order.id, order.number
        state.db.session.remove()
        return result


def _shop(make_shop, sandbox, n_stock: int = 500, **config):
    app = make_shop(**config)
    set_toggles(app, product_sync=False)
    sandbox.hooks.create_articles([{"articleNo": "KAFFE-1", "name": "Kaffe", "inStock": n_stock}])
    add_product(app, "KAFFE-1", stock=n_stock)
    return app


def _queued_funcs(app) -> Counter[str]:
    queue = app.extensions["specter"].queue.queue
    return Counter(job.func_name.rsplit(".", 1)[-1] for job in queue.jobs)


def _orders_sent_once(sandbox, numbers: list[str]) -> None:
    """Each order exactly once in Specter, and no more orders created than placed (a resend that Specter
    refuses as a duplicate, code 23, is not an ok call)."""
    in_specter = Counter(o["externalOrderNo"] for o in sandbox_orders(sandbox))
    assert {n: in_specter[n] for n in numbers} == dict.fromkeys(numbers, 1)
    assert len([c for c in sandbox.hooks.calls(action="newOrderSubmit") if c["ok"]]) == len(numbers)


def test_one_drain_job_sends_every_row_of_many_checkouts(make_shop, sandbox):
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    placed = [_checkout_new_customer(app, i) for i in range(12)]
    assert len(entries(app)) == 24  # a customer row and an order row per checkout
    assert _queued_funcs(app) == {"drain_outbox": 1}  # twelve commits, one job
    run_queued_jobs(app)
    assert all_sent(app)
    _orders_sent_once(sandbox, [number for _id, number in placed])
    assert len([c for c in sandbox.hooks.calls(action="newCustomerSubmit") if c["ok"]]) == 12
    assert all(order_row(app, oid)["specter_order_no"] for oid, _n in placed)


def test_rows_committed_while_a_drain_runs_are_all_sent_without_a_sweep(make_shop, sandbox, live_worker):
    """The drain clears its flag, waits, and looks once more: the last row of a burst is never left behind
    (no sweep runs in this test: SPECTER_SWEEP_INTERVAL is 0)."""
    app = _shop(make_shop, sandbox)
    live_worker(app)
    placed = []
    for i in range(25):
        placed.append(_checkout_new_customer(app, i))
        time.sleep(random.choice((0.0, 0.0, 0.01, 0.05, 0.2, 0.3)))  # around the drain's own waits
    wait_until(lambda: all_sent(app), timeout=60, message="every row of the burst sent")
    _orders_sent_once(sandbox, [number for _id, number in placed])


def test_a_newer_change_waits_for_the_older_one_of_the_same_record(make_shop, sandbox):
    from flask_specter.outbound.claims import claim, claim_next

    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    oid, _number = _checkout_new_customer(app, 1)
    with ctx(app) as state:
        from flask_specter.models import OutboxEntry

        state.db.session.add(OutboxEntry(kind="order", op="delete", ref=str(oid), state="pending", attempts=0))
        state.db.session.commit()
        rows = entries(app)
        customer_row, order_row_, delete_row = (r["id"] for r in rows)
        assert claim(order_row_) is not None  # another worker is sending the order's create
        first, _token = claim_next()
        assert first.id == customer_row
        assert claim_next() is None  # the delete waits for its create, though it is due
        assert [r["state"] for r in entries(app)] == ["sending", "sending", "pending"]
    del delete_row


@pytest.mark.usefixtures("real_redis")
def test_two_worker_processes_drain_in_parallel_and_send_each_row_once(make_shop, sandbox, real_redis):  # noqa: F811
    app = _shop(make_shop, sandbox, SPECTER_LEASE_SECONDS=30)
    placed = [_checkout_new_customer(app, i) for i in range(60)]  # no worker runs yet
    workers = [_start_worker(app), _start_worker(app)]
    try:
        wait_until(lambda: all_sent(app), timeout=120, message="both workers to drain the outbox")
    finally:
        for proc in workers:
            _kill(proc, signal.SIGTERM)
    _orders_sent_once(sandbox, [number for _id, number in placed])
    assert len([c for c in sandbox.hooks.calls(action="newCustomerSubmit") if c["ok"]]) == 60  # each customer once


@pytest.mark.usefixtures("real_redis")
def test_a_worker_killed_mid_drain_loses_nothing_and_sends_no_order_twice(make_shop, sandbox, real_redis):  # noqa: F811
    app = _shop(make_shop, sandbox, SPECTER_LEASE_SECONDS=3, SPECTER_SWEEP_INTERVAL=1)  # the dead claims come back with the sweep
    placed = [_checkout_new_customer(app, i) for i in range(20)]
    sandbox.hooks.fault("newOrderSubmit", "slow", count=1, seconds=20)  # the first order call hangs: the worker is killed inside it
    first = _start_worker(app)
    second = None
    try:
        wait_until(lambda: [e["state"] for e in entries(app)[:2]] == ["sent", "sending"], timeout=60, message="the worker inside the first order call")
        time.sleep(0.5)  # the call has reached Specter, which sits on it
        _kill(first)  # SIGKILL, worker and scheduler: its claimed row keeps its lease for 3 s
        assert [e["state"] for e in entries(app)].count("sent") == 1
        second = _start_worker(app)  # its start-up sweep queues a drain, whatever the dead drain's flag says
        wait_until(lambda: all_sent(app), timeout=90, message="a new worker to send the rest")
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                _kill(proc, signal.SIGTERM)
    _orders_sent_once(sandbox, [number for _id, number in placed])
    assert all(order_row(app, oid)["specter_order_no"] for oid, _n in placed)


def test_redis_down_at_commit_leaves_the_rows_for_the_sweep(make_shop, sandbox, live_worker):
    from flask_specter.outbound.relay import sweep_outbox
    from flask_specter.queue import SpecterQueue

    from ._push_fixtures import CLOSED_REDIS, REDIS

    app = _shop(make_shop, sandbox, REDIS_URL=CLOSED_REDIS, SPECTER_REDIS_URL=CLOSED_REDIS)
    placed = [_checkout_new_customer(app, i) for i in range(3)]  # checkout works without Redis
    assert {e["state"] for e in entries(app)} == {"pending"}
    state = app.extensions["specter"]
    state.queue = SpecterQueue(app, url=REDIS, name=state.queue.name, embedded_worker=False)  # Redis is back
    with ctx(app):
        assert sweep_outbox() == 6
    live_worker(app)
    wait_until(lambda: all_sent(app), timeout=30, message="the sweep's drain")
    _orders_sent_once(sandbox, [number for _id, number in placed])


def test_a_thread_keeps_committing_while_the_nudge_memory_holds(make_shop, sandbox, live_worker):
    """Two threads check out at once while a worker drains: no row is left behind by the in-process memory."""
    app = _shop(make_shop, sandbox)
    live_worker(app)
    placed: list[tuple[int, str]] = []

    def shopper(offset: int) -> None:
        for i in range(10):
            placed.append(_checkout_new_customer(app, offset + i))
            time.sleep(random.random() * 0.25)

    threads = [threading.Thread(target=shopper, args=(k * 100,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(lambda: all_sent(app), timeout=60, message="every row sent")
    _orders_sent_once(sandbox, [number for _id, number in placed])
