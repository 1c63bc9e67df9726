"""Sync health in hour buckets, for the status page's chart: what the connector did the last seven days.

Every measure is counted by the database (``GROUP BY`` on an hour number computed in SQL, the same on
SQLite and PostgreSQL), never by reading rows into Python. Times are UTC, as everywhere in the tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.elements import ColumnElement

from .i18n import _
from .models import Batch, CallbackCount, OutboxEntry, StockRow, utcnow
from .state import get_state

HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Series:
    key: str
    label: str  # Swedish, shown on the chart
    unit: str  # "st" (a count) or "s" (seconds)
    values: list[float | None]
    tone: str = "ok"  # ok | bad | neutral: the colour of its bars

    @property
    def total(self) -> float:
        return sum(v for v in self.values if v is not None)

    @property
    def peak(self) -> float:
        return max((v for v in self.values if v is not None), default=0.0)


@dataclass
class Health:
    start: dt.datetime  # the first hour shown (UTC)
    hours: int
    series: list[Series] = field(default_factory=list)

    def hour(self, i: int) -> dt.datetime:
        return self.start + i * HOUR

    def by_key(self) -> dict[str, Series]:
        return {s.key: s for s in self.series}


def _epoch(column: Any, dialect: str) -> ColumnElement[Any]:
    """Seconds since 1970 of a naive UTC ``DateTime`` column, in SQL."""
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.extract("epoch", column)


def _hour_number(column: Any, dialect: str) -> ColumnElement[Any]:
    """Whole hours since 1970 (the bucket), exact at the hour's first second on both databases."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", column), Integer) // 3600  # integer division: the floor for times after 1970
    return cast(func.floor(func.extract("epoch", column) / 3600), Integer)


def _counts(session: Session | scoped_session[Any], column: Any, since: dt.datetime, dialect: str, *where: Any) -> dict[int, float]:
    bucket = _hour_number(column, dialect)
    rows = session.execute(select(bucket, func.count()).where(column >= since, *where).group_by(bucket)).all()
    return {int(h): float(n) for h, n in rows}


def _sums(session: Session | scoped_session[Any], column: Any, since: dt.datetime, dialect: str) -> dict[int, float]:
    bucket = _hour_number(CallbackCount.hour, dialect)
    rows = session.execute(select(bucket, func.sum(column)).where(CallbackCount.hour >= since).group_by(bucket)).all()
    return {int(h): float(n or 0) for h, n in rows}


def _lag(session: Session | scoped_session[Any], since: dt.datetime, dialect: str) -> dict[int, float]:
    """Per hour: the longest time from the pull's request (Specter's callback) to a stock batch's last applied row."""
    per_batch = (
        select(StockRow.batch_id.label("batch_id"), func.max(StockRow.applied_at).label("last_applied"))
        .where(StockRow.applied_at >= since)
        .group_by(StockRow.batch_id)
        .subquery()
    )
    lag = _epoch(per_batch.c.last_applied, dialect) - _epoch(func.coalesce(Batch.requested_at, Batch.fetched_at), dialect)
    bucket = _hour_number(per_batch.c.last_applied, dialect)
    rows = session.execute(
        select(bucket, func.max(lag)).select_from(per_batch).join(Batch, Batch.id == per_batch.c.batch_id).group_by(bucket)
    ).all()
    return {int(h): max(0.0, float(v)) for h, v in rows if v is not None}


def collect_health(days: int = 7, now: dt.datetime | None = None) -> Health:
    """The last ``days`` days in hour buckets, the current hour last."""
    state = get_state()
    session = state.db.session
    dialect = session.get_bind().dialect.name
    current = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    hours = days * 24
    start = current - (hours - 1) * HOUR
    first = int((start - dt.datetime(1970, 1, 1)).total_seconds()) // 3600

    def spread(found: dict[int, float], *, missing: float | None = 0.0) -> list[float | None]:
        return [found.get(first + i, missing) for i in range(hours)]

    health = Health(start=start, hours=hours)
    health.series = [
        Series("stock_applied", _("Lagerrader uppdaterade"), "st", spread(_counts(session, StockRow.applied_at, start, dialect, StockRow.state == "applied"))),
        Series("callbacks_accepted", _("Anrop från Specter, godkända"), "st", spread(_sums(session, CallbackCount.accepted, start, dialect))),
        Series("callbacks_refused", _("Anrop från Specter, nekade"), "st", spread(_sums(session, CallbackCount.refused, start, dialect)), tone="bad"),
        Series("batches", _("Batcher hämtade"), "st", spread(_counts(session, Batch.fetched_at, start, dialect)), tone="neutral"),
        Series("outbox_sent", _("Skickat till Specter"), "st", spread(_counts(session, OutboxEntry.sent_at, start, dialect))),
        Series("outbox_failed", _("Misslyckat till Specter"), "st", spread(_counts(session, OutboxEntry.failed_at, start, dialect)), tone="bad"),
        Series("lag", _("Fördröjning till uppdaterat lager"), "s", spread(_lag(session, start, dialect), missing=None), tone="neutral"),
    ]
    return health
