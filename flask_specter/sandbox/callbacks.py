"""Specter's callbacks to the shop (contract §5): signals, coalesced, retried with back-off, logged.

Committed changes raise signals (callback parameter + placeholder values). The dispatcher thread waits
a short coalescing window, then calls each distinct URL once; a signal for a URL whose call is still in
flight makes one more call afterwards. A call succeeds on HTTP 200 within the timeout; otherwise it is
retried ``callbackRetries`` times with growing back-off and then dropped: the changes stay pending.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from .store import Signal, Store

PLACEHOLDERS = ("orderNo", "orderId", "invoiceId", "invoiceSource")
_TOKEN = re.compile(r"(token=)[^&\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """Hide the shop's callback secret in anything we log."""
    return _TOKEN.sub(r"\1***", text or "")


def substitute(url: str, values: Mapping[str, str]) -> str:
    """Fill ``$orderNo`` etc. (also the ``%24orderNo`` form) with the signal's values."""
    for name in PLACEHOLDERS:
        value = quote(str(values.get(name, "")), safe="")

        def replacement(_m: re.Match[str], v: str = value) -> str:
            return v

        url = re.sub(rf"(?:\$|%24){name}\b", replacement, url, flags=re.IGNORECASE)
    return url


class Dispatcher:
    """The thread that turns signals into HTTP calls to the registered URLs."""

    def __init__(self, store: Store, config: dict[str, Any]) -> None:
        self.store = store
        self.config = config
        self._cond = threading.Condition()
        self._wanted: dict[str, str] = {}  # url -> callback param, in arrival order
        self._inflight: set[str] = set()
        self._stopped = False
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="specter-sandbox-callbacks", daemon=True)
        self._thread.start()

    def notify(self, signals: Iterable[Signal]) -> None:
        """Called after a commit: schedule one call per distinct URL."""
        if not self.config["SANDBOX_CALLBACKS_ENABLED"]:
            return
        urls = self.store.get_meta("callbacks", {}) or {}
        with self._cond:
            for param, subs in signals:
                if urls.get(param):
                    self._wanted.setdefault(substitute(urls[param], dict(subs)), param)
            self._cond.notify_all()

    def idle(self) -> bool:
        with self._cond:
            return not self._wanted and not self._inflight

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _ready(self) -> list[tuple[str, str]]:
        return [(u, p) for u, p in self._wanted.items() if u not in self._inflight]

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._ready():
                    self._cond.wait()
                if self._stopped:
                    return
            time.sleep(float(self.config["SANDBOX_CALLBACK_COALESCE"]))
            with self._cond:
                batch = self._ready()
                for url, _param in batch:
                    del self._wanted[url]
                    self._inflight.add(url)
            for url, param in batch:
                threading.Thread(target=self._deliver, args=(url, param), daemon=True).start()

    def _deliver(self, url: str, param: str) -> None:
        try:
            retries = int(self.config["SANDBOX_CALLBACK_RETRIES"])
            for attempt in range(1, retries + 2):
                if self._attempt(url, param, attempt, last=attempt > retries):
                    return
                if attempt <= retries:
                    delay = float(self.config["SANDBOX_CALLBACK_BACKOFF"]) * 2 ** (attempt - 1)
                    with self._cond:
                        if self._cond.wait_for(lambda: self._stopped, timeout=delay):
                            return
        finally:
            with self._cond:
                self._inflight.discard(url)
                self._cond.notify_all()

    def _attempt(self, url: str, param: str, attempt: int, *, last: bool) -> bool:
        status, error = None, None
        started = time.monotonic()
        try:
            resp = self._session.request(
                self.config["SANDBOX_CALLBACK_METHOD"], url, timeout=float(self.config["SANDBOX_CALLBACK_TIMEOUT"])
            )
            status = resp.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        ok = status == 200
        outcome = "ok" if ok else ("gave_up" if last else "retry")
        try:
            self.store.log_callback(
                param=param, url=redact(url), attempt=attempt, status=status,
                error=redact(error) if error else None, elapsed=round(time.monotonic() - started, 3),
                outcome=outcome,
            )
        except sqlite3.ProgrammingError:  # the store was closed while we were calling
            pass
        return ok
