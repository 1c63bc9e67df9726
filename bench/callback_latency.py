"""Benchmark (not a test): a storm of Specter's stock callbacks under wrk, next to a bare route on the same
gunicorn server in the same run, at 16 and at 200 connections.

    python bench/callback_latency.py [--seconds 5] [--rounds 7] [--databases sqlite,postgresql] [--quick]
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/other BENCH_REDIS_URL=redis://127.0.0.1:6379/9 python bench/callback_latency.py

The shop runs in its own process: gunicorn with 4 sync workers (waitress when gunicorn is missing), all
workers on one database and one queue, as in production; no RQ worker runs, so the storm's pull stays
queued. Load: ``wrk`` when installed (Debian package), else a thread pool of ``requests`` sessions.
Bare and callback alternate, ``--rounds`` times per load; each figure is the median over the rounds,
and the p99 ratio the median of each round's callback run over the bare run just before it (the
machine is shared: a pair runs under the same noise; every pair's ratio is printed). Printed per load: p50, p99,
req/s, the p99 ratio callback / bare, and the server's CPU time per request (µs, from /proc: what the
route costs, whatever else the machine runs), and afterwards how many pull jobs the whole storm queued.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from common import REDIS_URL, database_url, reachable

TOKEN = "bench-token-0123456789"


def build_app():
    """The shop as every server process builds it: database and queue name from the environment the
    parent set (``BENCH_CB_DB``, ``BENCH_CB_QUEUE``), so all workers share them."""
    from example_shop import create_app

    redis_url = REDIS_URL if reachable(6379) else None
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": os.environ["BENCH_CB_DB"],
            "SECRET_KEY": "bench",
            "SPECTER_API_URL": "http://127.0.0.1:9/",
            "SPECTER_SBM_ID": "1", "SPECTER_API_USER_ID": "1", "SPECTER_USER_KEY": "k", "SPECTER_INTEGRATION_KEY": "i",
            "SPECTER_CALLBACK_TOKEN": TOKEN,
            "SPECTER_QUEUE_NAME": os.environ["BENCH_CB_QUEUE"],
            "SPECTER_EMBEDDED_WORKER": False,
            "REDIS_URL": redis_url,
            "SPECTER_REDIS_URL": redis_url,
        }
    )

    @app.get("/bench-ping")
    def ping():
        return "OK"

    return app


def serve_forever(port: int) -> None:
    """The server process without gunicorn: the app under waitress (werkzeug's threaded server without it)."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = build_app()
    try:
        from waitress import serve

        serve(app, host="127.0.0.1", port=port, threads=16, connection_limit=1000, backlog=2048, _quiet=True)
    except ImportError:
        from werkzeug.serving import make_server

        make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def wsgi_app():
    """For gunicorn: ``gunicorn 'callback_latency:wsgi_app()'``."""
    return build_app()


def start_server() -> tuple[subprocess.Popen, str, str]:
    """gunicorn with 4 sync workers (the usual production set-up) when installed, else waitress."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which("gunicorn")
    if gunicorn:
        here = os.path.dirname(os.path.abspath(__file__))
        cmd = [gunicorn, "-w", "4", "-b", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning", "--chdir", here, "callback_latency:wsgi_app()"]
        kind = "gunicorn, 4 sync workers"
    else:
        cmd = [sys.executable, __file__, "--serve", str(port)]
        kind = "waitress, 16 threads"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(f"{url}/bench-ping", timeout=1)
            return proc, url, kind
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the bench server did not start")


def with_wrk(url: str, seconds: int, connections: int) -> tuple[float, float, float]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return ms("50"), ms("99"), rps


def with_threads(url: str, seconds: int, connections: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    def loop():
        s = requests.Session()
        while time.monotonic() < deadline:
            t = time.perf_counter()
            s.get(url, timeout=10)
            latencies.append((time.perf_counter() - t) * 1000)

    with ThreadPoolExecutor(connections) as pool:
        for _ in range(connections):
            pool.submit(loop)
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1], len(latencies) / seconds


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the server: its master and every worker (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


def prepare_database(kind: str, tmp: str) -> str:
    """A fresh database with the shop's tables (made once here, not by four workers at once)."""
    url = database_url(kind, tmp)
    os.environ["BENCH_CB_DB"] = url
    app = build_app()
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()
    return url


def pull_jobs() -> int | None:
    """How many pull jobs wait in the bench's queue (None on the embedded queue: each process has its own)."""
    if not reachable(6379):
        return None
    from redis import Redis
    from rq import Queue

    queue = Queue(os.environ["BENCH_CB_QUEUE"], connection=Redis.from_url(REDIS_URL))
    return sum(job.func_name.endswith("pulls.run_pull") for job in queue.get_jobs())


def drop_queue() -> None:
    if reachable(6379):
        from redis import Redis

        conn = Redis.from_url(REDIS_URL)
        for key in conn.scan_iter(f"*{os.environ['BENCH_CB_QUEUE']}*"):
            conn.delete(key)


def run(database: str, seconds: int, rounds: int, loads: list[int]) -> None:
    tmp = tempfile.mkdtemp(prefix="bench-cb-")
    os.environ["BENCH_CB_QUEUE"] = f"bench-cb-{uuid.uuid4().hex[:8]}"
    prepare_database(database, tmp)
    proc, base, kind = start_server()
    callback = f"{base}/specter/callback/stock?token={TOKEN}"
    measure = with_wrk if shutil.which("wrk") else with_threads
    tool = "wrk -t2" if measure is with_wrk else "python threads"
    try:
        print(f"\n{database}: {kind} in its own process; queue: {'Redis' if reachable(6379) else 'embedded'}; "
              f"{tool}, {seconds} s per run, median of {rounds} alternating rounds")
        print(f"{'connections':<13}{'route':<10}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'p99 / bare':>12}{'server CPU':>11}  per round")
        for connections in loads:
            figures: dict[str, list[tuple[float, ...]]] = {"bare": [], "callback": []}
            for _ in range(rounds):
                for name, url in (("bare", f"{base}/bench-ping"), ("callback", callback)):
                    cpu = server_cpu(proc.pid)
                    p50, p99, rps = measure(url, seconds, connections)
                    figures[name].append((p50, p99, rps, (server_cpu(proc.pid) - cpu) / (rps * seconds) * 1e6))
            medians = {name: [statistics.median(col) for col in zip(*runs, strict=True)] for name, runs in figures.items()}
            # Each round's callback run against the bare run just before it, under the same noise: the ratio
            # is the median of those pairs, and every pair is printed.
            pairs = [cb[1] / bare[1] for bare, cb in zip(figures["bare"], figures["callback"], strict=True)]
            for name, (p50, p99, rps, cpu_us) in medians.items():
                ratio = f"{statistics.median(pairs):.2f}x" if name == "callback" else ""
                runs = " ".join(f"{pair:.2f}" for pair in pairs) if name == "callback" else ""
                print(f"{connections:<13}{name:<10}{p50:>9.2f}{p99:>9.2f}{rps:>9.0f}{ratio:>12}{cpu_us:>11.0f}  {runs}")
        jobs = pull_jobs()
        if jobs is not None:
            print(f"pull jobs the whole storm queued (no worker runs): {jobs}")
    finally:
        proc.terminate()
        proc.wait(10)
        drop_queue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--connections", default="16,200", help="the loads, comma-separated")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s, SQLite only")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever(args.serve)
        return
    if args.quick:
        args.seconds, args.rounds, args.databases = 2, 1, "sqlite"
    loads = [int(c) for c in args.connections.split(",")]
    for database in args.databases.split(","):
        if database == "postgresql" and not reachable(5432):
            print("\npostgresql: skipped (nothing answers on 127.0.0.1:5432)")
            continue
        run(database, args.seconds, args.rounds, loads)


if __name__ == "__main__":
    main()
