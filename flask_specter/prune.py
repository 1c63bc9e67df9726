"""Old rows pruned: finished work and old counts, deleted a few thousand rows a statement.

Without it the tables only grow: six changes of a 100k-SKU catalogue left about 605,000 stored stock rows
and as many history rows, and the outbox kept every sent row. What goes, each after its own setting
(``config.py``; days, 0 keeps forever):

- ``SPECTER_KEEP_HISTORY_DAYS``: stock history, except each SKU's newest entry whatever its age (the
  status page's SKU lookup still shows its last change and where it came from);
- ``SPECTER_KEEP_APPLIED_DAYS``: done feed rows (stock rows applied, superseded or unknown; article rows
  applied or skipped; order events applied or unknown), then confirmed batches no row refers to;
- ``SPECTER_KEEP_SENT_DAYS``: sent outbox rows;
- ``SPECTER_KEEP_CALLBACK_DAYS``: the per-hour counts of Specter's calls (``callback_log``, the chart).

Never pruned, whatever its age: work still to do or to look at (pending stock, article and order rows,
failed article rows, waiting, sending and failed outbox rows, and the sent rows of a record that still
has one of those: the admin's "Försök igen" reads them), stored (open) batches and each feed's newest
batch, reservations; an "unknown" stock row that is its SKU's newest (the status page lists the SKUs
Specter has and the shop lacks); the article rows of the service articles (their evidence,
``service_articles.py``). The newest row of every table stays too: SQLite hands a deleted last row's
number out again, and batch numbers are compared as "newer".

Each statement deletes at most ``CHUNK`` rows, in a transaction of its own, chosen first by a read (no
lock taken on SQLite) and with every condition checked again as they are deleted; so a big prune never
holds long locks, and a row that changed meanwhile stays. The scheduler runs ``prune`` every
``SPECTER_PRUNE_INTERVAL`` (the extension hands it to the queue with the sweep); ``flask specter prune
[--dry-run]`` runs it from the command line.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, delete, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session, scoped_session

from .models import ArticleRow, Batch, CallbackCount, OrderEvent, OutboxEntry, StockHistory, StockRow, utcnow
from .queue import job
from .remote.errors import SpecterConfigError
from .service_articles import service_article_nos
from .sqlite import reading_only, redoable_writes
from .state import get_state

log = logging.getLogger("flask_specter.prune")

CHUNK = 5000  # rows at most per DELETE: a statement of a few tens of milliseconds, never a long lock
PAUSE = 0.01  # seconds between two statements, so a waiting writer (a checkout on SQLite) gets in
JOB_BUDGET = 60.0  # seconds one job prunes; what is left goes to a fresh job (RQ's job timeout is 180 s)
INTERVAL_KEY = "SPECTER_PRUNE_INTERVAL"

HISTORY: Table = cast(Table, StockHistory.__table__)
STOCK: Table = cast(Table, StockRow.__table__)
ARTICLES: Table = cast(Table, ArticleRow.__table__)
ORDERS: Table = cast(Table, OrderEvent.__table__)
OUTBOX: Table = cast(Table, OutboxEntry.__table__)
BATCHES: Table = cast(Table, Batch.__table__)
COUNTS: Table = cast(Table, CallbackCount.__table__)

AnySession = Session | scoped_session[Session]


@dataclass(frozen=True)
class PruneSettings:
    """How often, and how many days each kind of row is kept (0: forever), checked once at ``init_app``."""

    interval: float
    keep: Mapping[str, float]  # SPECTER_KEEP_*_DAYS -> days

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PruneSettings:
        from .config import DEFAULTS

        def number(key: str, unit: str) -> float:
            raw = config.get(key, DEFAULTS[key])
            if raw is None:
                return 0.0
            wanted = f"a number of {unit}, 0 or more (0 = {'never' if key == INTERVAL_KEY else 'keep forever'})"
            if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
                raise SpecterConfigError(f"{key} must be {wanted}, not {raw!r}", settings=(key,))
            try:
                value = float(raw)
            except ValueError:
                raise SpecterConfigError(f"{key} must be {wanted}, not {raw!r}", settings=(key,)) from None
            if not math.isfinite(value) or value < 0:
                raise SpecterConfigError(f"{key} must be {wanted}, not {raw!r}", settings=(key,))
            return value

        return cls(interval=number(INTERVAL_KEY, "seconds"), keep={rule.setting: number(rule.setting, "days") for rule in RULES})


@dataclass(frozen=True)
class Rule:
    """One kind of row: what it is called, the setting of its age, and which of its rows may go."""

    name: str  # the key in a prune's counts
    label: str  # what ``flask specter prune`` calls it
    setting: str
    table: Table
    prunable: Callable[[dt.datetime], ColumnElement[bool]]  # given the cutoff: rows done and older
    counted: Callable[[dt.datetime], ColumnElement[bool]] | None = None  # a dry run's, when it differs


def _not_newest(table: Table) -> ColumnElement[bool]:
    """Not the table's newest row (SQLite would give its number out again)."""
    top = table.alias("top")
    return table.c.id < select(func.max(top.c.id)).scalar_subquery()


