"""Shared fixtures: the sandbox Specter over real HTTP, a fresh shop app per test, real Redis and
PostgreSQL when ``DATABASE_URL``/``REDIS_URL`` (or the ``TEST_`` variants) point at them, SQLite and the
embedded queue otherwise."""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from pathlib import Path

import pytest

from flask_specter.sandbox.testing import SandboxServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).parent / "screenshots"  # gitignored; look at them after a run
# A customer filling in the example shop's checkout form (csrf_token added by each test).
BUYER = {
    "email": "karin@example.se",
    "first_name": "Karin",
    "last_name": "Åkesson",
    "address": "Byvägen 3",
    "zip": "123 45",
    "city": "Västerås",
    "country": "SE",
    "payment_method": "invoice",
    "shipping_method": "postnord",
}

API_TOKEN = "test-api-token"  # SHOP_API_TOKEN of the test shops: their JSON API is closed without it
API_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}



def _database_url(tmp_path) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path / 'shop.sqlite3'}"


def _redis_url() -> str | None:
    return os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL") or None


@pytest.fixture
def sandbox_server(tmp_path):
    """A sandbox process per test: a worker left over from another test can never touch this one's feeds."""
    with SandboxServer(db=str(tmp_path / "sandbox.sqlite3")) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server):
    sandbox_server.hooks.reset()
    sandbox_server.hooks.configure(callbackRetries=3, callbackBackoff=0.1, callbackTimeout=5, callbacksEnabled=True)
    yield sandbox_server
    sandbox_server.hooks.clear_faults()


@pytest.fixture
def client(sandbox):
    from flask_specter.remote.client import SpecterClient

    c = SpecterClient.from_config({**sandbox.credentials, "SPECTER_TIMEOUT": 5.0, "SPECTER_VERIFY_TLS": True})
    yield c
    c.close()


def _reset_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url)
    with engine.begin() as conn:
        # A worker or pool left over from an earlier test must not hold locks on the old tables.
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def shop_config(tmp_path, sandbox):
    """Config for a fresh example shop wired to the sandbox."""
    url = _database_url(tmp_path)
    _reset_database(url)
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url if not url.startswith("postgresql://") else url.replace("postgresql://", "postgresql+psycopg://", 1),
        "SPECTER_CALLBACK_TOKEN": secrets.token_urlsafe(24),
        "SPECTER_PUBLIC_URL": "http://127.0.0.1:1",
        "SPECTER_QUEUE_NAME": f"t-{uuid.uuid4().hex[:12]}",
        "SPECTER_EMBEDDED_WORKER": False,
        "SPECTER_STOCK_BATCH_DELAY": 0.0,
        "SPECTER_RETRY_BACKOFF": 0.1,
        "SPECTER_RETRY_BACKOFF_MAX": 0.5,
        "SPECTER_SWEEP_INTERVAL": 0,
        "SPECTER_TIMEOUT": 5.0,
        "WTF_CSRF_ENABLED": True,
        "SHOP_API_TOKEN": API_TOKEN,
        **sandbox.credentials,
    }
    redis_url = _redis_url()
    config["REDIS_URL"] = redis_url
    config["SPECTER_REDIS_URL"] = redis_url
    return config


@pytest.fixture
def make_shop(shop_config):
    """Factory for example-shop apps; every app made is cleaned up after the test."""
    from example_shop import create_app

    apps = []

    def factory(**overrides):
        app = create_app({**shop_config, **overrides})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        state = app.extensions.get("specter")
        if state is not None:
            state.queue.stop_worker(timeout=2)
            if not state.queue.embedded:
                _drop_queue(state.queue)
        with app.app_context():
            app.extensions["sqlalchemy"].session.remove()
            app.extensions["sqlalchemy"].engine.dispose()


def _drop_queue(queue) -> None:
    try:
        for key in queue.connection.scan_iter(f"*{queue.name}*"):
            queue.connection.delete(key)
    except Exception:
        pass


def close_shop(app) -> None:
    """Teardown of a test's own shop app: its queue's keys on a real Redis, its database connections."""
    state = app.extensions["specter"]
    if not state.queue.embedded:
        _drop_queue(state.queue)
    with app.app_context():
        state.db.session.remove()
        state.db.engine.dispose()


def drain_outbox(app) -> dict:
    """``flask specter drain`` in-process: push every unsent outbox row now."""
    from flask_specter.outbound.resend import drain

    with app.app_context():
        return drain()


