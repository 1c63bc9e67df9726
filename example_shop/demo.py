"""``python -m example_shop.demo``: the sandbox Specter and the example shop, joined, on one machine.

Starts both as subprocesses with one shared environment (demo credentials, a fresh callback token and
API token per run, SQLite files under ``var/``, the embedded queue), seeds both sides, activates the
callbacks and prints where to look (with the API token). Ctrl-C stops both. Demo values are forced, never inherited: a demo must not talk
to a real Specter account because ``SPECTER_API_URL`` happened to be set in the shell.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEMO_CREDENTIALS = {
    "SPECTER_SBM_ID": "4711",
    "SPECTER_API_USER_ID": "1",
    "SPECTER_USER_KEY": "demo-user-key",
    "SPECTER_INTEGRATION_KEY": "demo-integration-key",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m example_shop.demo", description=__doc__.splitlines()[0])
    p.add_argument("--shop-port", type=int, default=5000)
    p.add_argument("--sandbox-port", type=int, default=5001)
    p.add_argument("--no-seed", action="store_true", help="do not add demo products and customers to shop and sandbox")
    p.add_argument("--var", default="var", help="directory for the two SQLite files (default ./var)")
    return p.parse_args(argv)


def demo_env(shop_port: int, sandbox_port: int, var: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment both processes share."""
    env = dict(os.environ if base is None else base)
    for key in ("REDIS_URL", "SPECTER_REDIS_URL", "SHOP_API_TOKEN"):
        env.pop(key, None)
    env.update(DEMO_CREDENTIALS)
    env.update(
        {
            "SPECTER_API_URL": f"http://127.0.0.1:{sandbox_port}/",
            "SPECTER_CALLBACK_TOKEN": secrets.token_urlsafe(24),
            "SHOP_API_TOKEN": secrets.token_urlsafe(24),  # the JSON API is closed without one
            "SPECTER_PUBLIC_URL": f"http://127.0.0.1:{shop_port}",
            "SHOP_DEMO": "1",
            "DATABASE_URL": "sqlite:///" + str(var / "demo-shop.sqlite3"),
            "SECRET_KEY": env.get("SECRET_KEY") or secrets.token_hex(32),
            "PYTHONPATH": os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# What a second terminal needs for ``flask specter ...`` against the running demo (SPECTER_* added as set).
CLI_KEYS = ("FLASK_APP", "SHOP_DEMO", "DATABASE_URL", "REDIS_URL")


def cli_env_lines(env: dict[str, str]) -> list[str]:
    """Shell lines that give another terminal the demo's shop: its database, Specter (the sandbox), the
    callback token (so ``flask specter activate`` keeps the shop's URLs working) and SHOP_DEMO (no
    SECRET_KEY needed by a command). Secrets of the web process alone (SECRET_KEY) are left out."""
    values = {"FLASK_APP": "example_shop", **env}
    keys = [k for k in CLI_KEYS if values.get(k)] + sorted(k for k in values if k.startswith("SPECTER_") and values[k])
    return [f"cd {shlex.quote(str(PACKAGE_ROOT))}"] + [f"export {k}={shlex.quote(values[k])}" for k in keys]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_http(url: str, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with code {proc.returncode} before it answered; see its output above")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not answer on {url} within {timeout:.0f}s")


def flask_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "example_shop", *args]


def seed_sandbox(sandbox_url: str) -> str:
    """Give the sandbox the shop's demo articles with the same stock, unless it has articles already."""
    from flask_specter.sandbox.testing import SandboxHooks

    from .seed import sandbox_articles

    hooks = SandboxHooks(sandbox_url)
    if hooks.state().get("articles"):
        return "sandbox already has articles: left as they are"
    hooks.create_articles(sandbox_articles())
    return f"sandbox seeded with {len(sandbox_articles())} articles"


def stop_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for port, what in ((args.shop_port, "--shop-port"), (args.sandbox_port, "--sandbox-port")):
        if not port_free(port):
            print(f"Port {port} is in use: stop what runs there or pick another with {what}.", file=sys.stderr)
            return 2
    var = Path(args.var).resolve()
    var.mkdir(parents=True, exist_ok=True)
    env = demo_env(args.shop_port, args.sandbox_port, var)
    sandbox_url = env["SPECTER_API_URL"]
    shop_url = f"http://127.0.0.1:{args.shop_port}/"
    procs: list[subprocess.Popen] = []

    def _terminate(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        sandbox_db = str(var / "demo-sandbox.sqlite3")
        procs.append(
            subprocess.Popen([sys.executable, "-m", "flask_specter.sandbox", "--port", str(args.sandbox_port), "--db", sandbox_db], env=env)
        )
        wait_http(sandbox_url + "_sandbox/ping", procs[0], "The sandbox")
        if not args.no_seed:
            subprocess.run(flask_cmd("seed"), env=env, check=True)
            print(seed_sandbox(sandbox_url), flush=True)
        procs.append(subprocess.Popen(flask_cmd("run", "--host", "127.0.0.1", "--port", str(args.shop_port), "--no-reload"), env=env))
        wait_http(shop_url + "api/products", procs[1], "The shop")
        activated = subprocess.run(flask_cmd("specter", "activate", "--create-service-articles"), env=env).returncode == 0
        admin_user = env.get("SHOP_ADMIN_USER") if env.get("SHOP_ADMIN_PASSWORD") else None
        login = f"user {admin_user!r} (your SHOP_ADMIN_PASSWORD)" if admin_user else "admin / admin"
        print(
            "\n"
            f"  Shop:            {shop_url}\n"
            f"  Admin:           {shop_url}admin/   (log in: {login})\n"
            f"  JSON API:        {shop_url}api/   (Authorization: Bearer {env['SHOP_API_TOKEN']})\n"
            f"  Specter sandbox: {sandbox_url}   (Butikskassa: sell, receive goods, deliver orders; JSON: {sandbox_url}_sandbox/state)\n"
            f"  Callbacks:       {'registered with the sandbox' if activated else 'NOT registered: flask --app example_shop specter activate failed (see above)'}\n"
            f"  Data:            {var}\n"
            "\n  flask specter ... against this demo, from another terminal (then e.g. flask specter status):\n"
            + "".join(f"    {line}\n" for line in cli_env_lines(env))
            + "\n  Ctrl-C stops both.\n",
            flush=True,
        )
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
        dead = next(proc for proc in procs if proc.poll() is not None)
        print(f"A demo process exited with code {dead.returncode}; stopping the other.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping shop and sandbox…", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"{' '.join(exc.cmd[2:])} failed with code {exc.returncode}", file=sys.stderr)
        return 1
    finally:
        stop_all(procs)


if __name__ == "__main__":
    sys.exit(main())
