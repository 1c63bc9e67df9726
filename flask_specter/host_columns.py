"""The host's own column rules on the connector's stock writes: ``onupdate`` and ``version_id_col``.

The connector writes the shop's stock with Core UPDATEs built once (``bulk_sql``) and run as driver SQL,
not through the ORM. SQLAlchemy adds each ``onupdate`` column of the table to an UPDATE it compiles,
as a parameter that its execution fills in: run as driver SQL, nobody filled it (``KeyError:
'updated_at'`` on SQLite, ``updated_at = NULL`` on PostgreSQL). The host declared ``onupdate`` so that
the column moves whenever the row changes, and a stock write is such a change, so here every
``onupdate`` is put into the statement: an SQL expression as it is, a Python value or function
evaluated once per statement (a chunk: one transaction, like ``now()``), or, when it takes SQLAlchemy's
context (it reads the row's parameters), for each row, as SQLAlchemy does for an executemany.

A ``version_id_col`` is the host's optimistic lock: a session that read the row before our write and
writes it after must notice (``StaleDataError``) rather than put back the stock it read. So the version
moves as the ORM moves it: ``version + 1`` in SQL for the default counter, the mapper's
``version_id_generator`` called with the row's version for a custom one. A server-side version
(``version_id_generator=False``), ``server_onupdate`` and ``server_default`` are the database's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Column, ColumnDefault, ColumnElement, Table, func, select
from sqlalchemy.orm import Mapper, Session, attributes, scoped_session


class RowContext:
    """What a context-sensitive default (``def updated(context)``) reads of the row being written."""

    def __init__(self, parameters: dict[str, Any]):
        self.current_parameters = parameters

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict[str, Any]:
        return self.current_parameters


class HostColumns:
    """What an UPDATE of ``value_col`` by ``key_col`` on the host's ``table`` must set besides."""

    def __init__(self, table: Table, key_col: Any, value_col: Any, mappers: Iterable[Mapper[Any]] = ()):
        self.key_col, self.value_col = key_col, value_col
        written = {key_col.key, value_col.key}
        self.in_sql: dict[str, Any] = {}  # column key -> SQL expression
        self.per_row: dict[str, tuple[Column[Any], Callable[[RowContext], Any]]] = {}  # param name -> (column, fn)
        self.per_statement: set[str] = set()  # of those, the ones that read no context: evaluated once
        for column in table.columns:
            default = column.onupdate
            if default is None or column.key in written:
                continue
            if default.is_clause_element:
                self.in_sql[column.key] = default.arg  # type: ignore[attr-defined]
            elif default.is_sequence:
                self.in_sql[column.key] = default.next_value()  # type: ignore[attr-defined]
            else:
                arg = default.arg  # type: ignore[attr-defined]
                name = f"host_{len(self.per_row)}"
                self.per_row[name] = (column, arg if default.is_callable else _constant(arg))
                if not default.is_callable or getattr(arg, "__code__", None) in _NO_CONTEXT:
                    self.per_statement.add(name)
        self.mapper = next((m for m in mappers if m.version_id_col is not None and m.version_id_col.table is table), None)
        self.version: Any = None  # the version column (the mapper's ``version_id_col``)
        self.generator: Callable[[Any], Any] | None = None  # a custom version generator: called per row
        if self.mapper is not None and self.mapper.version_id_generator is not False:
            self.version = self.mapper.version_id_col
            if _default_counter(self.mapper.version_id_generator):
                self.in_sql[self.version.key] = func.coalesce(self.version, 0) + 1
            else:
                self.generator = self.mapper.version_id_generator

    def values(self, placeholder: Callable[[str, Column[Any]], ColumnElement[Any]]) -> dict[str, Any]:
        """The UPDATE's extra ``SET`` values; a per-row value is ``placeholder(parameter name, column)``."""
        values = {**self.in_sql, **{column.key: placeholder(name, column) for name, (column, _fn) in self.per_row.items()}}
        if self.generator is not None and self.version is not None:
            values[self.version.key] = placeholder("host_version", self.version)
        return values

    def row_types(self) -> dict[str, Any]:
        """The per-row parameters' names and types."""
        types = {name: column.type for name, (column, _fn) in self.per_row.items()}
        if self.generator is not None and self.version is not None:
            types["host_version"] = self.version.type
        return types

    def rows(self, new: Mapping[Any, Any], versions: Mapping[Any, Any]) -> list[dict[str, Any]]:
        """The per-row parameters (``row_types``) for each key of ``new`` (key -> value written), in its
        order; ``versions``: key -> the row's version before, when the host's generator is custom
        (``version_read``). A function that reads no context is called once for the statement."""
        if not self.per_row and self.generator is None:
            return [{} for _ in new]
        shared = {name: self.per_row[name][1](None) for name in self.per_statement}  # type: ignore[arg-type]
        each = [(name, fn) for name, (_column, fn) in self.per_row.items() if name not in self.per_statement]
        key_name, value_name, generator = self.key_col.key, self.value_col.key, self.generator
        rows = []
        for key, value in new.items():
            row = dict(shared)
            if each:
                context = RowContext({key_name: key, value_name: value})
                row.update((name, fn(context)) for name, fn in each)
            if generator is not None:
                row["host_version"] = generator(versions.get(key))
            rows.append(row)
        return rows

    def version_read(self) -> Any | None:
        """The version column to read with the row (a custom generator needs the old one), or None."""
        return self.version if self.generator is not None else None

    def counted(self, statement: Any, session: Session | scoped_session[Any], key: Any) -> Any:
        """``statement``, an UPDATE of the row whose ``key_col`` is ``key`` run through the host's session
        (which fills the ``onupdate`` columns itself), with the version moved, returning ``returning()``
        after its own columns (``forget_version``)."""
        if self.version is None:
            return statement
        if self.generator is None:
            value = self.in_sql[self.version.key]
        else:
            value = self.generator(session.execute(select(self.version).where(self.key_col == key).limit(1)).scalar())
        return statement.values({self.version.key: value}).returning(*self.returning())

    def returning(self) -> list[Any]:
        """Columns an UPDATE returns so that ``forget_version`` can find a loaded object: its primary key
        and its new version; none without a version column."""
        if self.mapper is None or self.version is None:
            return []
        return [*self.mapper.primary_key, self.version]

    def forget_version(self, session: Session | scoped_session[Any], row: Any) -> None:
        """The object of ``row`` (from ``returning``) loaded in the host's own session takes the version
        written: its later flush in the same transaction must not fail against our own write."""
        if self.mapper is None or self.version is None:
            return
        *key, version = row[-len(self.mapper.primary_key) - 1 :]
        obj = session.identity_map.get(self.mapper.identity_key_from_primary_key(key))
        if obj is not None:
            prop = self.mapper.get_property_by_column(self.version)
            attributes.set_committed_value(obj, prop.key, version)


# SQLAlchemy's wrappers of an ``onupdate`` function that takes no context (``lambda ctx: fn()``, one for
# a Python function, one for a builtin such as ``datetime.utcnow``): their code.
_NO_CONTEXT = {getattr(ColumnDefault(fn).arg, "__code__", None) for fn in (lambda: None, time.time)} - {None}


def _constant(value: Any) -> Callable[[RowContext], Any]:
    """A plain ``onupdate`` value (``onupdate="edited"``) as a per-row function."""
    return lambda _context: value


def _default_counter(generator: Any) -> bool:
    """Is this SQLAlchemy's own ``lambda x: (x or 0) + 1`` (the mapper made it: no generator given)?"""
    return getattr(generator, "__module__", None) == "sqlalchemy.orm.mapper" and getattr(generator, "__name__", None) == "<lambda>"


def host_columns(table: Table, key_col: Any, value_col: Any, db: Any) -> HostColumns:
    """``HostColumns`` of ``table``, its version column found among the mappers of ``db.Model``."""
    registry = getattr(getattr(db, "Model", None), "registry", None)
    return HostColumns(table, key_col, value_col, registry.mappers if registry is not None else ())
