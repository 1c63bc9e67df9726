"""The command line as an operator meets it: no SECRET_KEY noise outside the web process, an export that
stops at the first refused login with one message, progress lines in a log or a pipe, and a demo that
prints what another terminal needs for ``flask specter ...``."""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from flask_specter.models import ExportRun

from .conftest import free_port, wait_until

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
RANDOM_KEY = "SECRET_KEY is not set"


def _products(app, n):
    """Products that existed before the connector (no outbox rows)."""
    from example_shop.models import Product

    rows = [{"sku": f"P-{i:04d}", "name": f"Produkt {i}", "price_excl_vat": 100, "vat_percent": 25, "stock": 3, "active": True} for i in range(n)]
    with app.app_context():
        app.extensions["specter"].db.session.execute(insert(Product), rows)
        app.extensions["specter"].db.session.commit()


def _cli_env(app, **extra: str) -> dict[str, str]:
    """The environment of a ``flask --app example_shop ...`` process for the same shop as ``app``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPECTER_", "SHOP_", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FLASK_"))}
    keys = ("SPECTER_API_URL", "SPECTER_SBM_ID", "SPECTER_API_USER_ID", "SPECTER_USER_KEY", "SPECTER_INTEGRATION_KEY",
            "SPECTER_CALLBACK_TOKEN", "SPECTER_PUBLIC_URL", "SPECTER_QUEUE_NAME", "SPECTER_TIMEOUT")
    env.update({k: str(app.config[k]) for k in keys})
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], SPECTER_RETRY_BACKOFF="0.1",
               SECRET_KEY="cli-test-secret")
    if app.config.get("REDIS_URL"):
        env["REDIS_URL"] = app.config["REDIS_URL"]
    env.update(extra)
    return env


def _flask(env, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A command with its output on pipes, as in a log or a CI job (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "example_shop", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


# -- SECRET_KEY -------------------------------------------------------------------------------------


def test_a_random_demo_key_is_mentioned_by_the_web_process_only(make_shop, caplog):
    app = make_shop(SHOP_DEMO=True, SECRET_KEY=None)
    env = _cli_env(app, SHOP_DEMO="1")
    del env["SECRET_KEY"]
    status = _flask(env, "specter", "status")
    assert status.returncode == 0, status.stderr
    assert RANDOM_KEY not in status.stdout + status.stderr  # a command signs no session: nothing to say

    with caplog.at_level(logging.WARNING, logger="example_shop"):
        served = make_shop(SHOP_DEMO=True, SECRET_KEY=None)
        assert not [r for r in caplog.records if RANDOM_KEY in r.getMessage()]  # made, not serving yet
        with served.test_client() as c:
            c.get("/")
            c.get("/")
    assert len([r for r in caplog.records if RANDOM_KEY in r.getMessage()]) == 1  # once, at the first request

    port = free_port()  # flask run says it at start, before any request
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "example_shop", "run", "--port", str(port), "--no-reload"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Running on" in line:
                break
        assert any(RANDOM_KEY in line for line in lines), lines
    finally:
        proc.terminate()
        proc.wait(10)


# -- exports ----------------------------------------------------------------------------------------


def test_export_stops_at_the_first_refused_login_with_one_message(make_shop, sandbox):
    app = make_shop(SPECTER_USER_KEY="wrong-key")
    _products(app, 250)
    result = app.test_cli_runner().invoke(args=["specter", "export", "products"])
    assert result.exit_code == 1
    assert result.output.count("Specter nekade inloggningen") == 1, result.output
    assert "Exporten stoppades vid första nekade anropet" in result.output
    assert "0 of 250 handled, 0 failed." in result.output  # no row is blamed for the key
    [call] = sandbox.hooks.calls()  # one call, not one per row and page
    assert call["code"] == 10

    fixed = make_shop()  # the key fixed: the same command continues the run
    result = fixed.test_cli_runner().invoke(args=["specter", "export", "products"])
    assert result.exit_code == 0, result.output
    assert "250 of 250 handled, 0 failed." in result.output
    with fixed.app_context():
        assert [r.state for r in fixed.extensions["specter"].db.session.execute(select(ExportRun)).scalars()] == ["done"]


def test_customers_export_through_the_worker_stops_at_once_on_a_refused_login(make_shop, sandbox, live_worker):
    from example_shop.models import Customer
    from flask_specter.outbound.bulk_exports import progress, start_export

    app = make_shop(SPECTER_USER_KEY="wrong-key", SPECTER_PUSH_RETRIES=3)
    rows = [{"email": f"kund{i}@example.se", "first_name": "Test", "last_name": "Kund", "country": "SE"} for i in range(5)]
    with app.app_context():  # customers from before the connector: no outbox rows, only the export sends them
        app.extensions["specter"].db.session.execute(insert(Customer), rows)
        app.extensions["specter"].db.session.commit()
    with app.app_context():
        run_id = start_export("customers").id
    live_worker(app)

    def stopped():
        with app.app_context():
            run = app.extensions["specter"].db.session.get(ExportRun, run_id)
            return run.state == "failed" and progress(run)

    p = wait_until(stopped, timeout=30, message="the export to stop")
    assert "Specter nekade inloggningen" in p["error"] and p["failed"] == 0 and p["done"] == 0
    assert len(sandbox.hooks.calls()) == 1  # no RQ retries, no second customer


def test_export_progress_is_a_line_per_interval_when_the_output_is_a_pipe(make_shop, sandbox):
    app = make_shop()
    _products(app, 250)
    env = _cli_env(app)
    every_page = _flask(env, "specter", "export", "products", "--progress-every", "0")
    assert every_page.returncode == 0, every_page.stderr
    progress = [line for line in every_page.stdout.splitlines() if line.startswith("Produkter -> Specter: ")]
    assert progress == [f"Produkter -> Specter: {n} av 250 ({n * 100 // 250} %)" for n in (0, 100, 200, 250)]
    assert "250 of 250 handled, 0 failed." in every_page.stdout

    again = _flask(env, "specter", "export", "products", "--restart")  # default: every 5 s, so start and end here
    assert again.returncode == 0, again.stderr
    progress = [line for line in again.stdout.splitlines() if line.startswith("Produkter -> Specter: ")]
    assert progress == ["Produkter -> Specter: 0 av 250 (0 %)", "Produkter -> Specter: 250 av 250 (100 %)"]


# -- the demo ---------------------------------------------------------------------------------------


def test_the_demo_prints_the_environment_for_commands_and_it_works(running_demo):
    """The lines printed under "flask specter ..." are pasted into another terminal: the commands reach
    the demo's own shop database and its sandbox."""
    block = running_demo.wait_for_output(r"flask specter \.\.\. against this demo.*\n((?:    .+\n)+)").group(1)
    lines = [line.strip() for line in block.splitlines()]
    assert lines[0].startswith("cd ") and all(line.startswith("export ") for line in lines[1:])
    cwd = shlex.split(lines[0])[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPECTER_", "SHOP_", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FLASK_"))}
    for line in lines[1:]:
        name, value = shlex.split(line[len("export "):])[0].split("=", 1)
        env[name] = value
    assert {"FLASK_APP", "DATABASE_URL", "SHOP_DEMO", "SPECTER_API_URL", "SPECTER_CALLBACK_TOKEN"} <= set(env)
    assert env["SPECTER_API_URL"] == running_demo.sandbox_url + "/"
    running_demo.wait_for_output(r"Ctrl-C stops both")

    def flask(*args):
        return subprocess.run([sys.executable, "-m", "flask", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)

    status = flask("specter", "status")
    assert status.returncode == 0, status.stderr
    assert "queue: embedded (in-process)" in status.stdout and "feed stock:" in status.stdout
    assert RANDOM_KEY not in status.stderr
    seeded = flask("seed")  # the demo's own database: its products are there
    assert "already has products" in seeded.stdout, seeded.stdout + seeded.stderr
    synced = flask("specter", "sync-stock")  # and its Specter: the sandbox answers the demo's credentials
    assert synced.returncode == 0 and re.search(r"Fetched and confirmed \d+ stock rows", synced.stdout), synced.stdout + synced.stderr
