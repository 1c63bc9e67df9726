"""The sandbox's SQLite database: schema, transactions, account settings and logs.

One connection guarded by a re-entrant lock: the threaded server and the callback dispatcher share it.
SQLite serialises writers anyway, and a single connection keeps each change atomic and simple. Domain
operations live in ``domain.py`` and ``feeds.py``; they run inside ``Store.tx()``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

DEFAULT_SITE = (1, "Huvudlager")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sites(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles(
    id INTEGER PRIMARY KEY,
    article_no TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    price TEXT NOT NULL DEFAULT '0',
    vat TEXT NOT NULL DEFAULT '25',
    buy_price TEXT NOT NULL DEFAULT '0',
    bar_code TEXT NOT NULL DEFAULT '',
    weight TEXT NOT NULL DEFAULT '0',
    group_no TEXT NOT NULL DEFAULT '',
    group_name TEXT NOT NULL DEFAULT '',
    supplier TEXT NOT NULL DEFAULT '',
    deleted INTEGER NOT NULL DEFAULT 0,
    origin TEXT NOT NULL DEFAULT 'specter',
    updated_at REAL
);
CREATE TABLE IF NOT EXISTS stock(
    article_no TEXT NOT NULL,
    site_id INTEGER NOT NULL,
    in_stock NUMERIC NOT NULL DEFAULT 0,
    reserved NUMERIC NOT NULL DEFAULT 0,
    PRIMARY KEY(article_no, site_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS customers(
    id INTEGER PRIMARY KEY,
    data TEXT NOT NULL,
    email_norm TEXT NOT NULL DEFAULT '',
    org_norm TEXT NOT NULL DEFAULT '',
    priority TEXT NOT NULL DEFAULT '',
    responsible_salesperson TEXT NOT NULL DEFAULT '',
    created_at REAL,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS customers_email ON customers(email_norm);
CREATE INDEX IF NOT EXISTS customers_org ON customers(org_norm);
CREATE TABLE IF NOT EXISTS orders(
    order_no INTEGER PRIMARY KEY,
    external_order_no TEXT NOT NULL DEFAULT '',
    customer_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    status_id INTEGER NOT NULL DEFAULT 1,
    delivery_status TEXT NOT NULL DEFAULT '',
    deliveries TEXT NOT NULL DEFAULT '[]',
    deliveries_updated INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0,
    reserving INTEGER NOT NULL DEFAULT 1,
    invoices TEXT NOT NULL DEFAULT '[]',
    created_at REAL,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS orders_ext ON orders(external_order_no);
CREATE TABLE IF NOT EXISTS order_rows(
    order_no INTEGER NOT NULL,
    n INTEGER NOT NULL,
    article_no TEXT NOT NULL,
    qty NUMERIC NOT NULL,
    site_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY(order_no, n)
);
CREATE TABLE IF NOT EXISTS pending(
    seq INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    item TEXT NOT NULL,
    UNIQUE(feed, item)
);
CREATE INDEX IF NOT EXISTS pending_feed ON pending(feed, seq);
CREATE TABLE IF NOT EXISTS batches(
    feed TEXT NOT NULL,
    batch_no TEXT NOT NULL,
    state TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    payload TEXT,
    created_at REAL,
    closed_at REAL,
    PRIMARY KEY(feed, batch_no)
);
CREATE TABLE IF NOT EXISTS calls(
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    method TEXT,
    script TEXT,
    action TEXT,
    batch_no TEXT,
    ok INTEGER,
    code INTEGER,
    message TEXT,
    fault TEXT
);
CREATE TABLE IF NOT EXISTS callback_log(
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    param TEXT,
    url TEXT,
    attempt INTEGER,
    status INTEGER,
    error TEXT,
    elapsed REAL,
    outcome TEXT
);
"""

TABLES = (
    "meta", "sites", "articles", "stock", "customers", "orders", "order_rows", "pending", "batches",
    "calls", "callback_log",
)

