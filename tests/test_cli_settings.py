"""``flask specter settings``: the admin toggles listed and changed from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flask_specter.settings import TOGGLES

ROOT = Path(__file__).resolve().parent.parent


def _stored(app) -> dict[str, bool]:
    with app.app_context():
        return app.extensions["specter"].settings.all()


def test_settings_lists_every_toggle_with_label_value_and_default(make_shop):
    app = make_shop()
    with app.app_context():
        app.extensions["specter"].settings.set("delete_orders", True)
    result = app.test_cli_runner().invoke(args=["specter", "settings"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert set(lines) == {t.key for t in TOGGLES}
    for t in TOGGLES:
        assert t.label in lines[t.key]
    assert lines["delete_orders"].split()[1:3] == ["on", "off"] and "(changed)" in lines["delete_orders"]
    assert lines["stock_sync"].split()[1:3] == ["on", "on"] and "(changed)" not in lines["stock_sync"]
    assert lines["import_products"].split()[1:3] == ["off", "off"]


@pytest.mark.parametrize(("word", "expected"), [("on", True), ("ON", True), ("true", True), ("off", False), ("0", False)])
def test_settings_set_changes_one_toggle_and_nothing_else(make_shop, word, expected):
    app = make_shop()
    before = _stored(app)
    key = "send_order_mail" if expected else "stock_sync"
    result = app.test_cli_runner().invoke(args=["specter", "settings", "set", key, word])
    assert result.exit_code == 0, result.output
    after = _stored(app)
    assert after[key] is expected
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
    assert f"{key} (" in result.output and "-> " + ("on" if expected else "off") in result.output


def test_an_unknown_key_is_refused_with_the_valid_keys_and_changes_nothing(make_shop):
    app = make_shop()
    before = _stored(app)
    result = app.test_cli_runner().invoke(args=["specter", "settings", "set", "delete_order", "on"])
    assert result.exit_code == 2
    assert "unknown setting 'delete_order'" in result.output
    for t in TOGGLES:
        assert t.key in result.output
    assert _stored(app) == before


def test_a_bad_value_is_refused_and_changes_nothing(make_shop):
    app = make_shop()
    before = _stored(app)
    result = app.test_cli_runner().invoke(args=["specter", "settings", "set", "delete_orders", "maybe"])
    assert result.exit_code == 2
    assert "'maybe' is not a value for delete_orders: use on or off" in result.output
    assert _stored(app) == before


def _flask(args: list[str], shop_config: dict) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": shop_config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test-secret",
        "SPECTER_EMBEDDED_WORKER": "false",
    }
    env.pop("REDIS_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "example_shop", "specter", *args]
    return subprocess.run(flask, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_deploy_script_sets_and_lists_toggles_in_a_real_process(make_shop, shop_config):
    app = make_shop()  # makes the tables, like the shop that already runs
    changed = _flask(["settings", "set", "import_products", "on"], shop_config)
    assert changed.returncode == 0, changed.stderr
    listed = _flask(["settings"], shop_config)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("import_products "))
    assert line.split()[1:3] == ["on", "off"] and "Importera produkter från Specter" in line
    assert _stored(app)["import_products"] is True  # the shop's own process sees it
    typo = _flask(["settings", "set", "import_product", "on"], shop_config)
    assert typo.returncode != 0 and "import_products" in typo.stderr
