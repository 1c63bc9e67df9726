"""Benchmark (not a test): latency of the stock callback route under 200 concurrent connections, next to
a bare route on the same server in the same run.

    python bench/callback_latency.py [--seconds 5] [--connections 200]

Uses ``wrk`` when installed (Debian package), else a thread pool of ``requests`` sessions. The server runs
in its own process: gunicorn with 4 sync workers when installed, else waitress. Each callback does one
Redis SET NX (and at most one enqueue per pull), no database work.
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


def serve_forever(port: int) -> None:
    """The server process: the app under waitress (werkzeug's threaded server without it)."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app, _ = build_app()
    try:
        from waitress import serve

        serve(app, host="127.0.0.1", port=port, threads=16, connection_limit=1000, backlog=2048, _quiet=True)
    except ImportError:
        from werkzeug.serving import make_server

        make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def wsgi_app():
    """For gunicorn: ``gunicorn 'callback_latency:wsgi_app()'``."""
    return build_app()[0]


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
    for _ in range(100):
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



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever(args.serve)
        return
    proc, base, kind = start_server()
    try:
        callback = f"{base}/specter/callback/stock?token=bench-token-0123456789"
        print(f"server: {kind} in its own process; queue: {'Redis' if reachable(6379) else 'embedded'}")
        measure = with_wrk if shutil.which("wrk") else with_threads
        tool = "wrk -t2" if measure is with_wrk else "python threads"
        print(f"{'load':<30}{'route':<12}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
        for connections in sorted({16, args.connections}):
            for name, url in (("bare", f"{base}/bench-ping"), ("callback", callback)):
                p50, p99, rps = measure(url, args.seconds, connections)
                print(f"{f'{tool} -c{connections} {args.seconds}s':<30}{name:<12}{p50:>9.2f}{p99:>9.2f}{rps:>9.0f}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
