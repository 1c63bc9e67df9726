"""Faults that need a real Redis and real worker processes: a worker killed with SIGKILL inside a
chunk, and the Redis data flushed in the middle of a batch. Both end with every SKU right."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from redis import Redis

from .conftest import wait_until
from .test_stock_sync import callback, confirms_per_batch, seed, shop_stock, specter_available, stock_rows

pytestmark = [pytest.mark.timeout(150)]


@pytest.fixture
def real_redis(shop_config):
    url = shop_config.get("REDIS_URL")
    if not url:
        pytest.skip("needs a real Redis: set REDIS_URL (CI does)")
    return Redis.from_url(url)


def _worker_env(app) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in app.config.items():
        if key.startswith("SPECTER_") and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            env[key] = str(value)
    env["DATABASE_URL"] = app.config["SQLALCHEMY_DATABASE_URI"]
    env["REDIS_URL"] = app.config["REDIS_URL"]
    env["SECRET_KEY"] = "test-secret"
    return env


def _start_worker(app, *, fork: bool = False, **extra_env) -> subprocess.Popen:
    """``flask specter worker`` in a process group of its own; ``fork=True`` as deployed (a work horse per job)."""
    env = {**_worker_env(app), **{k: str(v) for k, v in extra_env.items()}}
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "example_shop", "specter", "worker", *([] if fork else ["--no-fork"])],
        env=env,
        stdout=open(os.environ.get("SPECTER_TEST_WORKER_LOG", os.devnull), "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the worker and its scheduler die together
    )


def _kill(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def test_worker_killed_mid_chunk_a_new_worker_finishes(make_shop, sandbox, real_redis):
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=50)
    seed(sandbox, app, 200)
    callback(app)
    first = _start_worker(app, SPECTER_DEBUG_PAUSE_IN_CHUNK=30)  # sits inside its first chunk
    in_chunk = f"specter:{app.config['SPECTER_QUEUE_NAME']}:debug-in-chunk"
    try:
        wait_until(lambda: real_redis.exists(in_chunk), timeout=60, message="the worker to be inside a chunk")
        _kill(first)  # the whole host dies: worker and scheduler
        # Its chunk's transaction died with it: every row is still waiting, none half-applied.
        assert stock_rows(app)["pending"] == 200 and set(shop_stock(app).values()) == {0}
        second = _start_worker(app)
        try:
            wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=60, message="the new worker to finish")
        finally:
            _kill(second, signal.SIGTERM)
    finally:
        if first.poll() is None:
            _kill(first)
    assert stock_rows(app)["applied"] == 200
    assert set(confirms_per_batch(sandbox).values()) == {1}


def test_redis_flushed_mid_batch_rows_resume_with_the_next_callback(make_shop, sandbox, real_redis, live_worker):
    app = make_shop(SPECTER_STOCK_BATCH_SIZE=20, SPECTER_STOCK_BATCH_DELAY=0.5)
    seed(sandbox, app, 200)
    callback(app)
    worker = live_worker(app)
    wait_until(lambda: stock_rows(app)["applied"] >= 40, timeout=60, message="a few chunks")
    worker.stop()
    real_redis.flushdb()  # queue, schedule and flags are gone; the rows are still in the database
    remaining = stock_rows(app)["pending"]
    assert remaining > 0
    time.sleep(1.0)
    assert stock_rows(app)["pending"] == remaining  # nothing moves without Redis' jobs
    live_worker(app)
    assert callback(app).data == b"1;Done"
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=60, message="resume after flush")
    assert stock_rows(app)["applied"] == 200


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own on a free port, so it can be shut down and started again."""
    import shutil

    from .conftest import free_port

    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("needs the redis-server binary (Debian package redis-server; .ci/run installs it)")
    port = free_port()

    def start():
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Redis(port=port)
        wait_until(lambda: _pings(client), timeout=10, message="redis-server to start")
        return proc

    procs = [start()]
    yield port, procs, start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _pings(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


def test_redis_restarted_mid_batch_the_stored_rows_still_arrive(make_shop, sandbox, private_redis, live_worker):
    port, procs, start = private_redis
    url = f"redis://127.0.0.1:{port}/0"
    app = make_shop(REDIS_URL=url, SPECTER_REDIS_URL=url, SPECTER_STOCK_BATCH_SIZE=20, SPECTER_STOCK_BATCH_DELAY=0.3)
    seed(sandbox, app, 200)
    callback(app)
    worker = live_worker(app)
    wait_until(lambda: stock_rows(app)["applied"] >= 40, timeout=60, message="a few chunks")
    procs[0].kill()  # Redis dies: queue, schedule and flags are gone with it (no persistence)
    procs[0].wait(5)
    assert callback(app).status_code == 503  # Specter is asked to call again; its flags stay set
    worker.stop()
    procs.append(start())  # an empty Redis comes back
    live_worker(app)
    assert callback(app).data == b"1;Done"
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), timeout=60, message="resume after the restart")
    assert stock_rows(app)["applied"] == 200