def unsent_rows(app) -> list[tuple[str, str, str]]:
    """(kind, op, ref) of every outbox row not sent yet, oldest first."""
    from sqlalchemy import select

    from flask_specter.models import OutboxEntry

    with app.app_context():
        rows = app.extensions["specter"].db.session.execute(select(OutboxEntry).where(OutboxEntry.state != "sent").order_by(OutboxEntry.id)).scalars()
        return [(r.kind, r.op, r.ref) for r in rows]


class LiveWorker:
    """A real RQ worker (SimpleWorker semantics, scheduler on) running in a thread for one app."""

    def __init__(self, app):
        from flask_specter.queue import ThreadWorker

        self.app = app
        self.queue = app.extensions["specter"].queue
        self.worker = self.queue.make_worker(ThreadWorker)
        self.thread = threading.Thread(target=self.worker.work, kwargs={"with_scheduler": True, "logging_level": "WARNING"}, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.worker.stop()
        self.thread.join(timeout=10)


@pytest.fixture
def live_worker():
    workers = []

    def start(app):
        w = LiveWorker(app).start()
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()


def run_queued_jobs(app) -> None:
    """Run the jobs waiting in ``app``'s queue, and those they queue meanwhile, here and now (an RQ burst
    worker, no scheduler): for tests that drive the clock and the scheduler themselves."""
    from flask_specter.queue import SpecterSimpleWorker

    worker = app.extensions["specter"].queue.make_worker(SpecterSimpleWorker)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")


def process_group(pgid: int) -> list[int]:
    """The live processes of a process group (a worker started in a session of its own, and what it forked)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(pid))
    return found


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it is truthy; fail the test with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class ServedApp:
    """An app served over real HTTP on loopback (so the sandbox can call its callbacks)."""

    def __init__(self, app, port: int | None = None):
        from werkzeug.serving import make_server

        self.app = app
        self.server = make_server("127.0.0.1", port or 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    served = []

    def start(app, port=None):
        s = ServedApp(app, port)
        served.append(s)
        return s

    yield start
    for s in served:
        try:
            s.stop()
        except Exception:
            pass


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="sv-SE")
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
        assert errors == [], f"JavaScript errors on the admin pages: {errors}"


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def shop_worker(live_worker):
    """With Redis: a real ``flask specter worker`` process, as deployed; without: an in-process RQ worker."""
    import signal

    from .test_stock_faults import _kill, _start_worker

    processes = []

    def start(app):
        if app.config.get("REDIS_URL"):
            processes.append(_start_worker(app))
        else:
            live_worker(app)

    yield start
    for proc in processes:
        _kill(proc, signal.SIGTERM)


def api_client(app):
    """A test client that sends the shop's API token with every request (the API is closed without it)."""
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = API_HEADERS["Authorization"]
    return c


class RunningDemo:
    """``python -m example_shop.demo`` as a user starts it: real processes, a clean environment, free ports."""

    def __init__(self, tmp_path):
        import subprocess
        import sys

        self.shop_port, self.sandbox_port = free_port(), free_port()
        self.shop_url = f"http://127.0.0.1:{self.shop_port}"
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.output = tmp_path / "demo-output.txt"
        inherited = ("SPECTER_", "SHOP_", "DATABASE_URL", "REDIS_URL", "SECRET_KEY")
        env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        env["PYTHONUNBUFFERED"] = "1"
        args = ["--shop-port", str(self.shop_port), "--sandbox-port", str(self.sandbox_port), "--var", str(tmp_path)]
        with open(self.output, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "example_shop.demo", *args], cwd=str(tmp_path), env=env,
                                         stdout=out, stderr=subprocess.STDOUT)

    def wait_for_output(self, pattern: str, timeout: float = 90.0):
        """The first match of ``pattern`` in what the demo printed (fails the test if it never comes)."""
        import re

        def found():
            match = re.search(pattern, self.output.read_text())
            return match or (self.proc.poll() is not None and AssertionError(f"the demo exited: {self.output.read_text()[-2000:]}"))

        result = wait_until(found, timeout=timeout, interval=0.2, message=f"the demo to print {pattern!r}")
        if isinstance(result, AssertionError):
            raise result
        return result

    def stop(self) -> None:
        import signal
        import subprocess

        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def running_demo(tmp_path):
    demo = RunningDemo(tmp_path)
    yield demo
    demo.stop()
