"""The host's own Redis: which URL the queue follows ("embedded" forces the in-process queue), and the loud
warnings of jobs waiting on Redis with no worker alive: the admin's status page, ``flask specter status``,
``flask specter check`` and the log of the process that enqueues."""

from __future__ import annotations

import logging

import pytest

from flask_specter.config import queue_url
from flask_specter.sweep import sweep

from .test_admin import close_app, make_admin_app

JOB = sweep.func
ALARM = "NO WORKER"


@pytest.mark.parametrize(
    ("config", "url"),
    [
        ({}, None),
        ({"REDIS_URL": "redis://cache:6379/0"}, "redis://cache:6379/0"),
        ({"REDIS_URL": "redis://cache:6379/0", "SPECTER_REDIS_URL": "redis://jobs:6379/2"}, "redis://jobs:6379/2"),
        ({"REDIS_URL": "redis://cache:6379/0", "SPECTER_REDIS_URL": "embedded"}, None),
        ({"REDIS_URL": "redis://cache:6379/0", "SPECTER_REDIS_URL": " Embedded "}, None),
        ({"REDIS_URL": "redis://cache:6379/0", "SPECTER_REDIS_URL": ""}, "redis://cache:6379/0"),
        ({"SPECTER_REDIS_URL": None, "REDIS_URL": ""}, None),
    ],
)
def test_the_queue_follows_specter_redis_url_then_redis_url(config, url):
    assert queue_url(config) == url


def test_embedded_keeps_the_queue_in_process_beside_the_hosts_redis(tmp_path):
    # Port 1 answers nothing: an app that tried the host's Redis would fail its first enqueue.
    app = make_admin_app(tmp_path, REDIS_URL="redis://127.0.0.1:1/0", SPECTER_REDIS_URL="embedded")
    try:
        queue = app.extensions["specter"].queue
        assert queue.embedded and queue.url is None
        queue.enqueue(JOB)
        assert queue.waiting_jobs() == 1
    finally:
        close_app(app)
    app = make_admin_app(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    try:
        queue = app.extensions["specter"].queue
        assert not queue.embedded and queue.url == "redis://127.0.0.1:1/0"
    finally:
        close_app(app)


@pytest.fixture
def redis_app(tmp_path):
    """A shop whose queue stands for a Redis server no worker listens on: the in-process fakeredis
    (it speaks Redis to RQ: queues, registries, worker keys), marked as not embedded."""
    app = make_admin_app(tmp_path)
    queue = app.extensions["specter"].queue
    queue.embedded = False
    queue.worker_watch_interval = 0  # look on every enqueue, no grace
    yield app
    close_app(app)


def _status(app) -> str:
    result = app.test_cli_runner().invoke(args=["specter", "status"])
    assert result.exit_code == 0, result.output
    return result.output


def _status_page(app) -> str:
    client = app.test_client()
    client.get("/_test/login")
    return client.get("/admin/specter/status/").get_data(as_text=True)


def test_jobs_on_redis_without_a_worker_are_loud_everywhere(redis_app, caplog, live_worker):
    app = redis_app
    queue = app.extensions["specter"].queue
    assert "WARNING: no worker is alive on the Redis queue" in _status(app)

    with caplog.at_level(logging.WARNING, logger="flask_specter.queue"):
        queue.enqueue(JOB)
        queue.enqueue(JOB, delay=600)
    alarms = [r for r in caplog.records if ALARM in r.getMessage()]
    assert len(alarms) == 2 and alarms[0].levelno == logging.ERROR
    assert f"{queue.name!r}" in alarms[0].getMessage() and "flask specter worker" in alarms[0].getMessage()

    status = _status(app)
    assert "(0 worker(s); 2 job(s) waiting)" in status
    assert "WARNING: 2 job(s) wait on the Redis queue and NO WORKER is alive" in status
    page = _status_page(app)
    assert "specter-no-worker" in page and "2 jobb väntar i Redis-kön och ingen worker kör dem" in page
    assert 'SPECTER_REDIS_URL = "embedded"' in page
    with app.app_context():
        from flask_specter.checks import CheckOutcome, check_worker

        worker = check_worker()
    assert worker.outcome is CheckOutcome.FAIL and "2 jobb väntar" in worker.detail

    # Throttled: one look per interval, so a busy shop logs the alarm once a minute, not per enqueue.
    queue.worker_watch_interval = 3600
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flask_specter.queue"):
        queue.enqueue(JOB)
    assert not [r for r in caplog.records if ALARM in r.getMessage()]

    live_worker(app)  # a worker comes: the jobs run, every warning goes
    from .conftest import wait_until

    wait_until(lambda: queue.live_workers() and queue.queue.count == 0, message="the worker to run the queued jobs")
    queue.worker_watch_interval = 0
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flask_specter.queue"):
        queue.enqueue(JOB, delay=600)
    assert not [r for r in caplog.records if ALARM in r.getMessage()]
    status = _status(app)
    assert "WARNING" not in status and "(1 worker(s): " in status
    assert "specter-no-worker" not in _status_page(app)


def test_a_shop_started_before_its_worker_gets_a_grace(redis_app, caplog):
    queue = redis_app.extensions["specter"].queue
    queue.worker_watch_interval = 60.0  # the default: no alarm within a minute of start
    with caplog.at_level(logging.WARNING, logger="flask_specter.queue"):
        queue.enqueue(JOB)
    assert not [r for r in caplog.records if ALARM in r.getMessage()]


def test_redis_that_does_not_answer_is_a_red_card_too(tmp_path):
    app = make_admin_app(tmp_path, SPECTER_REDIS_URL="redis://127.0.0.1:1/0")
    try:
        assert "WARNING: Redis does not answer (ConnectionError)" in _status(app)
        page = _status_page(app)
        assert "specter-no-worker" in page and "Redis svarar inte" in page
    finally:
        close_app(app)


def test_the_embedded_queue_raises_no_alarm(tmp_path, caplog):
    app = make_admin_app(tmp_path)
    try:
        queue = app.extensions["specter"].queue
        queue.worker_watch_interval = 0
        with caplog.at_level(logging.WARNING, logger="flask_specter.queue"):
            queue.enqueue(JOB)
        assert not [r for r in caplog.records if ALARM in r.getMessage()]
        assert "WARNING" not in _status(app) and "specter-no-worker" not in _status_page(app)
    finally:
        close_app(app)