def _newer_of_same_sku(table: Table) -> ColumnElement[bool]:
    newer = table.alias("newer")
    return exists().where(newer.c.sku == table.c.sku, newer.c.id > table.c.id)


def _batches_fetched_before(cutoff: dt.datetime) -> Any:
    return select(BATCHES.c.id).where(BATCHES.c.fetched_at < cutoff)


def _history(cutoff: dt.datetime) -> ColumnElement[bool]:
    """Older than the cutoff, and not its SKU's newest entry."""
    return and_(HISTORY.c.created_at < cutoff, _newer_of_same_sku(HISTORY))


def _stock_rows(cutoff: dt.datetime) -> ColumnElement[bool]:
    """Applied before the cutoff, or (superseded, unknown: never applied) of a batch fetched before it; an
    unknown row only when a newer row of its SKU exists."""
    old = or_(
        and_(STOCK.c.applied_at.is_not(None), STOCK.c.applied_at < cutoff),
        and_(STOCK.c.applied_at.is_(None), STOCK.c.batch_id.in_(_batches_fetched_before(cutoff))),
    )
    listed = and_(STOCK.c.state == "unknown", ~_newer_of_same_sku(STOCK))
    return and_(STOCK.c.state.in_(("applied", "superseded", "unknown")), old, ~listed, _not_newest(STOCK))


def _article_rows(cutoff: dt.datetime) -> ColumnElement[bool]:
    """Applied or skipped, of a batch fetched before the cutoff, and no service article's."""
    service = sorted(service_article_nos())
    return and_(
        ARTICLES.c.state.in_(("applied", "skipped")), ARTICLES.c.batch_id.in_(_batches_fetched_before(cutoff)), ARTICLES.c.sku.not_in(service), _not_newest(ARTICLES)
    )


def _order_events(cutoff: dt.datetime) -> ColumnElement[bool]:
    return and_(ORDERS.c.state.in_(("applied", "unknown")), ORDERS.c.created_at < cutoff, _not_newest(ORDERS))


def _sent_rows(cutoff: dt.datetime) -> ColumnElement[bool]:
    """Sent before the cutoff, and no row of the same record is waiting, being sent or failed."""
    other = OUTBOX.alias("other")
    unfinished = exists().where(other.c.kind == OUTBOX.c.kind, other.c.ref == OUTBOX.c.ref, other.c.state.in_(("pending", "sending", "failed")))
    old = or_(and_(OUTBOX.c.sent_at.is_not(None), OUTBOX.c.sent_at < cutoff), and_(OUTBOX.c.sent_at.is_(None), OUTBOX.c.created_at < cutoff))
    return and_(OUTBOX.c.state == "sent", old, ~unfinished, _not_newest(OUTBOX))


def _batches(cutoff: dt.datetime) -> ColumnElement[bool]:
    """Confirmed before the cutoff, not its feed's newest, and no stored row refers to it (pruned first)."""
    unused = (BATCHES.c.id.not_in(select(rows.c.batch_id).where(rows.c.batch_id.is_not(None)).distinct()) for rows in (STOCK, ARTICLES, ORDERS))
    return and_(_old_batch(cutoff), *unused)


def _batches_counted(cutoff: dt.datetime) -> ColumnElement[bool]:
    """``_batches`` as a dry run counts them: every row referring to it would be pruned first.

    (The row rules' conditions never come out NULL, so ``~`` is their exact complement.)"""
    staying = (
        BATCHES.c.id.not_in(select(rows.c.batch_id).where(rows.c.batch_id.is_not(None), ~rule(cutoff)).distinct())
        for rows, rule in ((STOCK, _stock_rows), (ARTICLES, _article_rows), (ORDERS, _order_events))
    )
    return and_(_old_batch(cutoff), *staying)


def _old_batch(cutoff: dt.datetime) -> ColumnElement[bool]:
    newest = BATCHES.alias("newest")
    return and_(
        BATCHES.c.state == "confirmed",
        func.coalesce(BATCHES.c.confirmed_at, BATCHES.c.fetched_at) < cutoff,
        BATCHES.c.id.not_in(select(func.max(newest.c.id)).group_by(newest.c.feed)),
    )


def _callback_counts(cutoff: dt.datetime) -> ColumnElement[bool]:
    return COUNTS.c.hour < cutoff


