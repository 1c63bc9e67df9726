"""A drain job in a ``flask specter worker`` process forks its second loop when it starts with a backlog:
each row still goes once, the job's counts include the child's rows, and a child whose parent is killed
stops and leaves nothing lost.

Real parts: the sandbox Specter over HTTP, the example shop's checkout, real forks; the kill test runs
real ``flask specter worker`` processes on real Redis.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from flask_specter import signals
from flask_specter.outbound import drain_process, relay
from flask_specter.remote.deadline import WATCH_THREAD

from ._push_fixtures import all_sent, entries, order_row
from .conftest import process_group, wait_until
from .test_outbox_drain import _checkout_new_customer, _orders_sent_once, _shop
from .test_stock_faults import _kill, _start_worker, real_redis  # noqa: F401 (fixture)

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture
def forking(monkeypatch):
    """This test's process may fork a drain loop, as ``flask specter worker`` allows its own. Earlier
    tests leave threads of their own in pytest's process (servers), which ``can_fork`` refuses; the
    child needs none of them, so here only the permission counts (``can_fork`` is tested below)."""
    monkeypatch.setattr(drain_process, "_ALLOWED", [True])
    monkeypatch.setattr(drain_process, "can_fork", lambda: True)


def test_a_fork_is_refused_while_a_thread_it_does_not_know_runs(monkeypatch):
    monkeypatch.setattr(drain_process, "_ALLOWED", [True])
    me = threading.current_thread()
    watch = threading.Thread(name=WATCH_THREAD)
    timer = threading.Timer(60, lambda: None)
    monkeypatch.setattr(threading, "enumerate", lambda: [me, watch, timer])
    assert drain_process.can_fork()
    monkeypatch.setattr(threading, "enumerate", lambda: [me, watch, timer, threading.Thread(name="the shop's own")])
    assert not drain_process.can_fork()
    monkeypatch.setattr(drain_process, "_ALLOWED", [False])
    monkeypatch.setattr(threading, "enumerate", lambda: [me])
    assert not drain_process.can_fork()  # without ``flask specter worker``'s permission, never


@pytest.mark.usefixtures("forking")
def test_a_backlog_is_sent_by_two_processes_each_row_once(make_shop, sandbox):
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    n = 3 * relay.DRAIN_BATCH  # 120 rows: more than FORK_BACKLOG
    placed = [_checkout_new_customer(app, i) for i in range(n)]
    here: list[str] = []

    def exported(sender, **kwargs):  # noqa: ARG001 - only this process's receivers hear this process's sends
        here.append(kwargs["order_ref"])

    signals.order_exported.connect(exported, weak=False)
    try:
        with app.app_context():
            counts = relay.drain_outbox("helper")
    finally:
        signals.order_exported.disconnect(exported)
    assert counts == {"sent": 2 * n}  # a customer and an order row per checkout, the child's included
    assert 0 < len(here) < n  # the child sent the others
    assert all_sent(app)
    _orders_sent_once(sandbox, [number for _id, number in placed])
    assert len([c for c in sandbox.hooks.calls(action="newCustomerSubmit") if c["ok"]]) == n  # each customer once
    assert all(order_row(app, oid)["specter_order_no"] for oid, _n in placed)


@pytest.mark.usefixtures("forking")
def test_a_small_backlog_forks_nothing(make_shop, sandbox):
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    for i in range(drain_process.FORK_BACKLOG // 2):  # exactly FORK_BACKLOG rows
        _checkout_new_customer(app, i)
    with app.app_context():
        assert drain_process.fork_on_backlog(app.extensions["specter"], relay._drain) is None


def test_the_shop_process_never_forks(make_shop, sandbox):
    """Without ``flask specter worker``'s permission (the shop's own process, the embedded worker), no fork,
    whatever threads run."""
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    for i in range(drain_process.FORK_BACKLOG):
        _checkout_new_customer(app, i)
    with app.app_context():
        assert drain_process.fork_on_backlog(app.extensions["specter"], relay._drain) is None


@pytest.mark.usefixtures("real_redis")
def test_a_worker_killed_while_its_second_loop_runs_loses_nothing_and_sends_no_order_twice(make_shop, sandbox, real_redis):  # noqa: F811
    app = _shop(make_shop, sandbox, SPECTER_LEASE_SECONDS=3, SPECTER_SWEEP_INTERVAL=1)
    placed = [_checkout_new_customer(app, i) for i in range(60)]  # 120 rows: the drain forks its second loop
    # Each order call takes 50 ms, so the kill lands mid-drain on a fast machine too (2 loops: about 1.5 s).
    sandbox.hooks.fault("newOrderSubmit", "slow", count=len(placed), seconds=0.05)
    first = _start_worker(app)
    second = None
    try:
        # The worker, its scheduler and the drain's second loop.
        wait_until(lambda: len(process_group(first.pid)) >= 3, timeout=60, interval=0.01, message="the drain's second loop")
        wait_until(lambda: [e["state"] for e in entries(app)].count("sent") >= 4, timeout=60, interval=0.01, message="sending")
        os.kill(first.pid, signal.SIGKILL)  # the worker alone: its second loop and its scheduler see it gone
        # Both stop: while either held the dead worker's database socket, its open transaction and row locks stayed.
        wait_until(lambda: not process_group(first.pid), timeout=1.5, interval=0.01, message="the orphaned loop and scheduler to stop")
        assert not all_sent(app)
        second = _start_worker(app)
        wait_until(lambda: all_sent(app), timeout=120, message="a new worker to send the rest")
    finally:
        for proc in (first, second):
            if proc is not None:
                _kill(proc, signal.SIGTERM)
    _orders_sent_once(sandbox, [number for _id, number in placed])
    assert all(order_row(app, oid)["specter_order_no"] for oid, _n in placed)
