"""Test helpers for shops that use flask_specter: a real sandbox server and its ``/_sandbox/`` hooks.

Like flask-mail's ``record_messages``, this lets a test assert what reached Specter::

    with SandboxServer() as specter:
        app.config.update(specter.credentials)
        specter.hooks.create_articles([{"articleNo": "A1", "name": "Kaffe", "inStock": 5}])
        ...
        assert specter.hooks.state()["orders"][0]["externalOrderNo"] == "1001"
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

import requests
from werkzeug.serving import BaseWSGIServer

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class SandboxHooks:
    """A thin client for the sandbox's ``/_sandbox/`` JSON routes (what a person does inside Specter)."""

    def __init__(self, url: str, *, timeout: float = 30.0):
        self.base = url.rstrip("/") + "/_sandbox/"
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, payload: Any = None, **params: Any) -> Any:
        if method == "POST" and payload is None:
            payload = {}  # the hooks take POSTs only as JSON
        resp = self.session.request(method, self.base + path, json=payload, params=params or None, timeout=self.timeout)
        if resp.status_code >= 400:
            raise RuntimeError(f"sandbox {method} /_sandbox/{path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    # reads
    def ping(self) -> bool:
        return bool(self._call("GET", "ping").get("ok"))

    def state(self, *, articles: bool = True) -> dict[str, Any]:
        return cast("dict[str, Any]", self._call("GET", "state", **({} if articles else {"articles": "0"})))

    def article(self, article_no: str) -> dict[str, Any]:
        return cast("dict[str, Any]", self._call("GET", f"articles/{article_no}")["article"])

    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self._call("GET", "calls", **({"action": action} if action else {}))["calls"])

    # changes made inside Specter
    def create_articles(self, articles: list[dict[str, Any]]) -> dict[str, Any]:
        return cast("dict[str, Any]", self._call("POST", "articles", {"articles": articles}))

    def add_stock_site(self, stock_site_id: int, name: str) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self._call("POST", "stock-sites", {"stockSiteId": stock_site_id, "name": name})["stockSites"])

    def pos_sale(self, article_no: str, qty: int, stock_site_id: int | None = None) -> dict[str, Any]:
        return cast("dict[str, Any]", self._call("POST", "pos-sale", _drop_none(articleNo=article_no, qty=qty, stockSiteId=stock_site_id))["article"])

    def goods_received(self, article_no: str, qty: int, stock_site_id: int | None = None) -> dict[str, Any]:
        payload = _drop_none(articleNo=article_no, qty=qty, stockSiteId=stock_site_id)
        return cast("dict[str, Any]", self._call("POST", "goods-received", payload)["article"])

    def adjust_stock(self, article_no: str, in_stock: int, stock_site_id: int | None = None) -> dict[str, Any]:
        payload = _drop_none(articleNo=article_no, inStock=in_stock, stockSiteId=stock_site_id)
        return cast("dict[str, Any]", self._call("POST", "stock-adjustment", payload)["article"])

    def adjust_stock_bulk(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return cast("dict[str, Any]", self._call("POST", "stock-adjustment", {"items": items}))

    def change_price(self, article_no: str, price_excl_vat: Any = None, **fields: Any) -> dict[str, Any]:
        """Change price and/or ``name``, ``buyPrice``, ``barCode``, ``articleGroupNo``, ``articleGroupName``."""
        payload = _drop_none(articleNo=article_no, **fields)
        if price_excl_vat is not None:
            payload["priceExclVat"] = price_excl_vat
        return cast("dict[str, Any]", self._call("POST", "price-change", payload)["article"])

    def remove_article(self, article_no: str) -> dict[str, Any]:
        return cast("dict[str, Any]", self._call("POST", "article-removal", {"articleNo": article_no})["article"])

    def set_order_status(self, order_no: Any, status_id: int, delivery_status: str | None = None) -> dict[str, Any]:
        payload = _drop_none(orderNo=order_no, statusId=status_id, deliveryStatus=delivery_status)
        return cast("dict[str, Any]", self._call("POST", "order-status", payload)["order"])

    def deliver_order(self, order_no: Any, tracking_no: str = "") -> dict[str, Any]:
        return cast("dict[str, Any]", self._call("POST", "order-delivery", {"orderNo": order_no, "trackingNo": tracking_no})["order"])

    def remove_order(self, order_no: Any) -> dict[str, Any]:
        return cast("dict[str, Any]", self._call("POST", "order-removal", {"orderNo": order_no})["order"])

    def invoice_order(self, order_no: Any, invoice_id: str | None = None, invoice_source: str | None = None) -> dict[str, Any]:
        payload = _drop_none(orderNo=order_no, invoiceId=invoice_id, invoiceSource=invoice_source)
        return cast("dict[str, Any]", self._call("POST", "invoice", payload))

    def set_customer_fields(self, customer_id: Any, **fields: Any) -> dict[str, Any]:
        """Specter-only fields: ``priority``, ``responsibleSalesperson``."""
        return cast("dict[str, Any]", self._call("POST", "customer-fields", {"customerId": customer_id, **fields})["customer"])

    # test controls
    def fault(self, action: str, mode: str, count: int = 1, **kw: Any) -> list[dict[str, Any]]:
        """Arm a fault for the next ``count`` calls of ``action`` ('*' = any); kw: status, seconds, body."""
        return cast("list[dict[str, Any]]", self._call("POST", "faults", {"action": action, "mode": mode, "count": count, **kw})["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """responseMaxLimit, callbackRetries, callbackBackoff, callbackTimeout, callbacksEnabled, ..."""
        return cast("dict[str, Any]", self._call("POST", "config", settings)["config"])

    def reset(self) -> None:
        self._call("POST", "reset")

    def wait_callbacks(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until no callback is scheduled or in flight; returns the callback log."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(articles=False)
            if state["callbacksIdle"] or time.monotonic() > deadline:
                return cast("list[dict[str, Any]]", state["callbackLog"])
            time.sleep(0.05)


def _drop_none(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


class SandboxServer:
    """Starts the sandbox (a subprocess by default) on a free port with its own database.

    ``url`` is what a shop sets as ``SPECTER_API_URL``; ``credentials`` holds that URL and the four
    ``SPECTER_*`` credentials; ``restart()`` keeps the database, so tests can check that state survives.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        db_path: str | os.PathLike[str] | None = None,
        db: str | os.PathLike[str] | None = None,
        sbm_id: str = "4711",
        api_user_id: str = "1",
        user_key: str = "sandbox-user-key",
        integration_key: str = "sandbox-integration-key",
        response_max_limit: int = 1000,
        callback_retries: int = 3,
        callback_backoff: float = 0.2,
        callback_timeout: float = 5.0,
        in_process: bool = False,
        startup_timeout: float = 20.0,
    ):
        self.host = host
        self.port = port or free_port(host)
        db = db_path or db
        self._tmpdir = None if db else tempfile.mkdtemp(prefix="specter-sandbox-")
        self.db = os.path.join(self._tmpdir, "sandbox.sqlite3") if self._tmpdir else str(db)
        self.url = f"http://{host}:{self.port}/"
        # What a shop needs to reach this sandbox: the URL plus the four credentials.
        self.credentials = {
            "SPECTER_API_URL": self.url,
            "SPECTER_SBM_ID": str(sbm_id),
            "SPECTER_API_USER_ID": str(api_user_id),
            "SPECTER_USER_KEY": user_key,
            "SPECTER_INTEGRATION_KEY": integration_key,
        }
        self.settings = {
            "SANDBOX_RESPONSE_MAX_LIMIT": response_max_limit,
            "SANDBOX_CALLBACK_RETRIES": callback_retries,
            "SANDBOX_CALLBACK_BACKOFF": callback_backoff,
            "SANDBOX_CALLBACK_TIMEOUT": callback_timeout,
        }
        self.in_process = in_process
        self.startup_timeout = startup_timeout
        self.hooks = SandboxHooks(self.url)
        self.log_path = self.db + ".log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        if self.in_process:
            self._start_thread()
        else:
            self._start_process()
        self._wait_ready()
        return self

    def _start_process(self) -> None:
        c = self.credentials
        cmd = [
            sys.executable, "-m", "flask_specter.sandbox", "--host", self.host, "--port", str(self.port),
            "--db", self.db, "--sbm-id", c["SPECTER_SBM_ID"], "--api-user-id", c["SPECTER_API_USER_ID"],
            "--user-key", c["SPECTER_USER_KEY"], "--integration-key", c["SPECTER_INTEGRATION_KEY"],
            "--response-max-limit", str(self.settings["SANDBOX_RESPONSE_MAX_LIMIT"]),
            "--callback-retries", str(self.settings["SANDBOX_CALLBACK_RETRIES"]),
            "--callback-backoff", str(self.settings["SANDBOX_CALLBACK_BACKOFF"]),
            "--callback-timeout", str(self.settings["SANDBOX_CALLBACK_TIMEOUT"]),
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    def _start_thread(self) -> None:
        from .app import create_app
        from .serving import serve

        app = create_app({**self.credentials, **self.settings, "SANDBOX_DB": self.db})
        self._server = serve(app, self.host, self.port)
        self._app = app
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="specter-sandbox")
        self._thread.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"sandbox exited with {self._proc.returncode}:\n{self._log_tail()}")
            try:
                if requests.get(self.url + "_sandbox/ping", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"sandbox did not answer on {self.url} within {self.startup_timeout}s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop gracefully (SIGTERM); the database stays for ``restart()``."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._server is not None:
            from .state import EXTENSION_KEY

            self._server.shutdown()
            self._server.server_close()
            self._app.extensions[EXTENSION_KEY].close()
            self._server = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL for a subprocess), as a crash would."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        self.stop()

    def restart(self) -> SandboxServer:
        """Stop and start again on the same port and database."""
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