Signal = tuple[str, tuple[tuple[str, str], ...]]


class Store:
    """The database plus the hook that turns committed changes into callback signals."""

    def __init__(self, path: str):
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self.on_commit: Callable[[list[Signal]], None] | None = None
        self._signals: list[Signal] = []
        self._depth = 0
        with self.tx() as c:
            c.execute("INSERT OR IGNORE INTO sites(id, name) VALUES(?, ?)", DEFAULT_SITE)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic change; callback signals raised inside are delivered only after the commit."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self.conn.execute("BEGIN IMMEDIATE")
                self._signals = []
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                    self._signals = []
                raise
            self._depth -= 1
            if not outer:
                return
            self.conn.execute("COMMIT")
            signals, self._signals = self._signals, []
        if signals and self.on_commit:
            self.on_commit(signals)

    def signal(self, param: str, **subs: str) -> None:
        """Ask for the callback ``param`` once the current transaction commits."""
        sig = (param, tuple(sorted((k, str(v)) for k, v in subs.items())))
        if sig not in self._signals:
            self._signals.append(sig)

    def query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    # -- account settings -------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_meta(self, conn: sqlite3.Connection, key: str, value: Any) -> None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def sites(self) -> list[tuple[int, str]]:
        return [(r["id"], r["name"]) for r in self.query("SELECT id, name FROM sites ORDER BY id")]

    def ensure_site(self, conn: sqlite3.Connection, site_id: int, name: str | None = None) -> None:
        """Create a stock site on first use; a given name renames it."""
        if name:
            conn.execute(
                "INSERT INTO sites(id, name) VALUES(?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name",
                (site_id, name),
            )
        else:
            conn.execute("INSERT OR IGNORE INTO sites(id, name) VALUES(?, ?)", (site_id, f"Lager {site_id}"))

    # -- logs -------------------------------------------------------------------------------------

    def log_call(self, **row: Any) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO calls(time, method, script, action, batch_no, ok, code, message, fault) "
                "VALUES(:time, :method, :script, :action, :batch_no, :ok, :code, :message, :fault)",
                {"time": time.time(), "batch_no": None, "fault": None, "message": "", **row},
            )

    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM calls"
        args: tuple[Any, ...] = ()
        if action:
            sql += " WHERE lower(action) = lower(?)"
            args = (action,)
        rows = self.query(sql + " ORDER BY id", args)
        return [
            {
                "action": r["action"], "script": r["script"], "method": r["method"], "batchNo": r["batch_no"],
                "ok": bool(r["ok"]), "code": r["code"], "message": r["message"], "fault": r["fault"],
                "time": r["time"],
            }
            for r in rows
        ]

    def log_callback(self, **row: Any) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO callback_log(time, param, url, attempt, status, error, elapsed, outcome) "
                "VALUES(:time, :param, :url, :attempt, :status, :error, :elapsed, :outcome)",
                {"time": time.time(), "status": None, "error": None, "elapsed": None, **row},
            )

    def callback_log(self) -> list[dict[str, Any]]:
        """Every callback attempt: ``outcome`` is ok, retry or gave_up (also as ``ok``/``gaveUp`` flags)."""
        return [
            {
                "time": r["time"], "param": r["param"], "url": r["url"], "attempt": r["attempt"],
                "status": r["status"], "error": r["error"], "elapsed": r["elapsed"], "outcome": r["outcome"],
                "ok": r["outcome"] == "ok", "gaveUp": r["outcome"] == "gave_up",
            }
            for r in self.query("SELECT * FROM callback_log ORDER BY id")
        ]

    def reset(self) -> None:
        """Wipe every table (credentials live in the config, not here)."""
        with self.tx() as c:
            for table in TABLES:
                c.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            c.execute("INSERT INTO sites(id, name) VALUES(?, ?)", DEFAULT_SITE)
