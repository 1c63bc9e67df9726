"""The time rules, on a frozen clock: when an outbox row is due, how long a claim or a pull lock holds,
that a retry is never scheduled before its row is due, how a failed pull backs off, and when one
worker's scheduler takes the lock over from a silent one.

No worker runs: each test is the worker, calling the job's function in an app context of a shop with
the embedded queue (fakeredis, whose TTLs follow the frozen clock too), and moves the clock itself
with freezegun. These rules read the clock of this process (``models.utcnow``, ``time.time``,
``rq.utils.now``), never the database's ``now()``. The sandbox Specter is the real one, over HTTP.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from freezegun import freeze_time
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from flask_specter.models import FeedState, OutboxEntry, utcnow

from ._push_fixtures import ctx, db

LEASE = 120.0


@pytest.fixture
def shop(make_shop):
    """A shop with the embedded queue and no worker: jobs wait in fakeredis until the test runs them."""
    return make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None, SPECTER_LEASE_SECONDS=LEASE)


def frozen():
    """The clock stopped at the real present, on a whole second (the sandbox, in its own process, keeps
    real time)."""
    return freeze_time(dt.datetime.now(dt.UTC).replace(microsecond=0))


def _row(app, **fields) -> int:
    with ctx(app):
        entry = OutboxEntry(kind="product", op="create", ref=fields.pop("ref", "KAFFE-1"), state="pending", attempts=0, **fields)
        db(app).session.add(entry)
        db(app).session.commit()
        return entry.id


def _scheduled(app) -> dict[str, dt.datetime]:
    """Job id -> when RQ's scheduler will move it into the queue (naive UTC, like the models' times)."""
    registry = ScheduledJobRegistry(queue=app.extensions["specter"].queue.queue)
    return {job_id: registry.get_scheduled_time(job_id).replace(tzinfo=None) for job_id in registry.get_job_ids()}


# -- the outbox: due time and lease ------------------------------------------------------------------


def test_an_outbox_row_is_not_due_before_its_next_attempt_and_is_due_from_then_on(shop):
    from flask_specter.outbound.relay import claim, push_entry, sweep_outbox

    with frozen() as clock, ctx(shop):
        waiting = _row(shop, next_attempt_at=utcnow() + dt.timedelta(seconds=30))
        assert sweep_outbox() == 0
        assert claim(waiting) is None
        clock.tick(29.9)
        assert sweep_outbox() == 0
        assert push_entry(waiting)["skipped"]  # a retry job that runs early sends nothing
        clock.tick(0.1)  # next_attempt_at itself: due
        assert sweep_outbox() == 1
        assert claim(waiting) is not None
        urgent = _row(shop, ref="KAFFE-2", next_attempt_at=utcnow() + dt.timedelta(hours=1))
        assert claim(urgent) is None and claim(urgent, force=True) is not None  # drain and "Överför order" do not wait


def test_an_outbox_claim_holds_for_its_lease_then_another_worker_may_take_the_row(shop):
    from flask_specter.outbound.claims import claim, finish, unsent_entry
    from flask_specter.outbound.relay import sweep_outbox

    with frozen() as clock, ctx(shop):
        entry_id = _row(shop)
        first = claim(entry_id)
        assert first is not None
        assert claim(entry_id) is None and sweep_outbox() == 0 and unsent_entry("product", "KAFFE-1") == (None, True)
        clock.tick(LEASE)  # claimed_until itself: still held
        assert claim(entry_id) is None and sweep_outbox() == 0 and unsent_entry("product", "KAFFE-1")[1]
        clock.tick(0.5)  # the sender died: its lease ran out
        assert unsent_entry("product", "KAFFE-1") == (None, False)
        assert sweep_outbox() == 1
        second = claim(entry_id)
        assert second is not None and second != first
        assert not finish(entry_id, first, state="sent")  # the first sender, back from the dead, records nothing
        db(shop).session.commit()
        row = db(shop).session.get(OutboxEntry, entry_id)
        db(shop).session.refresh(row)
        assert (row.state, row.claim_token) == ("sending", second)


def test_a_retry_is_scheduled_no_earlier_than_its_row_is_due(make_shop, sandbox):
    """RQ stores scheduled times in whole seconds, cut down: the queue rounds up, so the retry job never
    runs before next_attempt_at (it would then find the row not due and do nothing)."""
    from flask_specter.outbound.relay import push_entry

    from ._push_fixtures import add_product

    app = make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None, SPECTER_RETRY_BACKOFF=0.8, SPECTER_RETRY_BACKOFF_MAX=0.8)
    sandbox.hooks.fault("newArticleSubmit", "fail", count=5, status=503)
    start = dt.datetime.now(dt.UTC).replace(microsecond=300_000)  # late enough in a second to be cut down
    with freeze_time(start):
        add_product(app, "RETRY-1")
        with ctx(app):
            entry_id = db(app).session.execute(select(OutboxEntry.id)).scalar_one()
            assert push_entry(entry_id)["state"] == "pending"
            due = db(app).session.get(OutboxEntry, entry_id).next_attempt_at
        [when] = _scheduled(app).values()
    assert dt.timedelta(seconds=0.8) <= due - start.replace(tzinfo=None) <= dt.timedelta(seconds=0.8 * 1.1)
    assert due <= when < due + dt.timedelta(seconds=1)


# -- the pull: lease lock and back-off ------------------------------------------------------------------


def test_a_feed_lock_holds_while_renewed_and_is_taken_over_once_its_lease_ran_out(shop):
    from flask_specter.inbound.pulls import FeedLock

    with frozen() as clock, ctx(shop):
        first, second = FeedLock("stock"), FeedLock("stock")
        assert first.acquire() and not second.acquire()
        clock.tick(LEASE - 1)
        first.renew()  # the pull is busy between two batches
        db(shop).session.commit()
        clock.tick(LEASE - 1)  # past the first lease, within the renewed one
        assert not second.acquire()
        clock.tick(1.5)  # the renewed lease ran out: the first pull died
        assert second.acquire()
        first.renew()
        first.release()  # the dead pull, back, neither extends nor frees the new holder's lock
        db(shop).session.commit()
        owner, until = db(shop).session.execute(select(FeedState.lock_owner, FeedState.locked_until).where(FeedState.feed == "stock")).one()
        assert owner == second.owner and until == pytest.approx(time.time() + LEASE)
        assert not FeedLock("stock").acquire()


def test_a_halted_pull_backs_off_longer_each_time_up_to_the_cap_and_a_success_resets_it(make_shop, sandbox):
    from flask_specter.inbound.pulls import run_pull

    from .test_hostile_feeds import STOCK_CONFIRM
    from .test_stock_sync import seed

    app = make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None, SPECTER_RETRY_BACKOFF=10.0, SPECTER_RETRY_BACKOFF_MAX=30.0)
    seed(sandbox, app, 2)
    sandbox.hooks.fault(STOCK_CONFIRM, "ack", count=1000)  # Specter answers the confirm but keeps the batch open
    waits, seen = [], set()
    with frozen() as clock:
        for _ in range(4):
            with ctx(app):
                assert "öppen" in run_pull("stock")["error"]
            new = {k: v for k, v in _scheduled(app).items() if k not in seen}
            assert len(new) == 1, new  # exactly one later pull, not a retry storm
            seen |= set(new)
            [when] = new.values()
            waits.append((when - utcnow()).total_seconds())
            clock.move_to(when)
        sandbox.hooks.clear_faults()
        with ctx(app):
            assert "error" not in run_pull("stock")
            assert db(app).session.execute(select(FeedState.failures).where(FeedState.feed == "stock")).scalar_one() == 0
    assert waits == [10.0, 20.0, 30.0, 30.0]


# -- the scheduler lock -------------------------------------------------------------------------------


def test_a_scheduler_takes_the_lock_over_after_15_s_without_a_heartbeat_and_resumes_with_a_sweep(shop):
    from flask_specter.queue.scheduler import TAKEOVER_AFTER

    queue = shop.extensions["specter"].queue
    with frozen() as clock:
        holder, standby = queue.make_scheduler(in_thread=True), queue.make_scheduler(in_thread=True)
        holder.step()
        assert holder.acquired_locks and not queue.queue.job_ids
        for _ in range(3):  # a live holder keeps it, however long it holds it
            clock.tick(TAKEOVER_AFTER - 1)
            holder.step()
            standby.step()
            assert holder.acquired_locks and not standby.acquired_locks
        clock.tick(TAKEOVER_AFTER)  # the holder hangs (same host, its process alive): its heartbeat is the sign
        standby.step()
        assert not standby.acquired_locks
        clock.tick(1)
        standby.step()
        assert standby.acquired_locks
        assert [j.func_name for j in queue.queue.get_jobs()] == ["flask_specter.sweep.sweep"]  # what died with it resumes
        holder.step()  # it wakes up: the lock is no longer its own, and it does not take it back
        assert not holder.acquired_locks and standby.acquired_locks


# -- the stock apply chain ------------------------------------------------------------------------------


def test_a_failing_stock_chunk_comes_back_later_each_time_in_a_row_and_a_success_resets_it(make_shop, sandbox, monkeypatch):
    """The count of chunks failed in a row lives in Redis (here fakeredis, whose TTL follows the frozen clock)."""
    from flask_specter.inbound import stock_apply
    from flask_specter.models import Batch, StockRow
    from flask_specter.remote import protocol

    app = make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None, SPECTER_RETRY_BACKOFF=10.0, SPECTER_RETRY_BACKOFF_MAX=30.0, SPECTER_LEASE_SECONDS=LEASE)
    with ctx(app):
        batch = Batch(feed="stock", batch_no=protocol.new_batch_no(), state="confirmed", rows=1)
        db(app).session.add(batch)
        db(app).session.flush()
        db(app).session.add(StockRow(batch_id=batch.id, sku="NOWHERE-1", available=3, state="pending"))
        db(app).session.commit()
    real_chunk = stock_apply._apply_next_chunk

    def database_away(state):
        raise ConnectionError("the database restarted")

    def chunk() -> float:
        """Run the chunk job; seconds until the chain's next job (None: none scheduled)."""
        before = set(_scheduled(app))
        with ctx(app):
            try:
                stock_apply.run_apply_chunk()
            except ConnectionError:
                pass
        new = {k: v for k, v in _scheduled(app).items() if k not in before}
        assert len(new) <= 1, new
        return next(((v - utcnow()).total_seconds() for v in new.values()), None)

    with frozen() as clock:
        monkeypatch.setattr(stock_apply, "_apply_next_chunk", database_away)
        waits = [chunk() for _ in range(4)]
        assert waits == [10.0, 20.0, 30.0, 30.0]
        clock.tick(LEASE * 10 + 1)  # a quiet spell: the count of failures in a row has expired
        assert chunk() == 10.0
        monkeypatch.setattr(stock_apply, "_apply_next_chunk", real_chunk)
        assert chunk() is None  # applied: nothing left to schedule
        monkeypatch.setattr(stock_apply, "_apply_next_chunk", database_away)
        with ctx(app):  # more rows, a new failure: it starts from the base again
            db(app).session.add(StockRow(batch_id=db(app).session.execute(select(Batch.id)).scalar_one(), sku="NOWHERE-2", available=1, state="pending"))
            db(app).session.commit()
        assert chunk() == 10.0
