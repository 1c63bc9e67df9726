"""Issue 25 §8: the sandbox is a development tool and behaves as one: loopback by default, a Host check
against DNS rebinding, JSON-only hook POSTs, a deeply nested body refused with 400 (the callback token
hidden in ``/_sandbox/state``: test_sandbox.py, the callbacks test)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from flask_specter.sandbox.__main__ import main
from flask_specter.sandbox.guard import host_allowed, is_loopback
from flask_specter.sandbox.testing import SandboxServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SandboxServer(db_path=tmp_path_factory.mktemp("guard") / "sandbox.sqlite3") as srv:
        yield srv


@pytest.fixture
def sb(server):
    server.hooks.reset()
    server.hooks.create_articles([{"articleNo": "A-0", "name": "Kaffe", "priceExclVat": "10", "vatPercent": 25, "inStock": 10}])
    return server


def test_help_says_development_only_and_no_authentication():
    out = subprocess.run([sys.executable, "-m", "flask_specter.sandbox", "--help"], capture_output=True, text=True, timeout=30,
                         env={**os.environ}).stdout
    assert "development and tests only" in out and "no authentication" in out and "--allow-remote" in out


def test_a_non_loopback_address_is_refused_without_the_explicit_flag(capsys):
    assert main(["--host", "0.0.0.0", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "Refusing to bind 0.0.0.0" in err and "--allow-remote" in err
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and not is_loopback("0.0.0.0")


def test_the_host_header_must_be_loopback_on_this_port_or_allowed():
    assert host_allowed("127.0.0.1:8099", "8099") and host_allowed("localhost:8099", "8099") and host_allowed("[::1]:8099", "8099")
    assert host_allowed("localhost", "80")
    assert not host_allowed("evil.example:8099", "8099")  # DNS rebinding: the attacker's name, our port
    assert not host_allowed("127.0.0.1:8100", "8099")
    assert not host_allowed("", "8099")
    assert host_allowed("sandbox:8099", "8099", ["sandbox"]) and host_allowed("sandbox:8099", "8099", ["sandbox:8099"])


def test_a_rebound_name_gets_nothing_from_the_page_or_the_hooks(sb):
    rebound = {"Host": f"evil.example:{sb.port}"}
    assert requests.get(f"{sb.url}_sandbox/state", headers=rebound, timeout=10).status_code == 403
    assert requests.get(sb.url, headers=rebound, timeout=10).status_code == 403
    assert requests.post(f"{sb.url}_sandbox/pos-sale", json={"articleNo": "A-0", "qty": 1}, headers=rebound, timeout=10).status_code == 403
    assert sb.hooks.article("A-0")["inStock"] == 10
    assert requests.get(f"{sb.url}_sandbox/state", headers={"Host": f"localhost:{sb.port}"}, timeout=10).status_code == 200


def test_hook_posts_are_accepted_only_as_json(sb):
    body = '{"articleNo": "A-0", "qty": 1}'
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": ctype} if ctype else {}
        resp = requests.post(f"{sb.url}_sandbox/pos-sale", data=body, headers=headers, timeout=10)
        assert resp.status_code == 415, ctype
        assert "JSON" in resp.json()["error"]
    assert requests.post(f"{sb.url}_sandbox/reset", timeout=10).status_code == 415
    assert sb.hooks.article("A-0")["inStock"] == 10
    assert requests.post(f"{sb.url}_sandbox/pos-sale", data=body, headers={"Content-Type": "application/json"}, timeout=10).status_code == 200


def test_a_deeply_nested_body_is_a_400(sb):
    deep = "[" * 50_000 + "]" * 50_000
    resp = requests.post(f"{sb.url}_sandbox/pos-sale", data=deep, headers={"Content-Type": "application/json"}, timeout=30)
    assert resp.status_code == 400 and "JSON object" in resp.json()["error"]
    assert sb.hooks.ping()
