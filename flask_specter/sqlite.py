"""SQLite shared by several processes: WAL, a busy timeout, and writers that take the lock when they begin.

The shop, ``flask specter worker`` and a CLI command on one SQLite file is a normal development set-up.
SQLite's default transactions begin as readers and ask for the write lock at their first write; when
another process holds it, or has committed since the reader began, SQLite cannot let the reader wait
(the two could deadlock) and fails at once with ``database is locked``, whatever the busy timeout says.
So, following SQLAlchemy's documented pysqlite recipe, the driver's own transaction handling is switched
off and every transaction is begun by us:

- ``BEGIN IMMEDIATE`` takes the write lock at the start, so a writer *waits* (up to
  ``SPECTER_SQLITE_BUSY_TIMEOUT``) for the one before it instead of failing half-way;
- except the host's requests of ``SPECTER_SQLITE_READER_METHODS`` (GET, HEAD, OPTIONS) outside the
  extension's own routes and ``SPECTER_SQLITE_WRITER_ENDPOINTS``, and code that says it only reads
  (``with reading_only():``): these begin a plain deferred ``BEGIN``, so in WAL mode a page reads the
  last committed data at once instead of queueing behind the worker's stock chunks or another request;
- a deferred transaction that turns into a writer is restarted as one (below): a GET view that writes
  (a guest cart made by a context processor, a payment's return URL) never fails because of this module;
- WAL lets the readers and the one writer run side by side;
- the busy timeout is raised to ``SPECTER_SQLITE_BUSY_TIMEOUT`` (never lowered);
- a writer that finds the lock busy looks again after 0.2 ms, then twice as long up to 5 ms, for a
  second, before SQLite's own busy handler (1, 2, 5 … 100 ms) waits the rest: with the stock apply's
  short chunks back to back, SQLite's handler could miss every free moment for a few hundred ms.

**A reader that writes.** When a statement of a deferred transaction that has changed nothing meets
``database is locked`` (the lock is held, or the reader's snapshot is older than the last commit), the
transaction has only read: it is ended, begun again with ``BEGIN IMMEDIATE`` (which waits for the lock
like any writer), its open SAVEPOINTs are set again, and the statement runs in it. Nothing is lost (it
had written nothing) and the host sees no error. Its reads before that statement and its writes from it
on are then two transactions: what the host had before the extension (pysqlite's default reads outside
any transaction and begins one at the first write) and what PostgreSQL's READ COMMITTED gives. A view
whose writes must be decided in the same transaction as its reads (read a status, then change it) is
named in ``SPECTER_SQLITE_WRITER_ENDPOINTS`` and begins as a writer.

Why not ``BEGIN IMMEDIATE`` for every request (``SPECTER_SQLITE_READER_METHODS = ""`` still offers it):
each page would hold the one write lock from its first query to its end, so pages that only read would
queue behind every request that writes and behind each other, not only behind the worker's short chunks.
Measured (``tests/test_sqlite_get_writes.py``, two 5,000-row applies by a worker process, orders drained,
a guest-cart and a payment-return loop writing on GET; a busy 2-core machine, two runs each), a product
page that only reads took, during the applies: before this change median 23-31 ms, p90 67-92 ms, max
144-271 ms (and 449-481 guest carts and 372-494 payment returns a run failed, against 48-59 and
257-261 that worked); with this design median 3-12 ms, p90 28-64 ms, max 118-177 ms (no failure);
every request a writer, median 9-13 ms, p90 89-134 ms, max 483-618 ms, and 156-172 page loads in the
applies against 428-803. With no GET writing, the page is the same in all three (median 7-23 ms).
Why not retry the request: the view's other effects (a mail, a payment call) are not ours to repeat.

SAVEPOINTs (``session.begin_nested()``) work inside these transactions as before. The extension does
not own the host's engine: ``tune_sqlite(engine, app.config)`` only adds event listeners, once per engine,
and does nothing for other databases. ``SPECTER_SQLITE_TUNING = False`` turns it off.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.pool import ConnectionPoolEntry

from .config import DEFAULTS
from .remote.errors import SpecterConfigError
from .threadflag import ThreadFlag

log = logging.getLogger("flask_specter.sqlite")

LOCK_LOOK_FIRST = 0.0002  # seconds before a writer looks again for a busy write lock (``_take_write_lock``)
LOCK_LOOK_MAX = 0.005
LOCK_LOOK_FOR = 1.0  # seconds of looking often; then SQLite's own busy handler waits
PYSQLITE_DRIVERS = ("pysqlite", "pysqlcipher")  # the recipe sets the driver's isolation_level
OWN_BLUEPRINT = "specter"  # its GET routes are Specter's callbacks, which write
SQLITE_BUSY = 5  # SQLite's primary result code of "database is locked" (also SQLITE_BUSY_SNAPSHOT, 517)

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
READER = "specter_reader_changes"  # connection info: total_changes when this deferred transaction began
SAVEPOINTS = "specter_savepoints"  # connection info: the SAVEPOINT names open in this transaction, in order


@dataclass(frozen=True)
class SqliteSettings:
    """The host's choices (``SPECTER_SQLITE_*`` in ``config.py``), read once from the app's config."""

    busy_timeout: float
    reader_methods: frozenset[str]
    writer_endpoints: tuple[str, ...]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SqliteSettings:
        def value(key: str) -> Any:
            return config.get(key, DEFAULTS[key])

        timeout = value("SPECTER_SQLITE_BUSY_TIMEOUT")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float, str)):
            raise _bad("SPECTER_SQLITE_BUSY_TIMEOUT", timeout, "a number of seconds")
        try:
            seconds = float(timeout)
        except ValueError:
            raise _bad("SPECTER_SQLITE_BUSY_TIMEOUT", timeout, "a number of seconds") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise _bad("SPECTER_SQLITE_BUSY_TIMEOUT", timeout, "a number of seconds, 0 or more")
        methods = _words("SPECTER_SQLITE_READER_METHODS", value("SPECTER_SQLITE_READER_METHODS"))
        if not all(m.isalpha() for m in methods):
            raise _bad("SPECTER_SQLITE_READER_METHODS", value("SPECTER_SQLITE_READER_METHODS"), 'HTTP method names, e.g. "GET, HEAD"')
        endpoints = _words("SPECTER_SQLITE_WRITER_ENDPOINTS", value("SPECTER_SQLITE_WRITER_ENDPOINTS"))
        return cls(busy_timeout=seconds, reader_methods=frozenset(m.upper() for m in methods), writer_endpoints=endpoints)

    def begins_as_writer(self, endpoint: str | None) -> bool:
        return endpoint is not None and any(fnmatchcase(endpoint, pattern) for pattern in self.writer_endpoints)


def _words(key: str, raw: Any) -> tuple[str, ...]:
    """A comma- or space-separated string, or an iterable of strings (None: none)."""
    if raw is None:
        return ()
    items: Iterable[Any] = raw.replace(",", " ").split() if isinstance(raw, str) else raw
    try:
        words = tuple(items)
    except TypeError:
        raise _bad(key, raw, "a comma-separated string or a list of strings") from None
    if not all(isinstance(w, str) and w.strip() and "," not in w for w in words):
        raise _bad(key, raw, "a comma-separated string or a list of strings")
    return tuple(w.strip() for w in words)


def _bad(key: str, raw: Any, wanted: str) -> SpecterConfigError:
    return SpecterConfigError(f"{key} must be {wanted}, not {raw!r}", settings=(key,))


_TUNED: weakref.WeakKeyDictionary[Engine, SqliteSettings] = weakref.WeakKeyDictionary()


def tune_sqlite(engine: Engine, config: Mapping[str, Any] | None = None) -> bool:
    """Install the listeners on ``engine`` if it is SQLite (pysqlite) and not done yet; True when tuned.

    ``config`` is the app's config (its ``SPECTER_SQLITE_*`` keys; defaults for the missing ones); a bad
    value raises ``SpecterConfigError``. Called again, the engine takes the new settings."""
    if engine.dialect.name != "sqlite" or engine.dialect.driver not in PYSQLITE_DRIVERS:
        return False
    _TUNED[engine] = SqliteSettings.from_config(config or {})
    if not event.contains(engine, "begin", _begin):
        ref = weakref.ref(engine)  # the pool's listener must not keep the engine alive

        def on_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
            tuned = ref()
            _prepare(dbapi_connection)
            _wait_for_a_busy_file(dbapi_connection, connection_record.info, _settings(tuned) if tuned else SqliteSettings.from_config({}))

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", _begin)  # also prepares connections the host opened before
        event.listen(engine, "do_execute", _do_execute)
        event.listen(engine, "do_executemany", _do_executemany)
        event.listen(engine, "do_execute_no_params", _do_execute_no_params)
    return True


def is_tuned(engine: Engine | Connection) -> bool:
    """Does ``engine`` begin its transactions as ``tune_sqlite`` makes it (deferred only when reading)?"""
    engine = engine.engine if isinstance(engine, Connection) else engine
    return event.contains(engine, "begin", _begin)


def _settings(engine: Engine) -> SqliteSettings:
    settings = _TUNED.get(engine)
    return settings if settings is not None else SqliteSettings.from_config({})


def _prepare(dbapi_connection: Any) -> None:
    """Per connection: we begin the transactions; WAL (a setting of the file)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() not in ("wal", "memory"):
            try:
                cursor.execute("PRAGMA journal_mode = WAL")
            except Exception as exc:  # another process switching it at this moment: it will be WAL anyway
                log.warning("SQLite: could not switch to WAL now (%s); this connection stays in %s mode", exc, mode)
    finally:
        cursor.close()


