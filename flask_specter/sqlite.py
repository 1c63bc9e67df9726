"""SQLite shared by several processes: WAL, a busy timeout, and writers that take the lock when they begin.

The shop, ``flask specter worker`` and a CLI command on one SQLite file is a normal development set-up.
SQLite's default transactions begin as readers and ask for the write lock at their first write; when
another process holds it, SQLite cannot wait (the two would deadlock) and fails at once with
``database is locked``, whatever the busy timeout says. So, following SQLAlchemy's documented pysqlite
recipe, the driver's own transaction handling is switched off and every transaction is begun by us:

- ``BEGIN IMMEDIATE`` takes the write lock at the start, so a writer *waits* (up to the busy timeout)
  for the one before it instead of failing half-way;
- except the host's requests that only read (GET, HEAD, OPTIONS outside the extension's own routes):
  these keep a plain deferred ``BEGIN``, so in WAL mode a page reads the last committed data at once
  instead of queueing behind a long import;
- and code that says it only reads (``with reading_only():``);
- WAL lets those readers and the one writer run side by side;
- the busy timeout is raised to ``BUSY_TIMEOUT_SECONDS`` (never lowered);
- a writer that finds the lock busy looks again after 0.2 ms, then twice as long up to 5 ms, for a
  second, before SQLite's own busy handler (1, 2, 5 … 100 ms) waits the rest: with the stock apply's
  short chunks back to back, SQLite's handler could miss every free moment for a few hundred ms.

SAVEPOINTs (``session.begin_nested()``) work inside these transactions as before. The extension does
not own the host's engine: ``tune_sqlite(engine)`` only adds event listeners, once per engine, and does
nothing for other databases. ``SPECTER_SQLITE_TUNING = False`` turns it off.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry

from .threadflag import ThreadFlag

log = logging.getLogger("flask_specter.sqlite")

BUSY_TIMEOUT_SECONDS = 30.0
LOCK_LOOK_FIRST = 0.0002  # seconds before a writer looks again for a busy write lock (``_take_write_lock``)
LOCK_LOOK_MAX = 0.005
LOCK_LOOK_FOR = 1.0  # seconds of looking often; then SQLite's own busy handler waits
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PYSQLITE_DRIVERS = ("pysqlite", "pysqlcipher")  # the recipe sets the driver's isolation_level
OWN_BLUEPRINT = "specter"  # its GET routes are Specter's callbacks, which write

_READING = ThreadFlag()
# ``with reading_only(): ...`` begins this thread's transactions deferred: for code outside a request that
# only reads (a report, a monitoring poll) and must not queue behind a writer for the write lock.
reading_only = _READING.on

_REDOABLE = ThreadFlag()
# ``with redoable_writes(): ...`` commits this thread's transactions with ``synchronous = NORMAL``: no fsync
# per commit in WAL mode. A power cut (not a killed process) may then undo the last of them, so only for
# work that is done again from rows committed durably before (the stock apply's chunks, the outbox drain's
# outcomes); off again after.
redoable_writes = _REDOABLE.on
SYNC_SAVED = "specter_synchronous"  # connection info: the level to restore once redoable writes end
BUSY_MS = "specter_busy_timeout_ms"  # connection info: the busy timeout ``_take_write_lock`` puts back


def tune_sqlite(engine: Engine) -> bool:
    """Install the listeners on ``engine`` if it is SQLite (pysqlite) and not done yet; True when tuned."""
    if engine.dialect.name != "sqlite" or engine.dialect.driver not in PYSQLITE_DRIVERS:
        return False
    if not event.contains(engine, "begin", _begin):
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _begin)  # also prepares connections the host opened before
    return True


def is_tuned(engine: Engine | Connection) -> bool:
    """Does ``engine`` begin its transactions as ``tune_sqlite`` makes it (deferred only when reading)?"""
    engine = engine.engine if isinstance(engine, Connection) else engine
    return event.contains(engine, "begin", _begin)


def _on_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    _prepare(dbapi_connection)


def _prepare(dbapi_connection: Any) -> None:
    """Per connection: we begin the transactions; wait for a busy file; WAL (a setting of the file)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        current = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
        wanted = int(BUSY_TIMEOUT_SECONDS * 1000)
        if current < wanted:
            cursor.execute(f"PRAGMA busy_timeout = {wanted}")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() not in ("wal", "memory"):
            try:
                cursor.execute("PRAGMA journal_mode = WAL")
            except Exception as exc:  # another process switching it at this moment: it will be WAL anyway
                log.warning("SQLite: could not switch to WAL now (%s); this connection stays in %s mode", exc, mode)
    finally:
        cursor.close()


def _reads_only() -> bool:
    """The host's GET/HEAD/OPTIONS requests only read; the extension's own GET routes (callbacks) write."""
    if _READING:
        return True
    if not has_request_context():
        return False
    return request.method in READ_ONLY_METHODS and (request.blueprint or "").split(".")[0] != OWN_BLUEPRINT


def _begin(conn: Connection) -> None:
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None  # a connection that begins a transaction is not detached
    if dbapi_connection.isolation_level is not None:  # opened before the listeners were added
        _prepare(dbapi_connection)
    _set_durability(conn, relaxed=bool(_REDOABLE))
    if _reads_only():
        conn.exec_driver_sql("BEGIN")
    elif not _take_write_lock(dbapi_connection, conn.connection.info):
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's own wait, and its error when it gives up


def _take_write_lock(dbapi_connection: Any, info: dict[Any, Any]) -> bool:
    """``BEGIN IMMEDIATE``, looking again for a busy write lock after 0.2 ms, then twice as long each
    time up to 5 ms, for ``LOCK_LOOK_FOR`` seconds; False when it is still busy then (the caller then
    waits as SQLite does, up to the busy timeout).

    SQLite's own busy handler looks again after 1, 2, 5, 10 … 100 ms: a writer that met a chain of short
    transactions (the stock apply's chunks, back to back) could miss every moment the lock was free
    for hundreds of milliseconds. Looking more often at first finds such a moment within a few."""
    cursor = dbapi_connection.cursor()
    try:
        if BUSY_MS not in info:  # the connection's busy timeout, read once
            info[BUSY_MS] = int(cursor.execute("PRAGMA busy_timeout").fetchone()[0])
        waited_ms = info[BUSY_MS]
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            give_up = time.monotonic() + LOCK_LOOK_FOR
            pause = LOCK_LOOK_FIRST
            while True:
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    return True
                except Exception as exc:  # the driver's OperationalError (pysqlite's or pysqlcipher's)
                    if "locked" not in str(exc) or time.monotonic() + pause > give_up:
                        return False  # any other error: the caller's BEGIN raises it as SQLAlchemy's
                time.sleep(pause)
                pause = min(pause * 2, LOCK_LOOK_MAX)
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {waited_ms}")
    finally:
        cursor.close()


def _set_durability(conn: Connection, *, relaxed: bool) -> None:
    """Between transactions (SQLite refuses it inside one): NORMAL for redoable writes, else as it was."""
    info = conn.connection.info
    if relaxed and SYNC_SAVED not in info:
        level = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        if isinstance(level, int) and level > 1:
            conn.exec_driver_sql("PRAGMA synchronous = NORMAL")
        info[SYNC_SAVED] = level
    elif not relaxed and SYNC_SAVED in info:
        level = info.pop(SYNC_SAVED)
        if isinstance(level, int) and level > 1:
            conn.exec_driver_sql(f"PRAGMA synchronous = {level}")
