"""Killing ``flask specter worker`` stops every process it started: the work horse running a drain job,
the drain's forked second loop and the scheduler are gone within about a second (each dies with its
parent, ``queue/orphans.py``), and the rows they held are sent later by another worker, each once.

Real parts: ``flask specter worker`` subprocesses forking a work horse per job (the default), real Redis,
the sandbox Specter over HTTP, the example shop's checkout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from flask_specter.queue.orphans import die_with_parent

from ._push_fixtures import all_sent, entries, order_row, sandbox_customers
from .conftest import wait_until
from .test_outbox_drain import _checkout_new_customer, _orders_sent_once, _shop
from .test_stock_faults import _kill, _start_worker, real_redis  # noqa: F401 (fixture)

pytestmark = [pytest.mark.timeout(240)]

STOP_WITHIN = 1.5  # seconds; about one on a quiet machine (measured: see the report in CHANGES.md)


def session_processes(sid: int) -> dict[int, int]:
    """The live processes of a session, pid -> parent pid (the work horse has a process group of its own,
    RQ's ``setpgrp``, so a process group would miss it and what it forks)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            found[int(pid)] = int(fields[1])
    return found


def _horse_with_its_loop(worker: int) -> bool:
    """The worker's work horse runs a drain job that forked its second loop (a grandchild of the worker)."""
    tree = session_processes(worker)
    children = {pid for pid, parent in tree.items() if parent == worker}
    return any(parent in children for parent in tree.values())


def _gone_after(worker: subprocess.Popen, sig: int) -> dict[str, float]:
    """Signal the worker's main process alone; seconds until each process of its session is gone, by role."""
    before = session_processes(worker.pid)
    sent = time.monotonic()
    os.kill(worker.pid, sig)
    gone: dict[int, float] = {}
    while len(gone) < len(before) and time.monotonic() - sent < 10:
        left = session_processes(worker.pid)
        gone.update({pid: time.monotonic() - sent for pid in before if pid not in left and pid not in gone})
        time.sleep(0.01)
    assert not session_processes(worker.pid)
    took = {_role(pid, before): gone[pid] for pid in before}
    print(signal.Signals(sig).name, ", ".join(f"{role} {t:.3f} s" for role, t in took.items()))
    return took


def _role(pid: int, tree: dict[int, int]) -> str:
    if pid in tree.values() and tree[pid] not in tree:
        return "worker"
    return "horse" if pid in tree.values() else "second loop" if tree[tree[pid]] in tree else "scheduler"


def _drain_under_way(app, sandbox, n: int):
    placed = [_checkout_new_customer(app, i) for i in range(n)]  # 2n rows: the drain forks its second loop
    # Each order call takes 100 ms: the drain runs for seconds, so the kill lands mid-drain on any machine.
    sandbox.hooks.fault("newOrderSubmit", "slow", count=len(placed), seconds=0.1)
    return placed


def _sent_once(app, sandbox, placed) -> None:
    """Each order and each customer once in Specter. A row killed in the middle of its call is sent again
    by the next worker: Specter refuses the order as a duplicate (code 23) and matches the customer by
    e-mail, so neither is made twice."""
    _orders_sent_once(sandbox, [number for _id, number in placed])
    emails = Counter(c["emailAddress"] for c in sandbox_customers(sandbox))
    assert len(emails) == len(placed) and set(emails.values()) == {1}
    assert all(order_row(app, oid)["specter_order_no"] for oid, _n in placed)


def test_a_killed_worker_takes_its_horse_and_the_drains_second_loop_with_it(make_shop, sandbox, real_redis):  # noqa: F811
    """SIGKILL of the worker alone (the out-of-memory killer picks one process)."""
    app = _shop(make_shop, sandbox, SPECTER_LEASE_SECONDS=3, SPECTER_SWEEP_INTERVAL=1)
    placed = _drain_under_way(app, sandbox, 100)
    first = _start_worker(app, fork=True)
    second = None
    try:
        wait_until(lambda: _horse_with_its_loop(first.pid), timeout=10, interval=0.01, message="a work horse and the drain's second loop")
        wait_until(lambda: [e["state"] for e in entries(app)].count("sent") >= 4, timeout=10, interval=0.01, message="sending")
        took = _gone_after(first, signal.SIGKILL)
        assert set(took) == {"worker", "scheduler", "horse", "second loop"}
        assert max(took.values()) < STOP_WITHIN  # was the rest of the drain job: up to DRAIN_BUDGET (30 s)
        assert not all_sent(app)  # it stopped mid-drain...
        second = _start_worker(app, fork=True)
        wait_until(lambda: all_sent(app), timeout=120, message="a new worker to send the rest")  # ...and nothing is lost
    finally:
        for proc in (first, second):
            if proc is not None:
                _kill(proc, signal.SIGTERM)
    _sent_once(app, sandbox, placed)


def test_sigterm_waits_for_the_drain_and_a_second_one_stops_every_process_at_once(make_shop, sandbox, real_redis):  # noqa: F811
    """SIGTERM is RQ's warm stop: the worker finishes its job (a drain at most ``DRAIN_BUDGET``) and its
    processes end with it. A second SIGTERM is the cold stop: the horse's process group is killed."""
    app = _shop(make_shop, sandbox, SPECTER_LEASE_SECONDS=3, SPECTER_SWEEP_INTERVAL=1)
    placed = _drain_under_way(app, sandbox, 100)
    first = _start_worker(app, fork=True)
    second = None
    try:
        wait_until(lambda: _horse_with_its_loop(first.pid), timeout=10, interval=0.01, message="a work horse and the drain's second loop")
        os.kill(first.pid, signal.SIGTERM)
        time.sleep(1.1)  # RQ ignores a second signal within a second
        assert _horse_with_its_loop(first.pid)  # warm: the job goes on
        took = _gone_after(first, signal.SIGTERM)
        assert took["horse"] < STOP_WITHIN and took["second loop"] < STOP_WITHIN
        assert took["worker"] < 5  # the worker itself deregisters from Redis first (was up to 60 s: ``unsubscribe``)
        assert not all_sent(app)
        second = _start_worker(app, fork=True)
        wait_until(lambda: all_sent(app), timeout=120, message="a new worker to send the rest")
    finally:
        for proc in (first, second):
            if proc is not None:
                _kill(proc, signal.SIGTERM)
    _sent_once(app, sandbox, placed)


ORPHAN = """
import os, sys, time
from flask_specter.queue.orphans import die_with_parent
parent = os.getpid()
pid = os.fork()
if pid == 0:
    print(os.getpid(), flush=True)
    print(die_with_parent(int(sys.argv[1]) or parent), flush=True)
    time.sleep(60)
    os._exit(0)
time.sleep(float(sys.argv[2]))
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_a_forked_process_dies_with_its_parent():
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN, "0", "0.5"], stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(proc.stdout.readline())
    assert proc.stdout.readline().strip() == "True"
    assert _alive(child)
    proc.wait(10)  # the parent ends (here of itself): its child is killed at once
    wait_until(lambda: not _alive(child), timeout=1.0, interval=0.01, message="the child to die with its parent")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_a_process_whose_parent_died_before_it_asked_kills_itself():
    """The race between fork and prctl: the parent the child was forked by is not its parent any more."""
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN, "1", "30"], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        child = int(proc.stdout.readline())
        wait_until(lambda: not _alive(child), timeout=1.0, interval=0.01, message="the child to kill itself")
        assert proc.poll() is None  # its real parent still runs
    finally:
        _kill(proc)


def test_not_armed_where_prctl_is_not_there(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert die_with_parent(os.getppid()) is False
