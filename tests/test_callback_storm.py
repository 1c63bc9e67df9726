"""A storm of Specter's callbacks needs one pull: repeats inside a short window are answered from the
process's memory (no Redis round trip), and the request they are owed is made when the window ends, so
the last call of a storm is never lost.

Real parts: the example shop, the sandbox Specter over HTTP, the embedded queue or Redis (TEST_REDIS_URL),
RQ jobs run by a burst worker.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from sqlalchemy import select

from flask_specter.inbound import pull_requests as memory_module
from flask_specter.inbound.pull_requests import pull_requests
from flask_specter.models import CallbackLog

from ._push_fixtures import CLOSED_REDIS
from .conftest import run_queued_jobs, wait_until
from .test_stock_sync import callback, seed, shop_stock, specter_available

pytestmark = pytest.mark.timeout(120)
PULL = "flask_specter.inbound.pulls.run_pull"


def _memory(app, window: float):
    with app.app_context():
        memory = pull_requests(app)
    memory.window = window
    return memory


def _pull_jobs(app) -> int:
    return sum(job.func_name == PULL for job in app.extensions["specter"].queue.queue.get_jobs())


@pytest.fixture(params=["embedded", "redis"])
def any_queue_shop(request, make_shop):
    """A shop on the embedded queue (no Redis), and one on Redis when the tests have one."""
    if request.param == "embedded":
        return make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None)
    if not (os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")):
        pytest.skip("needs TEST_REDIS_URL")
    return make_shop()


def test_a_storm_of_callbacks_queues_one_pull_and_asks_redis_at_most_twice(any_queue_shop):
    app = any_queue_shop
    memory = _memory(app, window=4.0)
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    started = time.monotonic()
    with app.test_client() as c:
        answers = [c.get(f"/specter/callback/stock?token={token}") for _ in range(300)]
    assert time.monotonic() - started < memory.window, "the machine was too slow for this test's window"
    assert {(r.status_code, r.data) for r in answers} == {(200, b"1;Done")}
    assert memory.real == 1  # the first call asked Redis; the other 299 were answered from memory
    assert _pull_jobs(app) == 1
    assert memory.pending()  # ...and are owed one request when the window ends
    # Waited for by the request made: a try takes it off the owed list just before it makes it.
    wait_until(lambda: memory.real == 2 and not memory.pending(), timeout=10, message="the owed request")
    assert memory.real == 2
    assert _pull_jobs(app) == 1  # the queued pull had not started: the owed request was a no-op SET NX


def test_the_last_call_of_a_storm_after_the_pull_started_gets_a_pull_of_its_own(make_shop, sandbox):
    app = make_shop()
    seed(sandbox, app, 3, stock=10)
    memory = _memory(app, window=5.0)
    started = time.monotonic()
    assert callback(app).data == b"1;Done"
    run_queued_jobs(app)  # the pull runs (and clears its flag), the rows are applied
    assert shop_stock(app) == specter_available(sandbox)

    sandbox.hooks.pos_sale("SKU-00001", 4)  # a change in Specter after the pull read the feed...
    assert callback(app).data == b"1;Done"  # ...whose call is answered from memory
    assert time.monotonic() - started < memory.window, "the machine was too slow for this test's window"
    assert memory.real == 1 and _pull_jobs(app) == 0

    wait_until(lambda: _pull_jobs(app) == 1, timeout=15, message="the pull owed to the last call")
    run_queued_jobs(app)
    assert shop_stock(app)["SKU-00001"] == specter_available(sandbox)["SKU-00001"] == 11 - 4  # seeded with 10 + 1


def test_the_memory_expires_after_its_window(make_shop):
    app = make_shop()
    memory = _memory(app, window=0.2)
    assert callback(app).data == b"1;Done"
    time.sleep(0.3)
    assert callback(app).data == b"1;Done"
    assert memory.real == 2 and not memory.pending()  # both asked Redis; nothing owed


def test_a_queue_that_is_down_is_never_answered_from_memory(make_shop):
    app = make_shop(REDIS_URL=CLOSED_REDIS, SPECTER_REDIS_URL=CLOSED_REDIS)
    memory = _memory(app, window=5.0)
    for _ in range(2):
        answer = callback(app)
        assert answer.status_code == 503 and answer.data.startswith(b"0;503;")
    assert memory.real == 2 and not memory.pending()


def test_an_owed_request_that_fails_is_made_again_and_specter_hears_503_meanwhile(make_shop, monkeypatch):
    from flask_specter.inbound import pulls

    app = make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None)
    memory = _memory(app, window=1.0)
    real_request = pulls.request_pull
    assert callback(app).data == b"1;Done"  # a pull is queued; the window opens

    def queue_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(pulls, "request_pull", queue_down)
    assert callback(app).data == b"1;Done"  # answered from memory: one request owed
    # A try takes the request off the owed list while it runs and puts it back when it fails.
    wait_until(lambda: memory.real >= 2 and memory.pending(), timeout=10, message="the owed request to be tried")
    assert memory.pending()  # it failed: still owed
    assert callback(app).status_code == 503  # the memory forgot its last request: Specter is asked to call again

    with app.app_context():
        run_queued_jobs(app)  # the first pull runs (and clears the flag), so the owed one is a new pull
    assert _pull_jobs(app) == 0
    monkeypatch.setattr(pulls, "request_pull", real_request)  # Redis is back
    # Waited for by its outcome: a try still failing, or one that has not queued its pull yet, shows
    # nothing owed for a moment.
    wait_until(lambda: _pull_jobs(app) and not memory.pending(), timeout=20, message="the owed request to be made again")
    assert _pull_jobs(app) == 1


def test_a_process_that_exits_makes_its_owed_requests_first(make_shop, sandbox):
    app = make_shop()
    memory = _memory(app, window=60.0)
    for _ in range(3):
        assert callback(app).data == b"1;Done"
    run_queued_jobs(app)  # the pull started (and ran) after the first call; the other two are owed a pull
    assert memory.pending() and _pull_jobs(app) == 0
    memory.settle()  # what the process's exit runs (atexit), long before the window would end
    assert not memory.pending() and memory.real == 2 and _pull_jobs(app) == 1


def test_a_forked_process_starts_with_an_empty_memory(make_shop, monkeypatch):
    app = make_shop()
    with app.app_context():
        parent = pull_requests(app)
        assert pull_requests(app) is parent
        monkeypatch.setattr(memory_module.os, "getpid", lambda: parent.pid + 1)
        child = pull_requests(app)
    assert child is not parent and child.pid == parent.pid + 1


def test_the_latest_call_of_a_storm_is_the_one_the_admin_sees(make_shop):
    app = make_shop()
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    with app.test_client() as c:
        c.get(f"/specter/callback/stock?token={token}")
        time.sleep(0.3)
        last_sent = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        c.get(f"/specter/callback/stock?token={token}")  # inside the second of the first: noted, written later

    def recorded():
        with app.app_context():
            session = app.extensions["specter"].db.session
            row = session.execute(select(CallbackLog).where(CallbackLog.route == "stock")).scalar_one_or_none()
            session.remove()
            return row and row.last_accepted_at

    wait_until(lambda: (recorded() or dt.datetime.min) >= last_sent - dt.timedelta(milliseconds=50), timeout=10, message="the latest call's time")


EXITING_PROCESS = """
import sys
from example_shop import create_app
from flask_specter.inbound.pull_requests import pull_requests
app = create_app(dict(TESTING=True, SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=sys.argv[1], REDIS_URL=sys.argv[2], SPECTER_REDIS_URL=sys.argv[2],
                      SPECTER_QUEUE_NAME=sys.argv[3], SPECTER_CALLBACK_TOKEN="t0ken-t0ken-t0ken", SPECTER_EMBEDDED_WORKER=False))
