"""New outbox rows sent with their transaction's COMMIT, in one round trip (PostgreSQL with psycopg).

The row of a new order is the one statement the outbox adds to a checkout, and on PostgreSQL most of
its cost is the round trip: inside a checkout its ``INSERT`` took 0.34-0.52 ms where the server runs it
in a tenth of that. Held on the connection (its ``info``, which lives with the database connection)
until the engine commits, the ``INSERT`` goes out with the ``COMMIT`` in psycopg's pipeline mode and
both come back in one round trip. The rows stay in the order's transaction: a rollback, or a ``COMMIT``
that fails, takes them away with it.

Rows are held only where the engine's commit ends the transaction they were written in and nothing
before it needs to read them back: psycopg, not in autocommit, the session bound to an engine (a
session joined to someone else's connection commits nothing itself), no savepoint open (its rollback
would have to take them back), no two-phase commit. Elsewhere they are written at once: SQLite runs in
process, so there is no round trip to save. ``held(session)`` shows them to the outbox's own look for a
pending twin.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ..bulk_sql import Executemany

KEY = "flask_specter.held_outbox_rows"  # in a connection's info: [(statement, rows), ...] to send with its COMMIT

_engines: set[int] = set()  # ids of the live engines whose commit sends the held rows (a set of ids: cheap to ask)


def hold(session: Session, connection: Connection, statement: Executemany, rows: list[dict[str, Any]]) -> bool:
    """Keep ``rows`` for ``statement`` to go with the COMMIT of the session's transaction on
    ``connection``; False (write them now) where that is not safe. The first transaction of an engine
    only installs its listeners."""
    if connection.dialect.driver != "psycopg" or not _watching(connection.engine):
        return False
    if session.in_nested_transaction() or connection.in_nested_transaction() or session.twophase or isinstance(session.bind, Connection):
        return False
    pooled = connection.connection
    if pooled.driver_connection.autocommit:  # type: ignore[union-attr]
        return False
    pooled.info.setdefault(KEY, []).append((statement, rows))
    return True


def held(session: Session) -> Iterator[dict[str, Any]]:
    """The rows held for the COMMIT of the session's transaction (as given to ``hold``)."""
    if not session.in_transaction():
        return
    for _statement, rows in session.connection().info.get(KEY, ()):
        yield from rows


def _watching(engine: Engine) -> bool:
    """True once this engine sends held rows with its commits (and drops them with a rollback)."""
    if id(engine) in _engines:
        return True
    event.listen(engine, "commit", _send_with_commit)
    event.listen(engine, "rollback", _drop)
    event.listen(engine, "checkin", _drop_at_checkin)  # returned to the pool without commit or rollback
    _engines.add(id(engine))
    weakref.finalize(engine, _engines.discard, id(engine))  # its id may be another engine's later
    return False  # a connection already open may not see listeners added after it


def _send_with_commit(connection: Connection) -> None:
    """The engine is about to commit: send the held rows and the ``COMMIT`` together, one round trip.
    The ``COMMIT`` goes as a statement of the pipeline, so SQLAlchemy's own commit finds the transaction
    ended and has nothing left to do."""
    batches = connection.info.pop(KEY, None)
    if not batches:
        return
    raw: Any = connection.connection.driver_connection
    sql = ""
    try:
        with raw.pipeline(), raw.cursor() as cursor:
            for statement, values in batches:
                sql = statement.sql
                statement.run_on(cursor, values)
            sql = "COMMIT"
            cursor.execute(sql)
    except connection.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy's own commit would raise it
        raise DBAPIError.instance(sql, None, exc, connection.dialect.loaded_dbapi.Error) from exc


def _drop(connection: Connection) -> None:
    connection.info.pop(KEY, None)


def _drop_at_checkin(dbapi_connection: Any, record: Any) -> None:  # noqa: ARG001
    record.info.pop(KEY, None)
