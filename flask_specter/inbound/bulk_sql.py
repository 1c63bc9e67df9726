"""Many rows in one statement whose SQL text stays the same from chunk to chunk.

The stock apply writes ~100 rows per table per chunk. On PostgreSQL each table gets one statement that
takes the rows as arrays (``unnest``): one round trip, and the same SQL every time, so SQLAlchemy's
compile cache and psycopg's prepared statements hold (a multi-row ``VALUES`` list is compiled anew each
time, and psycopg's executemany still sends one INSERT per row). SQLite runs in process, where the
driver's executemany of one prepared statement is the cheap way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.expression import Executable

AnySession = Session | scoped_session[Any]
# Turns the INSERT into an upsert: (the dialect's insert, its rows) -> the statement to run.
OnConflict = Callable[[Any], Executable]


def insert_rows(session: AnySession, table: Table, values: list[dict[str, Any]], on_conflict: OnConflict | None = None) -> None:
    """INSERT ``values`` (dicts with the same keys) into ``table``; ``on_conflict`` makes it an upsert
    (PostgreSQL and SQLite share ``on_conflict_do_update``)."""
    if not values:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        keys = list(values[0])
        rows = _unnest(table, {key: [v[key] for v in values] for key in keys})
        stmt: Any = postgresql.insert(table).from_select(keys, select(*(rows.c[key] for key in keys)))
        session.execute(on_conflict(stmt) if on_conflict else stmt)
        return
    if dialect == "sqlite":
        session.execute(on_conflict(sqlite.insert(table)) if on_conflict else insert(table), values)
        return
    if on_conflict is not None:  # pragma: no cover - callers handle other databases themselves
        raise NotImplementedError(dialect)
    session.execute(insert(table), values)  # pragma: no cover


def set_column(session: AnySession, table: Any, key_col: Any, value_col: Any, new: Mapping[Any, Any]) -> None:
    """``UPDATE table SET value_col = new[key] WHERE key_col = key`` for every key of ``new``: one statement.

    PostgreSQL joins the arrays of keys and values (``UPDATE … FROM unnest``); SQLite runs one prepared
    UPDATE per key (in process: no round trips, and cheaper to build than a ``CASE`` of every key).
    """
    if not new:
        return
    if session.get_bind().dialect.name == "postgresql":
        rows = _unnest_typed({"k": (key_col.type, list(new)), "v": (value_col.type, list(new.values()))})
        stmt = update(table).where(key_col == rows.c.k).values({value_col.key: rows.c.v})
        session.execute(stmt, execution_options={"synchronize_session": False})
        return
    stmt = update(table).where(key_col == bindparam("_key")).values({value_col.key: bindparam("_value")})
    session.connection().execute(stmt, [{"_key": key, "_value": value} for key, value in new.items()])


def _unnest(table: Table, columns: dict[str, list[Any]]) -> Any:
    return _unnest_typed({key: (table.c[key].type, data) for key, data in columns.items()})


def _unnest_typed(columns: dict[str, tuple[Any, list[Any]]]) -> Any:
    """``unnest(:a, :b, …) AS rows(a, b, …)``: one array parameter per column, zipped into rows."""
    arrays: list[ColumnElement[Any]] = [bindparam(f"{key}_array", data, type_=postgresql.ARRAY(type_)) for key, (type_, data) in columns.items()]
    return func.unnest(*arrays).table_valued(*columns).render_derived()
