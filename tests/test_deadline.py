"""SPECTER_TIMEOUT is a deadline for the whole answer (issue 8.3): a peer that sends one byte every
two seconds never trips a per-read timeout, but must not hold a call, or a pull, past the deadline.

Real sockets: a tiny HTTP server of the test's own that drips, and the sandbox's ``drip`` fault."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import select

from flask_specter.models import FeedState
from flask_specter.remote.client import SpecterClient
from flask_specter.remote.errors import SpecterTimeout

from .conftest import wait_until
from .test_stock_sync import _db, seed, shop_stock, specter_available

pytestmark = pytest.mark.timeout(60)


class DripServer:
    """Accepts connections and answers byte by byte, ``interval`` seconds apart (headers or body)."""

    def __init__(self, interval: float = 2.0, drip_headers: bool = False):
        self.interval = interval
        self.drip_headers = drip_headers
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        body = b"1;" + b"x" * 200 + b";ok"
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Length: %d\r\n\r\n" % len(body)
        try:
            conn.recv(65536)
            if not self.drip_headers:
                conn.sendall(head)
                head = b""
            for i in range(len(head + body)):
                if self.stopped.is_set():
                    break
                conn.sendall((head + body)[i : i + 1])
                time.sleep(self.interval)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopped.set()
        self.sock.close()


@pytest.fixture
def drip():
    servers = []

    def start(**kw):
        server = DripServer(**kw)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()


@pytest.mark.parametrize("drip_headers", [False, True], ids=["body", "headers"])
def test_a_slow_drip_answer_times_out_at_the_deadline(drip, drip_headers):
    server = drip(interval=1.0, drip_headers=drip_headers)
    client = SpecterClient(server.url, "4711", "1", "user-key", "integration-key", timeout=2.5)
    started = time.monotonic()
    with pytest.raises(SpecterTimeout):
        client.clear_article_batch()  # any call: each byte comes well within the per-read timeout
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 5.0, elapsed
    client.close()


def test_a_pull_held_by_a_dripping_specter_stops_at_the_deadline_and_says_why(make_shop, sandbox):
    app = make_shop(SPECTER_TIMEOUT=2.0)
    seed(sandbox, app, 3)
    sandbox.hooks.fault("getArticleExternalNeedUpdate", "drip", seconds=1.0)
    started = time.monotonic()
    with app.app_context():
        from flask_specter.inbound.pulls import run_pull

        with pytest.raises(SpecterTimeout):
            run_pull("stock")  # transient: RQ retries it with back-off
    assert time.monotonic() - started < 6.0
    with app.app_context():
        state = _db(app).session.execute(select(FeedState).where(FeedState.feed == "stock")).scalar_one()
        assert state.failures == 1 and "svarade inte i tid" in state.last_error
    # The batch Specter froze for the dripped answer is still open: the next pull recovers it.
    with app.app_context():
        from flask_specter.inbound.pulls import run_pull
        from flask_specter.inbound.stock_apply import run_apply_chunk

        assert run_pull("stock")["batches"] == 1
        while run_apply_chunk()["remaining"]:
            pass
    wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="the recovered batch")
