"""Statements built once and run as driver SQL: many rows in one statement for every stock chunk, and
the outbox row of a new order or customer (``Executemany``, both sides of the connector).

The stock apply writes ~100 rows per table per chunk, a thousand chunks for a large catalogue. Building
a statement costs more than running it at this size, so these are built once (their values are bound
parameters) and run as they are. On PostgreSQL each takes the rows as arrays (``unnest``): one statement
and one round trip per table, and the same SQL every time, so psycopg prepares it (a multi-row
``VALUES`` list is compiled anew each time; psycopg's executemany sends one INSERT per row). SQLite runs
in process, where the driver's executemany of one prepared statement is the cheap way; the statement
is compiled once and the rows go to the driver as tuples (``Executemany``: SQLAlchemy's per-row
parameter handling cost more than SQLite's writing them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.expression import Executable

from .host_columns import HostColumns

AnySession = Session | scoped_session[Any]
# Turns the INSERT into an upsert: the dialect's insert -> the statement to run (PostgreSQL's and
# SQLite's inserts share ``on_conflict_do_update``).
OnConflict = Callable[[Any], Executable]


class Executemany:
    """``statement`` compiled once for a dialect, run with ``exec_driver_sql`` (SQLAlchemy's events still
    see it; its compiling and per-row parameter handling are skipped); the columns' bind processors
    (SQLite stores a datetime as text) are applied here. Positional parameters (SQLite's ``?``) go as
    tuples, named ones (psycopg's ``%(name)s``) as dicts; one row goes alone, not as an executemany.
    Values the statement binds itself (an ``onupdate`` expression's literals) go with every row."""

    def __init__(self, statement: Any, keys: list[str], types: dict[str, Any], session: AnySession):
        dialect = session.get_bind().dialect
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = str(compiled)
        self.positional = compiled.positiontup is not None
        self.order: list[str] = list(compiled.positiontup) if compiled.positiontup is not None else list(keys)
        self.defaults = bound_values(compiled)
        self.processors = {key: proc for key in self.order if key in types and (proc := types[key].bind_processor(dialect)) is not None}

        self.values = itemgetter(*self.order)  # a dict's values in the statement's order, as a tuple

    def run(self, session: AnySession, values: list[dict[str, Any]]) -> None:
        rows = self.rows(values)
        session.connection().exec_driver_sql(self.sql, rows[0] if len(rows) == 1 else rows)  # one row: no executemany

    def run_on(self, cursor: Any, values: list[dict[str, Any]]) -> None:
        """The same on a driver cursor, outside SQLAlchemy (``held_rows``: in psycopg's pipeline)."""
        rows = self.rows(values)
        if len(rows) == 1:
            cursor.execute(self.sql, rows[0])
        else:
            cursor.executemany(self.sql, rows)

    def rows(self, values: list[dict[str, Any]]) -> list[Any]:
        procs = self.processors
        if self.defaults:
            values = [{**self.defaults, **v} for v in values]
        if not self.positional:
            return [{**v, **{key: proc(v[key]) for key, proc in procs.items()}} for v in values] if procs else values
        if procs:
            return [tuple(procs[key](v[key]) if key in procs else v[key] for key in self.order) for v in values]
        if len(self.order) > 1:
            return [self.values(v) for v in values]
        return [(self.values(v),) for v in values]


class DriverStatement:
    """``statement`` compiled once for SQLite (positional ``?``) with the literal values it binds, run by
    the driver in the session's transaction; its rows come back as ``row_type`` (a named tuple): for the
    claim and the read of a chunk, SQLAlchemy's work per execution and per row cost more than SQLite's."""

    def __init__(self, statement: Any, session: AnySession, row_type: Callable[[Any], Any] = tuple):
        compiled = statement.compile(dialect=session.get_bind().dialect)
        self.sql = str(compiled)
        self.order: list[str] = list(compiled.positiontup or [])
        self.defaults = bound_values(compiled)
        self.row_type = row_type

    def run(self, session: AnySession, **values: Any) -> list[Any]:
        params = {**self.defaults, **values}
        cursor = session.connection().connection.driver_connection.execute(self.sql, tuple(params[name] for name in self.order))  # type: ignore[union-attr]
        try:
            return [self.row_type(row) for row in cursor.fetchall()] if cursor.description else []
        finally:
            cursor.close()


class BinaryStatement:
    """``statement`` compiled once for psycopg with its parameters in binary: psycopg writes a list as
    a text array with a regular expression per element (0.9 ms for a stock chunk's arrays, measured), as a
    binary array in a quarter of that."""

    def __init__(self, statement: Any, dialect: Any):
        compiled = statement.compile(dialect=dialect)
        self.sql = re.sub(r"%\((\w+)\)s", r"%(\1)b", str(compiled))
        self.defaults = bound_values(compiled)

    def params(self, **values: Any) -> dict[str, Any]:
        return {**self.defaults, **values}

    def run(self, session: AnySession, **values: Any) -> Any:
        return session.connection().exec_driver_sql(self.sql, self.params(**values))


class BulkInsert:
    """``INSERT INTO table (keys) …`` for a list of dicts with these keys."""

    def __init__(self, dialect: str, table: Table, keys: list[str], on_conflict: OnConflict | None = None):
        self.keys = keys
        self.arrays = dialect == "postgresql"
        stmt: Any
        if self.arrays:
            rows = _unnest({key: table.c[key].type for key in keys})
            stmt = postgresql.insert(table).from_select(keys, select(*(rows.c[key] for key in keys)))
        elif dialect == "sqlite":
            stmt = sqlite.insert(table)
        elif on_conflict is None:  # pragma: no cover - other databases
            stmt = insert(table)
        else:  # pragma: no cover - callers handle an upsert on other databases themselves
            raise NotImplementedError(dialect)
        self.statement: Executable = on_conflict(stmt) if on_conflict else stmt
        self.types = {key: table.c[key].type for key in keys}
        self.driver: Executemany | None = None
        self.binary: BinaryStatement | None = None

    def run(self, session: AnySession, values: list[dict[str, Any]]) -> None:
        if not values:
            return
        if self.arrays:
            arrays = {f"{key}_array": [v[key] for v in values] for key in self.keys}
            dialect = session.get_bind().dialect
            if dialect.driver != "psycopg":  # pragma: no cover - binary placeholders are psycopg's (3)
                session.execute(self.statement, arrays)
                return
            if self.binary is None:
                self.binary = BinaryStatement(self.statement, dialect)
            self.binary.run(session, **arrays)
            return
        if self.driver is None:
            self.driver = Executemany(self.statement, self.keys, self.types, session)
        self.driver.run(session, values)


class BulkUpdate:
    """``UPDATE table SET value_col = new[key] WHERE key_col = key`` for every key of a mapping, with
    what the host's model sets on every UPDATE of the table (``host_columns``: ``onupdate``, version).

    PostgreSQL joins the arrays of keys and values (``UPDATE … FROM unnest``): one statement. Elsewhere
    one prepared UPDATE per key (in process on SQLite: no round trips).
    """

    def __init__(self, dialect: str, table: Any, key_col: Any, value_col: Any, host: HostColumns | None = None):
        self.arrays = dialect == "postgresql"
        self.host = host or HostColumns(table, key_col, value_col)
        row_types = self.host.row_types()
        if self.arrays:
            rows = _unnest({"k": key_col.type, "v": value_col.type, **row_types})
            extra = self.host.values(lambda name, _column: rows.c[name])
            self.statement = update(table).where(key_col == rows.c.k).values({value_col.key: rows.c.v, **extra})
        else:
            extra = self.host.values(lambda name, column: bindparam(name, type_=column.type))
            self.statement = update(table).where(key_col == bindparam("_key", type_=key_col.type)).values({value_col.key: bindparam("_value", type_=value_col.type), **extra})
        self.keys = ["_key", "_value", *row_types]
        self.types = {"_key": key_col.type, "_value": value_col.type, **row_types}
        self.driver: Executemany | None = None

    def params(self, new: Mapping[Any, Any], versions: Mapping[Any, Any], dialect: Any = None) -> dict[str, list[Any]]:
        """PostgreSQL's arrays for ``new`` (key -> value); ``versions``: key -> the row's version before,
        for a custom version generator (``HostColumns.version_read``). With ``dialect`` (arrays sent as
        driver SQL) the host columns' bind processors are applied here (a ``TypeDecorator`` of theirs)."""
        arrays = {"k_array": list(new), "v_array": list(new.values())}
        types = self.host.row_types()
        if not types:
            return arrays
        rows = self.host.rows(new, versions)
        for name in types:
            values = [row[name] for row in rows]
            proc = types[name].bind_processor(dialect) if dialect is not None else None
            arrays[f"{name}_array"] = [proc(v) for v in values] if proc is not None else values
        return arrays

    def run(self, session: AnySession, new: Mapping[Any, Any], versions: Mapping[Any, Any] | None = None) -> None:
        if not new:
            return
        versions = versions or {}
        if self.arrays:
            session.execute(self.statement, self.params(new, versions), execution_options={"synchronize_session": False})
            return
        if self.driver is None:
            self.driver = Executemany(self.statement, self.keys, self.types, session)
        if len(self.keys) == 2:
            self.driver.run(session, [{"_key": key, "_value": value} for key, value in new.items()])
            return
        extra = self.host.rows(new, versions)
        self.driver.run(session, [{"_key": key, "_value": value, **row} for (key, value), row in zip(new.items(), extra, strict=True)])


def bound_values(compiled: Any) -> dict[str, Any]:
    """The values a compiled statement binds itself (its literals, as ``'pending'``), by parameter name."""
    return {compiled.bind_names[bind]: bind.effective_value for bind in compiled.binds.values() if not bind.required}


def _unnest(columns: dict[str, Any]) -> Any:
    """``unnest(:a_array, :b_array, …) AS rows(a, b, …)``: one array parameter per column, zipped into rows."""
    arrays: list[ColumnElement[Any]] = [bindparam(f"{key}_array", type_=postgresql.ARRAY(type_)) for key, type_ in columns.items()]
    return func.unnest(*arrays).table_valued(*columns).render_derived()
