"""Shared by bench/memory.py and bench/latency.py: a shop and a sandbox seeded with N articles, and
``flask specter worker`` in its own process (as production runs it), with its process tree read from /proc.

Not a benchmark itself. BENCH_DATABASE_URL / BENCH_REDIS_URL choose the PostgreSQL database (its schema
is dropped) and the Redis database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from common import PG_URL, REDIS_URL, ROOT, database_url, reachable, reset_pg  # noqa: F401  (the benches read them through this module)
from sqlalchemy import insert

TOKEN = "bench-token-0123456789"


def shop_config(db_url: str, sandbox: Any, **extra: Any) -> dict[str, Any]:
    """The shop's configuration, the same for the bench process and the worker process."""
    return {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SECRET_KEY": "bench",
        "SPECTER_CALLBACK_TOKEN": TOKEN,
        "SPECTER_PUBLIC_URL": "http://127.0.0.1:1",
        "SPECTER_QUEUE_NAME": f"bench-{uuid.uuid4().hex[:8]}",
        "SPECTER_EMBEDDED_WORKER": False,
        "SPECTER_TIMEOUT": 120.0,
        "REDIS_URL": REDIS_URL,
        "SPECTER_REDIS_URL": REDIS_URL,
        **sandbox.credentials,
        **extra,
    }


def make_app(config: dict[str, Any]) -> Any:
    from example_shop import create_app

    return create_app(dict(config))


def seed(app: Any, sandbox: Any, n: int, prefix: str = "B") -> list[str]:
    """N articles in Specter (pending in its stock feed) and the same N products in the shop, stock 0."""
    skus = [f"{prefix}-{i:06d}" for i in range(n)]
    for i in range(0, n, 20000):
        part = skus[i : i + 20000]
        sandbox.hooks.create_articles([{"articleNo": s, "name": s, "priceExclVat": "10.00", "vatPercent": 25, "inStock": 5 + j % 50} for j, s in enumerate(part, start=i)])
    with app.app_context():
        state = app.extensions["specter"]
        model = state.adapter.product_model
        for i in range(0, n, 20000):
            state.db.session.execute(insert(model), [{"sku": s, "name": s, "price_excl_vat": 10, "vat_percent": 25, "stock": 0, "active": True} for s in skus[i : i + 20000]])
        state.db.session.commit()
    return skus


def start_worker(config: dict[str, Any], *, fork: bool, code: str = ROOT, log_path: str = os.devnull) -> subprocess.Popen[bytes]:
    """``flask --app example_shop specter worker [--no-fork]`` with ``config`` in its environment; ``code``
    is the tree it imports flask_specter from (another checkout gives a before/after in one run)."""
    env = dict(os.environ)
    for key, value in config.items():
        if key.startswith("SPECTER_") and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            env[key] = str(value)
    env.update(DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=config["REDIS_URL"], SECRET_KEY="bench", PYTHONPATH=code)
    args = [sys.executable, "-m", "flask", "--app", "example_shop", "specter", "worker", *([] if fork else ["--no-fork"])]
    return subprocess.Popen(args, env=env, cwd=code, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(15)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for_worker(app: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with app.app_context():
        queue = app.extensions["specter"].queue
        while not queue.live_workers():
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not register with Redis")
            time.sleep(0.1)


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of ``pid`` in kB, from /proc."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the scheduler, the work horses)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def private_kb(pid: int) -> int:
    """Memory only ``pid`` holds (Private_Clean + Private_Dirty): for a forked work horse, what it added to
    the pages it shares with the worker it was forked from."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


class TreeWatch:
    """Polls a process tree: the peak of its summed RSS, each process's own peak (VmHWM), and the peak
    private memory of the processes started after the watch began (the work horses)."""

    def __init__(self, root: int):
        self.root = root
        self.tree_peak_kb = 0
        self.hwm_kb: dict[int, int] = {}
        self.horse_private_kb = 0
        self._known = set(descendants(root))
        for pid in self._known:  # forget the start-up's peak: from now on VmHWM is this run's
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass

    def rss_kb(self) -> int:
        return sum(status_kb(p).get("VmRSS", 0) for p in descendants(self.root))

    def sample(self) -> None:
        total = 0
        for pid in descendants(self.root):
            status = status_kb(pid)
            total += status.get("VmRSS", 0)
            if "VmHWM" in status:
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), status["VmHWM"])
            if pid not in self._known:
                self.horse_private_kb = max(self.horse_private_kb, private_kb(pid))
        self.tree_peak_kb = max(self.tree_peak_kb, total)
