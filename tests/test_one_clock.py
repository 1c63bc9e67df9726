"""One clock: leases and due times are judged by the database's clock, never a worker's own.

A real ``flask specter worker`` process whose Python clock is 300 s ahead (``_skewed_worker.py``) drains
the outbox next to claims another worker still holds and a row whose retry is not due yet: it sends
neither. By its own clock both are long past; by the database's they are not. Real Redis, the sandbox
Specter over HTTP, PostgreSQL or SQLite.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import update

from flask_specter.dbclock import db_epoch
from flask_specter.inbound.pulls import FeedLock
from flask_specter.models import FeedState, OutboxEntry
from flask_specter.outbound.relay import drain_outbox

from ._push_fixtures import add_customer, ctx, entries, sandbox_customers
from .conftest import wait_until
from .test_stock_faults import _kill, _worker_env, real_redis  # noqa: F401 (fixture)

pytestmark = [pytest.mark.timeout(180)]

SKEW = 300.0


def _start_skewed_worker(app, skew: float = SKEW) -> subprocess.Popen:
    env = {**_worker_env(app), "SPECTER_TEST_CLOCK_SKEW": str(skew)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests._skewed_worker"],
        env=env,
        stdout=open(os.environ.get("SPECTER_TEST_WORKER_LOG", os.devnull), "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_worker_whose_clock_is_ahead_takes_no_held_claim_and_sends_no_row_before_it_is_due(make_shop, sandbox, real_redis):  # noqa: F811
    app = make_shop()
    emails = [f"kund{i}@example.se" for i in range(6)]
    for email in emails:
        add_customer(app, email)
    rows = [e["id"] for e in entries(app, "customer")]
    assert len(rows) == 6
    held, later, free = rows[:3], rows[3], rows[4:]
    with ctx(app) as state:
        session = state.db.session
        # Another worker sends these now: its lease runs 120 s more by the database's clock.
        session.execute(
            update(OutboxEntry).where(OutboxEntry.id.in_(held)).values(state="sending", claim_token="held-by-another", claimed_until=db_epoch() + 120.0)
        )
        # This one failed a moment ago: its retry is due in 120 s.
        later_at = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=120)
        session.execute(update(OutboxEntry).where(OutboxEntry.id == later).values(next_attempt_at=later_at, attempts=1))
        session.commit()
    worker = _start_skewed_worker(app)
    try:
        with ctx(app) as state:
            drain_outbox.enqueue(queue=state.queue)
        wait_until(lambda: all(e["state"] == "sent" for e in entries(app, "customer") if e["id"] in free), timeout=60, message="the free rows to be sent")
        time.sleep(3.0)  # the drain's last look, and the sweep the worker runs as it starts
    finally:
        _kill(worker, signal.SIGTERM)
    states = {e["id"]: e["state"] for e in entries(app, "customer")}
    assert [states[i] for i in held] == ["sending"] * 3  # still the other worker's
    assert states[later] == "pending"
    sent = {c["emailAddress"] for c in sandbox_customers(sandbox)}
    assert sent == set(emails[4:])


def test_a_feed_lease_is_judged_by_the_database_clock(make_shop, monkeypatch):
    """In process: a pull whose clock is 300 s ahead finds the feed's lease, taken a moment ago, still held."""
    app = make_shop()
    with ctx(app) as state:
        first = FeedLock("stock")
        assert first.acquire()
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + SKEW)
        assert not FeedLock("stock").acquire()
        monkeypatch.setattr(time, "time", real)
        until = state.db.session.get(FeedState, "stock").locked_until
        assert until is not None and abs(until - (real() + float(app.config["SPECTER_LEASE_SECONDS"]))) < 5
        first.release()
