"""One SQLite file shared by the shop, ``flask specter worker`` and CLI commands, all writing at once.

A normal development set-up: the shop served over HTTP (orders of products and customers through its
API, Specter's callbacks), the worker applying stock and pushing the outbox (or, without Redis, the
shop's embedded worker), and ``import-articles``, ``sync-stock`` and ``drain`` started by hand, all
at the same moment, several rounds. Without WAL, a busy timeout and write transactions that take the
write lock when they begin, some process dies with ``database is locked``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from .conftest import API_HEADERS, API_TOKEN, free_port, wait_until

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = 300  # under one import chunk: every round's import finishes in its own process
ROUNDS = 4
THREADS = 3
PER_THREAD = 6
TOKEN = "sqlite-test-token"
FATAL = ("database is locked", "PendingRollbackError", "Traceback", "OperationalError")


def _env(db_file: Path, sandbox, web_url: str, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPECTER_", "DATABASE_URL", "REDIS_URL", "FLASK_"))}
    env.update({k: str(v) for k, v in sandbox.credentials.items()})
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": f"sqlite:///{db_file}",
            "SECRET_KEY": "sqlite-test",
            "SHOP_API_TOKEN": API_TOKEN,
            "SPECTER_CALLBACK_TOKEN": TOKEN,
            "SPECTER_PUBLIC_URL": web_url,
            "SPECTER_QUEUE_NAME": f"sq-{uuid.uuid4().hex[:10]}",
            "SPECTER_STOCK_BATCH_DELAY": "0",
            "SPECTER_STOCK_BATCH_SIZE": "50",
            "SPECTER_SWEEP_INTERVAL": "2",
            "SPECTER_RETRY_BACKOFF": "0.2",
            "SPECTER_RETRY_BACKOFF_MAX": "2",
            "SPECTER_TIMEOUT": "20",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


class Processes:
    """Every process started for the test, its output kept in a file, stopped at the end."""

    def __init__(self, tmp_path: Path, env: dict[str, str]):
        self.tmp_path, self.env = tmp_path, env
        self.logs: dict[str, Path] = {}
        self.long: list[subprocess.Popen] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = self.tmp_path / f"{name}.log"
        self.logs[name] = log
        with open(log, "w") as out:
            return subprocess.Popen([sys.executable, "-m", "flask", "--app", "example_shop", *args], env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def serve(self, name: str, *args: str) -> subprocess.Popen:
        proc = self.start(name, *args)
        self.long.append(proc)
        return proc

    def run(self, name: str, *args: str) -> int:
        return self.start(name, *args).wait(timeout=300)

    def output(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.long:
            proc.terminate()
        for proc in self.long:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _read(db_file: Path, sql: str) -> list[tuple]:
    """Read the shared file as one more process would (read-only, with patience for a writer)."""
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _shop_traffic(web_url: str, tag: str, errors: list[str], page_seconds: list[float]) -> None:
    """What customers and scripts do to the shop over HTTP during a round: new products and customers."""
    session = requests.Session()
    session.headers.update(API_HEADERS)

    def post(path: str, body: dict) -> None:
        resp = session.post(f"{web_url}{path}", json=body, timeout=120)
        if resp.status_code != 201:
            errors.append(f"POST {path}: {resp.status_code} {resp.text[:200]}")

    for i in range(PER_THREAD):
        post("/api/products", {"sku": f"NEW-{tag}-{i}", "name": f"Ny produkt {tag}-{i}", "price_excl_vat": "10.00", "stock": 3})
        post("/api/customers", {"email": f"kund-{tag}-{i}@example.se", "first_name": "Åsa", "last_name": "Öberg"})
        began = time.monotonic()
        page = session.get(f"{web_url}/", timeout=120)
        page_seconds.append(time.monotonic() - began)
        if page.status_code != 200:
            errors.append(f"GET /: {page.status_code}")


def _specter_changes(sandbox, web_url: str, round_no: int, errors: list[str]) -> None:
    """Changes in Specter during a round, and Specter calling the shop about the stock (over HTTP)."""
    for start in range(0, ARTICLES, 100):
        sandbox.hooks.adjust_stock_bulk([{"articleNo": f"SQ-{i}", "inStock": 100 + round_no * 10 + i % 7} for i in range(start, min(start + 100, ARTICLES))])
        resp = requests.get(f"{web_url}/specter/callback/stock?token={TOKEN}", timeout=120)
        if resp.status_code != 200:
            errors.append(f"stock callback: {resp.status_code} {resp.text[:200]}")
    for i in range(round_no, ARTICLES, 7):  # for this round's import-articles
        sandbox.hooks.change_price(f"SQ-{i}", f"{20 + round_no}.00", name=f"Artikel {i} v{round_no}")


def _converged(db_file: Path, sandbox) -> bool:
    want = {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"] if a["articleNo"].startswith("SQ-")}
    have = dict(_read(db_file, "SELECT sku, stock FROM product WHERE sku LIKE 'SQ-%'"))
    unsent = _read(db_file, "SELECT count(*) FROM specter_outbox WHERE state <> 'sent'")[0][0]
    return have == want and unsent == 0


def test_shop_worker_and_cli_write_one_sqlite_file_at_once_without_locking_errors(tmp_path, sandbox):
    redis_url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    db_file = tmp_path / "shared.sqlite3"
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    procs = Processes(tmp_path, _env(db_file, sandbox, web_url, redis_url))
    sandbox.hooks.create_articles([{"articleNo": f"SQ-{i}", "name": f"Artikel {i}", "priceExclVat": "20.00", "vatPercent": 25, "inStock": 50} for i in range(ARTICLES)])
    try:
        assert procs.run("setup", "specter", "settings", "set", "import_products", "on") == 0, procs.output("setup")
        procs.serve("web", "run", "--port", str(port), "--no-reload", "--no-debugger", "--with-threads")
        wait_until(lambda: _up(web_url), timeout=60, message="the shop to answer")
        if redis_url:
            procs.serve("worker", "specter", "worker")
        assert procs.run("activate", "specter", "activate") == 0, procs.output("activate")
        sandbox.hooks.configure(callbacksEnabled=False)  # the test calls the stock callback itself; articles only by the CLI

        codes: dict[str, int] = {}
        errors: list[str] = []
        page_seconds: list[float] = []  # how long the shop's front page took during the rounds (printed)
        for round_no in range(ROUNDS):
            commands = {f"import-{round_no}": "import-articles", f"sync-{round_no}": "sync-stock", f"drain-{round_no}": "drain"}
            started = {name: procs.start(name, "specter", cmd) for name, cmd in commands.items()}
            with ThreadPoolExecutor(THREADS + 1) as pool:
                jobs = [pool.submit(_shop_traffic, web_url, f"{round_no}-{t}", errors, page_seconds) for t in range(THREADS)]
                jobs.append(pool.submit(_specter_changes, sandbox, web_url, round_no, errors))
                for job in jobs:
                    job.result(timeout=300)
            for name, proc in started.items():
                codes[name] = proc.wait(timeout=300)

        wait_until(lambda: _converged(db_file, sandbox), timeout=240, interval=1, message="stock and outbox to settle")
    finally:
        procs.stop()

    pages = sorted(page_seconds)
    print(f"front page during the rounds: {len(pages)} loads, median {pages[len(pages) // 2]:.3f}s, max {pages[-1]:.3f}s")
    report = {name: procs.output(name) for name in procs.logs}
    fatal = {name: [line for line in out.splitlines() if any(f in line for f in FATAL)][:5] for name, out in report.items()}
    assert {name: lines for name, lines in fatal.items() if lines} == {}
    # drain exits 1 while a row waits for one the worker is sending (it says so); anything else is a crash
    crashed = {name: code for name, code in codes.items() if code != 0 and not (name.startswith("drain") and code == 1)}
    assert crashed == {}, {name: report[name][-2000:] for name in crashed}
    assert errors == []
    new = {sku for (sku,) in _read(db_file, "SELECT sku FROM product WHERE sku LIKE 'NEW-%'")}
    assert new == {f"NEW-{r}-{t}-{i}" for r in range(ROUNDS) for t in range(THREADS) for i in range(PER_THREAD)}
    in_specter = {a["articleNo"] for a in sandbox.hooks.state()["articles"]}
    assert new <= in_specter
    assert _read(db_file, "SELECT count(*) FROM customer WHERE email LIKE 'kund-%'")[0][0] == ROUNDS * THREADS * PER_THREAD


def _up(url: str) -> bool:
    try:
        return requests.get(url + "/", timeout=2).status_code == 200
    except requests.RequestException:
        time.sleep(0.2)
        return False


