"""The SQLite tuning one piece at a time: a writer waits for another process's lock, a page does not,
savepoints still work, the listeners are installed once and only on SQLite, and they can be turned off.
(``test_sqlite_processes.py`` runs the whole thing with the shop, the worker and CLI commands at once.)"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine, event, select, text

from flask_specter.sqlite import _begin, tune_sqlite

from .conftest import api_client

pytestmark = pytest.mark.timeout(120)

HOLD_THE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("CREATE TABLE IF NOT EXISTS other_process (x INTEGER)")
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO other_process VALUES (1)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


@pytest.fixture
def sqlite_shop(make_shop, tmp_path):
    """The example shop on its own SQLite file (also in the PostgreSQL pass: this is about SQLite)."""
    path = tmp_path / "tuned.sqlite3"

    def factory(**overrides):
        return make_shop(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", **overrides), path

    return factory


def _journal_mode(path) -> str:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


class LockHolder:
    """Another process holding SQLite's write lock for ``seconds`` (what a long import chunk does)."""

    def __init__(self, path, seconds: float):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)

    def __enter__(self):
        assert self.proc.stdout.readline().strip() == "locked"
        return self

    def released(self) -> bool:
        return self.proc.stdout.readline().strip() == "released"

    def __exit__(self, *exc):
        self.proc.wait(timeout=60)


def test_a_write_waits_longer_than_pysqlites_5s_and_a_page_does_not_wait(sqlite_shop):
    app, path = sqlite_shop()
    assert _journal_mode(path) == "wal"
    web = api_client(app)
    assert web.get("/").status_code == 200
    with LockHolder(path, 7) as holder:
        began = time.monotonic()
        page = web.get("/")
        page_seconds = time.monotonic() - began
        began = time.monotonic()
        created = web.post("/api/products", json={"sku": "VÄNTA-1", "name": "Väntar på låset", "price_excl_vat": "10.00"})
        write_seconds = time.monotonic() - began
        assert holder.released()
    assert page.status_code == 200 and page_seconds < 1.5, f"the page waited {page_seconds:.2f}s for a writer"
    assert created.status_code == 201, created.get_data(as_text=True)
    assert write_seconds > 5.0, "the write should have waited for the other process's transaction"
    assert web.get("/api/products/VÄNTA-1").status_code == 200


def test_a_savepoint_that_reads_then_writes_waits_for_the_lock(sqlite_shop):
    """What import-articles does per article; pysqlite's deferred transaction failed here at once."""
    from example_shop.models import Product

    app, path = sqlite_shop()
    with app.app_context(), LockHolder(path, 2) as holder:
        session = app.extensions["specter"].db.session
        with session.begin_nested():
            session.execute(select(Product.id).where(Product.sku == "SPARA-1")).first()
            session.add(Product(sku="SPARA-1", name="Sparad", price_excl_vat=1, vat_percent=25, stock=1, active=True))
            session.flush()
        session.commit()
        assert holder.released()
        assert session.execute(select(Product.sku).where(Product.sku == "SPARA-1")).scalar() == "SPARA-1"


def test_savepoints_inside_an_immediate_transaction_roll_back_alone(sqlite_shop):
    from example_shop.models import Product

    app, _path = sqlite_shop()
    with app.app_context():
        session = app.extensions["specter"].db.session
        session.add(Product(sku="YTTRE-1", name="Yttre", price_excl_vat=1, vat_percent=25, stock=1, active=True))
        nested = session.begin_nested()
        session.add(Product(sku="INRE-1", name="Inre", price_excl_vat=1, vat_percent=25, stock=1, active=True))
        session.flush()
        nested.rollback()
        session.commit()
        skus = set(session.execute(select(Product.sku).where(Product.sku.in_(["YTTRE-1", "INRE-1"]))).scalars())
    assert skus == {"YTTRE-1"}


def _begins(engine) -> list[str]:
    """The BEGINs SQLite itself ran for one transaction (its trace: the tuning may begin through the driver)."""
    seen: list[str] = []
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        raw.set_trace_callback(lambda statement: seen.append(statement) if statement.startswith("BEGIN") else None)
        try:
            with conn.begin():
                conn.execute(text("SELECT 1"))
        finally:
            raw.set_trace_callback(None)
    return seen


def test_listeners_are_installed_once_per_engine_and_only_on_sqlite(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'once.sqlite3'}")
    assert tune_sqlite(engine) and tune_sqlite(engine)
    assert _begins(engine) == ["BEGIN IMMEDIATE"]
    engine.dispose()
    pg = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected
    assert tune_sqlite(pg) is False and not event.contains(pg, "begin", _begin)


