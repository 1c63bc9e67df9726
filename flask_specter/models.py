"""The extension's own tables: settings, feed state, batches, stored stock rows, history, outbox.

They live on their own ``MetaData`` (not the host's), public as ``flask_specter.metadata``
(``Base.metadata``), and are used through the host's engine and ``db.session``. The host creates them with
the shipped Alembic revisions (``flask_specter/migrations``), ``flask specter create-tables`` or
``init_app(..., create_tables=True)``; a change here needs a new revision in ``migrations/versions``.
Remaining work is kept here, never only in Redis, so a Redis restart costs time and never data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, scoped_session

from .sku import SKU_MAX_LENGTH

# Column lengths: a SKU column holds exactly what Specter takes as an articleNo (the shop refuses longer
# SKUs when a product is saved, see sku.py); a reference column holds a SKU or a shop/Specter id.
SKU_LENGTH = SKU_MAX_LENGTH
REF_LENGTH = max(64, SKU_LENGTH)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class SettingRow(Base):
    """One admin toggle of "Inställningar & Design > Specter" (see ``settings.py`` for the list)."""

    __tablename__ = "specter_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class FeedState(Base):
    """Per feed: a lease lock so one pull runs at a time across processes, and what happened last."""

    __tablename__ = "specter_feed_state"
    feed: Mapped[str] = mapped_column(String(16), primary_key=True)
    lock_owner: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[float | None] = mapped_column(Float)
    pull_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    last_pull_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_callback_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # unused: see CallbackLog
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class CallbackLog(Base):
    """Per callback route ("unknown" for a wrong address): Specter's last accepted and last refused call.

    Its own table, not ``FeedState``: a pull holds the feed's row locked while it talks to Specter, and
    a callback must never wait for that. Written at most once per second per process (``callback_log``).
    """

    __tablename__ = "specter_callback_log"
    route: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_refused_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_refused_reason: Mapped[str | None] = mapped_column(String(255))


class CallbackCount(Base):
    """How many of Specter's calls were accepted and refused per route and hour (the status page's chart).

    Counted in memory per process and added here with the throttled write of ``callback_log`` (at most
    once a second), never on the callback's own path.
    """

    __tablename__ = "specter_callback_counts"
    hour: Mapped[dt.datetime] = mapped_column(DateTime, primary_key=True)  # UTC, cut to the hour
    route: Mapped[str] = mapped_column(String(32), primary_key=True)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)


class Batch(Base):
    """A Specter batch we fetched: stored first, confirmed after, so Specter's flags clear only when safe."""

    __tablename__ = "specter_batches"
    __table_args__ = (UniqueConstraint("feed", "batch_no", name="uq_specter_batch_feed_no"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed: Mapped[str] = mapped_column(String(16))
    batch_no: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="stored")  # stored | confirmed | failed
    rows: Mapped[int] = mapped_column(Integer, default=0)
    recovered: Mapped[bool] = mapped_column(Boolean, default=False)  # fetched through error 99
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)
    # When the pull that fetched it was asked for (Specter's callback, the catch-up pull, a button):
    # the start of the lag the status page draws.
    requested_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class StockRow(Base):
    """A stock figure waiting to be applied (the seed's "options table"), taken chunk by chunk."""

    __tablename__ = "specter_stock_rows"
    __table_args__ = (
        Index("ix_specter_stock_rows_state_id", "state", "id"),
        Index("ix_specter_stock_rows_sku_state", "sku", "state"),
        Index("ix_specter_stock_rows_claim", "claim_token"),
        Index("ix_specter_stock_rows_applied_at", "applied_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("specter_batches.id"))
    sku: Mapped[str] = mapped_column(String(SKU_LENGTH))
    available: Mapped[int] = mapped_column(Integer)
    in_stock: Mapped[int | None] = mapped_column(Integer)
    # pending | applied | unknown (SKU not in the shop) | superseded (a newer batch has this SKU)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    claim_token: Mapped[str | None] = mapped_column(String(32))  # which chunk transaction took the row
    applied_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class StockLevel(Base):
    """Specter's latest known figure per SKU and the batch it came from: older batches never win."""

    __tablename__ = "specter_stock_levels"
    sku: Mapped[str] = mapped_column(String(SKU_LENGTH), primary_key=True)
    available: Mapped[int] = mapped_column(Integer)
    in_stock: Mapped[int | None] = mapped_column(Integer)
    batch_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StockHistory(Base):
    """Every stock change the connector makes, so an admin can answer "why does this show 3?"."""

    __tablename__ = "specter_stock_history"
    __table_args__ = (Index("ix_specter_stock_history_sku", "sku", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(SKU_LENGTH))
    old: Mapped[int | None] = mapped_column(Integer)
    new: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # specter | order | initial | refused
    batch_no: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class UnexplainedStock(Base):
    """A stock change the shop made on a Specter-managed product that no order of its transaction
    explains (a manual edit, a return, a script): let through, shown on the status page, and replaced
    by Specter's next figure for the SKU."""

    __tablename__ = "specter_stock_unexplained"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(SKU_LENGTH), index=True)
    old: Mapped[int | None] = mapped_column(Integer)
    new: Mapped[int | None] = mapped_column(Integer)
    unexplained: Mapped[int] = mapped_column(Integer)  # the part of new - old no order explains
    detail: Mapped[str | None] = mapped_column(String(255))  # where: the request's method and path, or "no request"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Reservation(Base):
    """Quantity of a shop order Specter has not acknowledged yet; subtracted from Specter's figure."""

    __tablename__ = "specter_reservations"
    __table_args__ = (Index("ix_specter_reservations_sku", "sku"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_ref: Mapped[str] = mapped_column(String(REF_LENGTH), index=True)
    sku: Mapped[str] = mapped_column(String(SKU_LENGTH))
    qty: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class OutboxEntry(Base):
    """A change to push to Specter, written in the same transaction as the shop's own change."""

    __tablename__ = "specter_outbox"
    __table_args__ = (
        Index("ix_specter_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_specter_outbox_state_id", "state", "id"),  # the claim's walk over waiting rows, oldest first
        Index("ix_specter_outbox_ref", "kind", "ref"),
        Index("ix_specter_outbox_sent_at", "sent_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # product | customer | order
    op: Mapped[str] = mapped_column(String(16))  # create | update | delete
    ref: Mapped[str] = mapped_column(String(REF_LENGTH))  # SKU, customer id or order id in the shop
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # only what a delete needs once the row is gone
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    remote_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(255))  # why a row was "sent" without a call (toggle off, gone)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # when it last failed for good
    # The order or a line of it changed while this row was being sent: a "not ready" answer of that
    # attempt may have read the order before the change, so the row is due again at once.
    woken_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Link(Base):
    """Binding between a shop record and its Specter twin (customer number, order number, article)."""

    __tablename__ = "specter_links"
    __table_args__ = (UniqueConstraint("kind", "local_id", name="uq_specter_link"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # product | customer | order
    local_id: Mapped[str] = mapped_column(String(REF_LENGTH))
    remote_id: Mapped[str] = mapped_column(String(REF_LENGTH))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ExportRun(Base):
    """A first-installation export (products, products with stock, customers), resumable by cursor."""

    __tablename__ = "specter_export_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(12), default="running")  # running | done | failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[str | None] = mapped_column(String(REF_LENGTH))
    error: Mapped[str | None] = mapped_column(Text)  # why the run stopped (Specter unreachable, ...)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ExportFailure(Base):
    __tablename__ = "specter_export_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("specter_export_runs.id"), index=True)
    ref: Mapped[str] = mapped_column(String(REF_LENGTH))
    error: Mapped[str] = mapped_column(Text)


class ArticleRow(Base):
    """Article data pulled from Specter, stored before its batch is confirmed, applied after."""

    __tablename__ = "specter_article_rows"
    __table_args__ = (Index("ix_specter_article_rows_state_id", "state", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("specter_batches.id"))
    sku: Mapped[str] = mapped_column(String(SKU_LENGTH))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending | applied | skipped | failed
    detail: Mapped[str | None] = mapped_column(String(255))


class OrderEvent(Base):
    """Order status, delivery, removal and invoice news from Specter, stored before confirming."""

    __tablename__ = "specter_order_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("specter_batches.id"))
    order_no: Mapped[str] = mapped_column(String(64))
    external_order_no: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    detail: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RefusedRow(Base):
    """A row of a Specter batch that could not be stored as sent (invalid, or duplicated in its batch).

    The rest of the batch is stored and confirmed; this row is kept here, with its reason, for the admin.
    ``ref`` is the article or order number as sent, made printable and cut to fit.
    """

    __tablename__ = "specter_refused_rows"
    __table_args__ = (Index("ix_specter_refused_rows_feed_ref", "feed", "ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed: Mapped[str] = mapped_column(String(16))
    batch_no: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # invalid | duplicate
    reason: Mapped[str] = mapped_column(String(500))
    reread_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # when a re-read from Specter was asked for
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ReservationAck(Base):
    """Specter acknowledged this order at ``acknowledged_at``: its reservations are released SKU by SKU
    only by a stock figure known to include it: one fetched after that moment, or the newest figure
    stored by a complete pull of the stock feed that began after it (``covered_batch_id``)."""

    __tablename__ = "specter_reservation_acks"
    order_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    acknowledged_at: Mapped[dt.datetime] = mapped_column(DateTime)
    covered_batch_id: Mapped[int | None] = mapped_column(Integer)


# -- links: what our records are called in Specter ---------------------------------------------------


def conflict_insert(session: Session | scoped_session[Session], model: type[Base]) -> Any | None:
    """An INSERT into ``model``'s table that knows ``ON CONFLICT`` (PostgreSQL, SQLite), or None elsewhere."""
    dialect = session.get_bind(mapper=model.__mapper__).dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model)
    return None


_LINK_UPSERTS: dict[str, Any] = {}  # dialect name -> the upsert, built once (building it cost more than running it)


def _link_upsert(session: Session | scoped_session[Session]) -> Any | None:
    """``INSERT … ON CONFLICT (kind, local_id) DO UPDATE`` of a link, as a Core statement with bound values."""
    dialect = session.get_bind(mapper=Link.__mapper__).dialect.name
    stmt = _LINK_UPSERTS.get(dialect)
    if stmt is None:
        insert_ = conflict_insert(session, Link)
        if insert_ is None:
            return None
        insert_ = insert_.values(
            kind=bindparam("kind"), local_id=bindparam("local_id"), remote_id=bindparam("remote_id"), updated_at=bindparam("now", type_=DateTime())
        )
        stmt = insert_.on_conflict_do_update(index_elements=["kind", "local_id"], set_={"remote_id": insert_.excluded.remote_id, "updated_at": insert_.excluded.updated_at})
        _LINK_UPSERTS[dialect] = stmt
    return stmt


def upsert_link(session: Session | scoped_session[Session], kind: str, local_id: str, remote_id: str) -> None:
    """Remember that our ``kind``/``local_id`` is ``remote_id`` in Specter (one row per local id)."""
    upsert_links(session, [(kind, local_id, remote_id)])


def upsert_links(session: Session | scoped_session[Session], links: list[tuple[str, str, str]]) -> None:
    """``upsert_link`` for several (kind, local id, remote id) at once.

    On PostgreSQL and SQLite one ``INSERT … ON CONFLICT DO UPDATE``, built once and run on the session's
    connection for all of them (the drain writes a link per row sent; the ORM's handling of the statement
    cost more than the statement); elsewhere a SELECT and an INSERT or UPDATE each. Links are never
    loaded as objects elsewhere, so the statement leaves no stale object in the session.
    """
    if not links:
        return
    stmt = _link_upsert(session)
    if stmt is not None:
        now = utcnow()
        params = [{"kind": kind, "local_id": local_id, "remote_id": str(remote_id), "now": now} for kind, local_id, remote_id in links]
        session.connection().execute(stmt, params)
        return
    for kind, local_id, remote_id in links:
        link = session.execute(select(Link).where(Link.kind == kind, Link.local_id == local_id)).scalar_one_or_none()
        if link is None:
            session.add(Link(kind=kind, local_id=local_id, remote_id=str(remote_id)))
        else:
            link.remote_id = str(remote_id)
            link.updated_at = utcnow()


def linked(session: Session | scoped_session[Session], kind: str, local_id: str) -> str | None:
    """Specter's id for our ``kind``/``local_id``, or None when it never got there."""
    remote_id: str | None = session.execute(select(Link.remote_id).where(Link.kind == kind, Link.local_id == local_id)).scalar_one_or_none()
    return remote_id
