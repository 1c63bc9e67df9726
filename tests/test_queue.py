"""``enqueue_once``: the one "flag, enqueue, the job clears the flag" helper behind pulls, the stock chain,
article and order applies and the outbox."""

from __future__ import annotations

import pytest

from flask_specter.sweep import sweep

JOB = sweep.func


def test_enqueue_once_coalesces_and_a_failed_enqueue_frees_the_flag(make_shop):
    queue = make_shop().extensions["specter"].queue
    assert queue.enqueue_once("test-once", JOB, ttl=60)
    assert not queue.enqueue_once("test-once", JOB, ttl=60)  # one is waiting: not doubled
    assert queue.queue.count == 1
    queue.clear_flag("test-once")  # what the job does when it starts

    def refuse(*args, **kwargs):
        raise ConnectionError("Redis went away")

    queue.queue.enqueue = refuse  # the one exact failure this unit must see
    with pytest.raises(ConnectionError):
        queue.enqueue_once("test-once", JOB, ttl=60)
    del queue.queue.enqueue
    assert queue.enqueue_once("test-once", JOB, ttl=60)  # the next caller is not turned away by a job that never was
    assert queue.queue.count == 2


def test_each_worker_runs_jobs_the_way_its_rq_class_does():
    """The app-context mixin must not change how a job runs: the thread and --no-fork workers run jobs in
    their own process (a fork from a thread, or from the shop, would copy its locks and sockets)."""
    from rq import SimpleWorker, Worker

    from flask_specter.queue import SpecterSimpleWorker, SpecterWorker, ThreadWorker

    assert ThreadWorker.execute_job is SimpleWorker.execute_job
    assert SpecterSimpleWorker.execute_job is SimpleWorker.execute_job
    assert SpecterWorker.execute_job is Worker.execute_job
