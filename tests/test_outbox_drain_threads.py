"""A drain job with a backlog sends with two threads, each row still exactly once; a drain of one batch
or less starts no thread."""

from __future__ import annotations

import threading

import pytest

from flask_specter import signals
from flask_specter.outbound import relay

from ._push_fixtures import all_sent, order_row
from .conftest import run_queued_jobs
from .test_outbox_drain import _checkout_new_customer, _orders_sent_once, _shop

pytestmark = [pytest.mark.timeout(180)]


def _senders(app, n: int, sandbox) -> list[str]:
    """Place ``n`` checkouts, run the queued drain; the names of the threads that sent each order."""
    placed = [_checkout_new_customer(app, i) for i in range(n)]
    names: list[str] = []

    def exported(sender, **kwargs):  # noqa: ARG001
        names.append(threading.current_thread().name)

    signals.order_exported.connect(exported, weak=False)
    try:
        run_queued_jobs(app)
    finally:
        signals.order_exported.disconnect(exported)
    assert all_sent(app)
    _orders_sent_once(sandbox, [number for _id, number in placed])
    assert len([c for c in sandbox.hooks.calls(action="newCustomerSubmit") if c["ok"]]) == n  # each customer once
    assert all(order_row(app, oid)["specter_order_no"] for oid, _n in placed)
    return names


def test_a_backlog_is_sent_by_two_threads_each_row_once(make_shop, sandbox):
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    names = _senders(app, 3 * relay.DRAIN_BATCH, sandbox)  # six batches of rows
    threaded = [n for n in names if n == "outbox-drain"]
    assert threaded and len(threaded) < len(names)  # both drain loops sent orders (SQLite too: no lock is held across a call)


def test_a_drain_of_one_batch_starts_no_thread(make_shop, sandbox):
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    names = _senders(app, relay.DRAIN_BATCH // 2 - 1, sandbox)
    assert names and "outbox-drain" not in names


def test_the_jobs_counts_include_the_rows_its_thread_sent(make_shop, sandbox):
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    n = 2 * relay.DRAIN_BATCH
    for i in range(n):
        _checkout_new_customer(app, i)
    with app.app_context():
        counts = relay.drain_outbox("helper")
    assert counts == {"sent": 2 * n}  # a customer row and an order row per checkout, whichever thread sent them
    assert all_sent(app)