def _wait_for_a_busy_file(dbapi_connection: Any, info: dict[Any, Any], settings: SqliteSettings) -> None:
    """A connection's busy timeout raised to the engine's setting (never lowered): when it connects, or at
    its first transaction if the host opened it before the tuning."""
    current = int(dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0])
    wanted = int(settings.busy_timeout * 1000)
    if current < wanted:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {wanted}")
    info[BUSY_MS] = max(current, wanted)


def _reads_only(settings: SqliteSettings) -> bool:
    """The host's requests of the reader methods only read, unless their endpoint is named a writer; the
    extension's own GET routes (callbacks) write."""
    if _READING:
        return True
    if not has_request_context():
        return False
    if request.method not in settings.reader_methods or (request.blueprint or "").split(".")[0] == OWN_BLUEPRINT:
        return False
    return not settings.begins_as_writer(request.endpoint)


def _begin(conn: Connection) -> None:
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None  # a connection that begins a transaction is not detached
    info = conn.connection.info
    info[READER] = None  # the statements below are not the transaction's
    settings = _settings(conn.engine)
    if dbapi_connection.isolation_level is not None:  # opened before the listeners were added
        _prepare(dbapi_connection)
    if BUSY_MS not in info:
        _wait_for_a_busy_file(dbapi_connection, info, settings)
    _set_durability(conn, relaxed=bool(_REDOABLE))
    info[SAVEPOINTS] = []
    if _reads_only(settings):
        conn.exec_driver_sql("BEGIN")
        info[READER] = dbapi_connection.total_changes
        return
    if not _take_write_lock(dbapi_connection, info):
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
        waited_ms = info[BUSY_MS]  # the connection's busy timeout (set at its first transaction)
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            give_up = time.monotonic() + LOCK_LOOK_FOR
            pause = LOCK_LOOK_FIRST
            while True:
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    return True
                except Exception as exc:  # the driver's OperationalError (pysqlite's or pysqlcipher's)
                    if not _is_busy(exc) or time.monotonic() + pause > give_up:
                        return False  # any other error: the caller's BEGIN raises it as SQLAlchemy's
                time.sleep(pause)
                pause = min(pause * 2, LOCK_LOOK_MAX)
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {waited_ms}")
    finally:
        cursor.close()