def test_connections_opened_before_the_tuning_are_tuned_at_their_next_transaction(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'early.sqlite3'}")
    with engine.connect() as conn:  # the host used its engine before init_app
        conn.execute(text("SELECT 1"))
    tune_sqlite(engine)
    assert _begins(engine) == ["BEGIN IMMEDIATE"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000
    engine.dispose()


def test_the_tuning_can_be_turned_off(sqlite_shop):
    app, path = sqlite_shop(SPECTER_SQLITE_TUNING=False)
    with app.app_context():
        engine = app.extensions["specter"].db.engine
        assert _begins(engine) == []  # pysqlite's own deferred transactions, as before
    assert _journal_mode(path) == "delete"  # the file's journal mode left alone


def test_code_outside_a_request_that_says_it_only_reads_does_not_wait_for_a_writer(sqlite_shop):
    from flask_specter.sqlite import reading_only

    app, path = sqlite_shop()
    db = app.extensions["sqlalchemy"]
    with LockHolder(path, 4) as holder:
        began = time.monotonic()
        with app.app_context(), reading_only():
            db.session.execute(text("SELECT count(*) FROM specter_stock_rows")).scalar()
        read_seconds = time.monotonic() - began
        began = time.monotonic()
        with app.app_context():  # without it, a transaction outside a request begins as a writer: it waits
            db.session.execute(text("SELECT count(*) FROM specter_stock_rows")).scalar()
        immediate_seconds = time.monotonic() - began
        assert holder.released()
    assert read_seconds < 1.0, f"the read waited {read_seconds:.2f}s for a writer"
    assert immediate_seconds > 1.0


def test_a_writer_looks_for_a_busy_write_lock_every_few_milliseconds(tmp_path):
    """SQLite's own busy handler looks again after 1, 2, 5 … 100 ms, and missed every free moment of a
    chain of short transactions (the stock apply's chunks); the tuned begin looks more often at first."""
    path = tmp_path / "busy.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    tune_sqlite(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock for 40 ms

    def release_later():
        time.sleep(0.04)
        holder.execute("COMMIT")

    attempts: list[float] = []
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        raw.set_trace_callback(lambda statement: attempts.append(time.perf_counter()) if statement == "BEGIN IMMEDIATE" else None)
        releaser = threading.Thread(target=release_later)
        started = time.perf_counter()
        releaser.start()
        with conn.begin():
            waited = time.perf_counter() - started
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        raw.set_trace_callback(None)
        releaser.join()
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000  # put back after the wait
    holder.close()
    engine.dispose()
    assert len(attempts) >= 5  # looked again within the 40 ms (SQLite's own handler: one BEGIN, retried inside)
    assert max(b - a for a, b in zip(attempts, attempts[1:], strict=False)) < 0.03  # never more than the 5 ms step (and a scheduler's slack)
    assert 0.035 < waited < 1.0


def _page_seconds(app, path: str, db_path) -> float:
    """How long ``path`` takes while another process holds the write lock for 2 s."""
    web = api_client(app)
    assert web.get(path).status_code == 200  # the connection is open and prepared before the lock is taken
    with LockHolder(db_path, 2) as holder:
        began = time.monotonic()
        assert web.get(path).status_code == 200
        seconds = time.monotonic() - began
        assert holder.released()
    return seconds


def test_the_host_chooses_which_requests_begin_as_readers(sqlite_shop):
    """``SPECTER_SQLITE_READER_METHODS`` and ``SPECTER_SQLITE_WRITER_ENDPOINTS`` are settings: no host
    patches a module constant. A page named a writer waits for the lock; the others do not."""
    app, path = sqlite_shop(SPECTER_SQLITE_WRITER_ENDPOINTS="shop.index")
    assert _page_seconds(app, "/", path) > 1.5
    assert _page_seconds(app, "/api/products", path) < 1.0


def test_a_pattern_names_every_endpoint_of_a_blueprint(sqlite_shop):
    app, path = sqlite_shop(SPECTER_SQLITE_WRITER_ENDPOINTS=["admin.*", "api.*"])
    assert _page_seconds(app, "/api/products", path) > 1.5
    assert _page_seconds(app, "/", path) < 1.0


def test_every_request_may_begin_as_a_writer(sqlite_shop):
    app, path = sqlite_shop(SPECTER_SQLITE_READER_METHODS="")
    assert _page_seconds(app, "/", path) > 1.5


def test_the_busy_timeout_is_a_setting(sqlite_shop):
    app, _path = sqlite_shop(SPECTER_SQLITE_BUSY_TIMEOUT=45, SPECTER_SQLITE_READER_METHODS=["get", "head"])
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 45_000
    assert app.test_client().head("/").status_code == 200


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SPECTER_SQLITE_BUSY_TIMEOUT", "soon"),
        ("SPECTER_SQLITE_BUSY_TIMEOUT", -1),
        ("SPECTER_SQLITE_READER_METHODS", ["GET", 3]),
        ("SPECTER_SQLITE_READER_METHODS", "GET, HE4D"),
        ("SPECTER_SQLITE_WRITER_ENDPOINTS", 7),
    ],
)
def test_a_bad_sqlite_setting_stops_init_app_with_its_name(sqlite_shop, key, value):
    from flask_specter.remote.errors import SpecterConfigError

    with pytest.raises(SpecterConfigError, match=key):
        sqlite_shop(**{key: value})