# In this order: a batch goes once the rows referring to it are gone.
RULES: tuple[Rule, ...] = (
    Rule("history", "stock history (each SKU's newest entry kept)", "SPECTER_KEEP_HISTORY_DAYS", HISTORY, _history),
    Rule("stock_rows", "stock rows applied, superseded or unknown", "SPECTER_KEEP_APPLIED_DAYS", STOCK, _stock_rows),
    Rule("article_rows", "article rows applied or skipped", "SPECTER_KEEP_APPLIED_DAYS", ARTICLES, _article_rows),
    Rule("order_events", "order events applied or unknown", "SPECTER_KEEP_APPLIED_DAYS", ORDERS, _order_events),
    Rule("batches", "confirmed batches no row refers to", "SPECTER_KEEP_APPLIED_DAYS", BATCHES, _batches, _batches_counted),
    Rule("outbox_sent", "sent outbox rows", "SPECTER_KEEP_SENT_DAYS", OUTBOX, _sent_rows),
    Rule("callback_counts", "hourly counts of Specter's calls", "SPECTER_KEEP_CALLBACK_DAYS", COUNTS, _callback_counts),
)


@dataclass
class PruneResult:
    """Rows deleted (or, in a dry run, that would be) per rule; ``more`` when the time budget ran out first."""

    counts: dict[str, int] = field(default_factory=dict)
    cutoffs: dict[str, dt.datetime | None] = field(default_factory=dict)  # None: the rule keeps forever
    dry_run: bool = False
    more: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts, "dry_run": self.dry_run, "more": self.more}


def prune_now(*, dry_run: bool = False, chunk: int = CHUNK, budget: float | None = None, now: dt.datetime | None = None) -> PruneResult:
    """Prune every kind of row as the settings say; ``dry_run`` only counts what would go.

    ``budget`` (seconds) stops it between two statements once spent, after one chunk at least (``more``
    is then set); None runs to the end. ``chunk`` is the most rows one statement deletes.
    """
    state = get_state()
    session = state.db.session
    settings = PruneSettings.from_config(state.config)
    session.commit()  # what the caller began is not ours to hold across the statements
    deadline = None if budget is None else time.monotonic() + budget
    at = now or utcnow()
    result = PruneResult(dry_run=dry_run)
    for rule in RULES:
        days = settings.keep[rule.setting]
        cutoff = at - dt.timedelta(days=days) if days else None
        result.cutoffs[rule.name] = cutoff
        if cutoff is None:
            result.counts[rule.name] = 0
            continue
        if dry_run:
            result.counts[rule.name] = _count(session, rule, cutoff)
            continue
        result.counts[rule.name], result.more = _delete(session, rule, cutoff, chunk, deadline)
        if result.more:
            break
    if not dry_run and any(result.counts.values()):
        log.info("pruned %s", ", ".join(f"{n} {name}" for name, n in result.counts.items() if n) + (" (more to do)" if result.more else ""))
    return result


def _count(session: AnySession, rule: Rule, cutoff: dt.datetime) -> int:
    with reading_only():
        found = session.execute(select(func.count()).select_from(rule.table).where((rule.counted or rule.prunable)(cutoff))).scalar() or 0
    session.commit()
    return int(found)


def _delete(session: AnySession, rule: Rule, cutoff: dt.datetime, chunk: int, deadline: float | None) -> tuple[int, bool]:
    """Delete ``rule``'s rows a chunk at a time, oldest key first: (rows deleted, stopped by the deadline).

    The next chunk is read after the last key read: rows kept (a SKU's newest entry) are passed once."""
    table = rule.table
    keys = list(table.primary_key.columns)
    by_id = [c.name for c in keys] == ["id"]
    deleted, after = 0, None
    while True:
        where = rule.prunable(cutoff)
        pick = select(*keys).where(where)
        if by_id and after is not None:
            pick = pick.where(table.c.id > after)
        with reading_only():  # the read takes no lock on SQLite: the shop writes meanwhile
            found = [tuple(row) for row in session.execute(pick.order_by(*keys).limit(chunk))]
        session.commit()
        if not found:
            return deleted, False
        match = table.c.id.in_([row[0] for row in found]) if by_id else tuple_(*keys).in_(found)
        after = found[-1][0]
        with redoable_writes():  # a delete undone by a power cut is simply done again by the next prune
            outcome: Any = session.execute(delete(table).where(match, where))
            session.commit()
        deleted += int(outcome.rowcount or 0)
        if len(found) < chunk or not (by_id or outcome.rowcount):  # without an id to go on after, stop when none went
            return deleted, False
        if deadline is not None and time.monotonic() >= deadline:  # checked after a chunk: every job gets on
            return deleted, True
        time.sleep(PAUSE)


@job
def prune() -> dict[str, Any]:
    """The periodic prune (every ``SPECTER_PRUNE_INTERVAL``); a fresh job goes on where its budget ended."""
    result = prune_now(budget=JOB_BUDGET)
    if result.more:
        prune.enqueue()
    return result.as_dict()
