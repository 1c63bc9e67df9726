"""The database's clock, read inside the statement: one clock for every lease and due time.

Each worker's own clock may be off (a host 300 s ahead takes over claims that are still held, and the
rows are sent twice). Leases (``claimed_until``, ``locked_until``: epoch seconds) and due times
(``next_attempt_at``: naive UTC) are therefore written and judged against the server's clock in the SQL
itself: ``statement_timestamp()`` on PostgreSQL (the statement's own moment, not the transaction's
start), ``julianday('now')`` on SQLite (one moment per statement; SQLite's ``CURRENT_TIMESTAMP`` only
has whole seconds). The due-time form matches how SQLAlchemy stores a ``DateTime`` on SQLite
(``YYYY-MM-DD HH:MM:SS.ffffff`` text), so the comparison is right as text too.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import DateTime, Float, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def _frozen() -> bool:
    """A test froze this process's clock (freezegun): the database's clock then follows it, so the time
    rules stay testable on a frozen clock. Never true outside such a test."""
    return getattr(time.time, "__module__", "") == "freezegun.api"


def _frozen_epoch() -> float | None:
    return time.time() if _frozen() else None


def _frozen_utcnow() -> dt.datetime | None:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) if _frozen() else None


class db_epoch(FunctionElement[float]):  # noqa: N801  # reads like the SQL function it stands for
    """The database's time now, as epoch seconds (float)."""

    type = Float()
    name = "db_epoch"
    inherit_cache = True

    def __init__(self) -> None:  # the frozen test clock, bound at each execution (None: the database's)
        super().__init__(bindparam(None, callable_=_frozen_epoch, type_=Float(), unique=True))


class db_utcnow(FunctionElement[Any]):  # noqa: N801
    """The database's time now, as a naive UTC timestamp comparable with a ``DateTime`` column."""

    type = DateTime()
    name = "db_utcnow"
    inherit_cache = True

    def __init__(self) -> None:
        super().__init__(bindparam(None, callable_=_frozen_utcnow, type_=DateTime(), unique=True))


def _either(element: Any, compiler: Any, clock: str, **kw: Any) -> str:
    return f"COALESCE({compiler.process(element.clauses, **kw)}, {clock})"


@compiles(db_epoch)
def _epoch_default(element: db_epoch, compiler: Any, **kw: Any) -> str:
    return _either(element, compiler, "EXTRACT(EPOCH FROM statement_timestamp())", **kw)


@compiles(db_epoch, "sqlite")
def _epoch_sqlite(element: db_epoch, compiler: Any, **kw: Any) -> str:
    return _either(element, compiler, "((julianday('now') - 2440587.5) * 86400.0)", **kw)


@compiles(db_utcnow)
def _utcnow_default(element: db_utcnow, compiler: Any, **kw: Any) -> str:
    return _either(element, compiler, "(statement_timestamp() AT TIME ZONE 'UTC')", **kw)


@compiles(db_utcnow, "sqlite")
def _utcnow_sqlite(element: db_utcnow, compiler: Any, **kw: Any) -> str:
    return _either(element, compiler, "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')", **kw)


def as_datetime(value: Any) -> dt.datetime:
    """A ``db_utcnow()`` read back: a datetime (the DateTime type parses SQLite's text; text is parsed here too)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))