def _is_busy(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python's sqlite3; a driver without it: the message
    return (code & 0xFF) == SQLITE_BUSY if isinstance(code, int) else "database is locked" in str(exc)


# A reader that writes: restarted as a writer ---------------------------------------------------------------


def _run(cursor: Any, statement: str, context: ExecutionContext, execute: Callable[[], None]) -> bool:
    """Run a statement of a deferred transaction; if it meets the busy lock before the transaction changed
    anything, restart the transaction as a writer and run it again. False (the dialect runs it) otherwise."""
    info = context.root_connection.connection.info
    began_at = info.get(READER)
    if began_at is None:
        return False
    dbapi_connection = cursor.connection
    try:
        execute()
    except Exception as exc:
        if not (_is_busy(exc) and dbapi_connection.in_transaction and dbapi_connection.total_changes == began_at):
            raise
        _restart_as_writer(dbapi_connection, info)
        execute()
    else:
        _follow_savepoints(statement, info[SAVEPOINTS])
    return True


def _restart_as_writer(dbapi_connection: Any, info: dict[Any, Any]) -> None:
    """End the read transaction (it changed nothing), take the write lock as a writer does, set the open
    SAVEPOINTs again."""
    dbapi_connection.execute("COMMIT")
    info[READER] = None
    if not _take_write_lock(dbapi_connection, info):
        dbapi_connection.execute("BEGIN IMMEDIATE")
    for name in info[SAVEPOINTS]:
        dbapi_connection.execute(f"SAVEPOINT {name}")
    log.debug("SQLite: a read transaction that writes was begun again as a writer")


def _follow_savepoints(statement: str, names: list[str]) -> None:
    """The SAVEPOINTs open in a read transaction, from its statements (``SAVEPOINT x``, ``RELEASE [SAVEPOINT] x``;
    ``ROLLBACK TO x`` leaves ``x`` open), as written, to be set again if it becomes a writer."""
    words = statement.split(None, 3)
    if len(words) < 2:
        return
    verb = words[0].upper()
    if verb == "SAVEPOINT" and len(words) == 2:
        names.append(words[1])
    elif verb == "RELEASE" and words[-1] in names:
        del names[names.index(words[-1]) :]


def _do_execute(cursor: Any, statement: str, parameters: Any, context: ExecutionContext) -> bool:
    return _run(cursor, statement, context, lambda: context.dialect.do_execute(cursor, statement, parameters, context))


def _do_executemany(cursor: Any, statement: str, parameters: Any, context: ExecutionContext) -> bool:
    return _run(cursor, statement, context, lambda: context.dialect.do_executemany(cursor, statement, parameters, context))


def _do_execute_no_params(cursor: Any, statement: str, context: ExecutionContext) -> bool:
    return _run(cursor, statement, context, lambda: context.dialect.do_execute_no_params(cursor, statement, context))


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