with app.app_context():
    pull_requests(app).window = 600.0
    queue = app.extensions["specter"].queue
with app.test_client() as c:
    assert c.get("/specter/callback/stock?token=t0ken-t0ken-t0ken").data == b"1;Done"
    queue.queue.empty()
    queue.clear_flag("pull-queued:stock")  # as the pull job does when it starts
    for _ in range(2):
        assert c.get("/specter/callback/stock?token=t0ken-t0ken-t0ken").data == b"1;Done"
assert queue.queue.count == 0 and pull_requests(app).pending()
"""  # ...and the process exits normally, ten minutes before its window ends


def test_a_real_process_exiting_mid_storm_queues_the_owed_pull(tmp_path, make_shop):
    import subprocess
    import sys
    import uuid

    from redis import Redis
    from rq import Queue

    redis_url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("needs TEST_REDIS_URL (the embedded queue dies with its process)")
    name = f"t-exit-{uuid.uuid4().hex[:8]}"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", EXITING_PROCESS, f"sqlite:///{tmp_path / 'exit.sqlite3'}", redis_url, name],
                          cwd=root, env={**os.environ, "PYTHONPATH": root}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    connection = Redis.from_url(redis_url)
    try:
        assert [job.func_name for job in Queue(name, connection=connection).get_jobs()] == [PULL]
    finally:
        for key in connection.scan_iter(f"*{name}*"):
            connection.delete(key)
