"""Benchmark (not a test): latency of the stock callback route under 200 concurrent connections, next to
a bare route on the same server in the same run.

    python bench/callback_latency.py [--seconds 5] [--connections 200]

Uses ``wrk`` when installed (Debian package), else a thread pool of ``requests`` sessions. The server is
waitress when installed, else werkzeug's threaded server; each callback does a Redis SET NX (and at most
one enqueue per pull), no database work.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def build_app():
    from example_shop import create_app

    redis_url = "redis://127.0.0.1:6379/14" if reachable(6379) else None
    tmp = tempfile.mkdtemp(prefix="bench-cb-")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/shop.sqlite3",
            "SECRET_KEY": "bench",
            "SPECTER_API_URL": "http://127.0.0.1:9/",
            "SPECTER_SBM_ID": "1", "SPECTER_API_USER_ID": "1", "SPECTER_USER_KEY": "k", "SPECTER_INTEGRATION_KEY": "i",
            "SPECTER_CALLBACK_TOKEN": "bench-token-0123456789",
            "SPECTER_QUEUE_NAME": f"bench-{uuid.uuid4().hex[:8]}",
            "SPECTER_EMBEDDED_WORKER": False,
            "REDIS_URL": redis_url,
            "SPECTER_REDIS_URL": redis_url,
        }
    )

    @app.get("/bench-ping")
    def ping():
        return "OK"

    return app, redis_url


def serve(app) -> tuple[str, str]:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    try:
        from waitress import create_server

        server = create_server(app, host="127.0.0.1", port=number, threads=8, connection_limit=400, backlog=1024)
        threading.Thread(target=server.run, daemon=True).start()
        kind = "waitress (8 threads)"
    except ImportError:
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", number, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        kind = "werkzeug threaded"
    time.sleep(0.3)
    return f"http://127.0.0.1:{number}", kind


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()
    app, redis_url = build_app()
    base, kind = serve(app)
    measure = with_wrk if shutil.which("wrk") else with_threads
    print(f"server: {kind}; load: {'wrk -t2' if measure is with_wrk else 'python threads'} -c{args.connections} {args.seconds}s; queue: {redis_url or 'embedded'}")
    bare = measure(f"{base}/bench-ping", args.seconds, args.connections)
    cb = measure(f"{base}/specter/callback/stock?token=bench-token-0123456789", args.seconds, args.connections)
    print(f"{'route':<22}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    print(f"{'bare /bench-ping':<22}{bare[0]:>9.2f}{bare[1]:>9.2f}{bare[2]:>9.0f}")
    print(f"{'/callback/stock':<22}{cb[0]:>9.2f}{cb[1]:>9.2f}{cb[2]:>9.0f}")
    print(f"ratio p99 callback/bare: {cb[1] / bare[1]:.2f}x")
    queue = app.extensions["specter"].queue.queue
    print(f"pull jobs queued by all those callbacks: {queue.count}")


if __name__ == "__main__":
    main()
