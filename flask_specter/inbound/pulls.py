"""Signal, then pull, then confirm: one pull at a time per feed, rows stored before the batch is confirmed.

A callback only sets a Redis flag and enqueues one pull job (``request_pull``). The pull job takes a
lease lock on the feed's row in the database (so any number of workers and shop processes serialise),
fetches with a fresh batchNo, stores every row, commits, and only then confirms the batch. Error 99
means an earlier batch is still open: it is fetched by its quoted number, stored and confirmed, never
discarded. After a non-empty batch the feed is fetched again until it is empty (paging, and the
changes that came after a recovered batch), at most SPECTER_MAX_BATCHES_PER_PULL batches a pull; a
batch Specter keeps open after confirming it stops the pull too. Then a later pull is scheduled.
A row that cannot be stored is refused (``feed_rows``) and the rest of its batch is stored and confirmed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any

from rq import Retry
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, aliased, scoped_session

from .. import signals
from ..backoff import backoff_delay, retry_while_database_away, rq_retry
from ..dbclock import db_epoch
from ..holders import holder_gone, lease_owner
from ..messages import PULL, explain
from ..models import Batch, FeedState, StockRow, utcnow
from ..queue import job
from ..redact import describe_exception
from ..remote import protocol
from ..remote.errors import ExplainedError, SpecterError, SpecterOpenBatchError
from ..remote.feed_stream import FeedStream
from ..state import get_state
from .articles import apply_articles
from .order_events import apply_order_events_job
from .row_values import ROW_MODEL, ROW_VALUES, stock_insert
from .stock_apply import ensure_apply_chain

log = logging.getLogger("flask_specter.pulls")

QUEUED_FLAG_TTL = 300.0
INSERT_PAGE = 2000  # rows a statement: what a pull holds at once, besides the set of numbers seen


def _flag(feed: str) -> str:
    return f"pull-queued:{feed}"


def _retry(config: Mapping[str, Any]) -> Retry | None:
    return rq_retry(config, int(config["SPECTER_PULL_RETRIES"]))


def request_pull(feed: str, *, delay: float = 0, requested_at: float | None = None) -> bool:
    """Enqueue one pull of ``feed`` unless one is already waiting; True when this call enqueued it.

    ``requested_at`` (epoch seconds, default now) is when the pull was asked for: Specter's callback, the
    catch-up pull or a button. Its batches keep it, so the status page can draw the lag to the applied row.
    """
    state = get_state()
    if feed not in protocol.FEEDS:
        raise ValueError(f"unknown feed {feed!r}")
    requested = time.time() if requested_at is None else requested_at
    return run_pull.enqueue_once(_flag(feed), feed, requested, ttl=QUEUED_FLAG_TTL, delay=delay, retry=_retry(state.config), queue=state.queue)


class FeedLock:
    """A lease on the feed's row: acquired with one conditional UPDATE, renewed while the pull runs."""

    def __init__(self, feed: str) -> None:
        self.feed = feed
        self.owner = lease_owner()  # the job's id: its retry takes back a lease the failure could not release
        state = get_state()
        self.session = state.db.session
        self.lease = float(state.config["SPECTER_LEASE_SECONDS"])

    def acquire(self) -> bool:
        now = db_epoch()  # the database's clock: a worker whose own clock is ahead never takes a held lease
        result: CursorResult[Any] = self.session.execute(
            update(FeedState)
            .where(FeedState.feed == self.feed)
            .where((FeedState.locked_until.is_(None)) | (FeedState.locked_until < now) | (FeedState.lock_owner == self.owner))
            .values(lock_owner=self.owner, locked_until=now + self.lease, last_pull_at=utcnow())
        )
        self.session.commit()
        return result.rowcount == 1 or self._take_over()

    def _take_over(self) -> bool:
        """The lease is held by a job RQ knows is not running (it failed, waits for its retry, its worker
        died): take it now rather than after ``SPECTER_LEASE_SECONDS``."""
        holder = self.session.execute(select(FeedState.lock_owner).where(FeedState.feed == self.feed)).scalar_one_or_none()
        self.session.commit()
        if holder is None or not holder_gone(holder):
            return False
        result: CursorResult[Any] = self.session.execute(
            update(FeedState)
            .where(FeedState.feed == self.feed, FeedState.lock_owner == holder)
            .values(lock_owner=self.owner, locked_until=db_epoch() + self.lease, last_pull_at=utcnow())
        )
        self.session.commit()
        if result.rowcount == 1:
            log.warning("%s feed: took over the pull lease of %s, which no longer runs", self.feed, holder)
        return result.rowcount == 1

    def renew(self) -> None:
        self.session.execute(
            update(FeedState).where(FeedState.feed == self.feed, FeedState.lock_owner == self.owner).values(locked_until=db_epoch() + self.lease)
        )

    def release(self) -> None:
        """Give the lease back; when the database is what failed this cannot be written, and the lease is
        then taken back by this job's retry or over by the next pull (``_take_over``), not waited out."""
        try:
            self.session.rollback()
            self.session.execute(
                update(FeedState).where(FeedState.feed == self.feed, FeedState.lock_owner == self.owner).values(lock_owner=None, locked_until=None)
            )
            self.session.commit()
        except Exception as exc:
            self.session.rollback()
            log.warning("%s feed: pull lease not released (%s); it is taken over when the pull runs again", self.feed, type(exc).__name__)


class PullHalted(ExplainedError):
    """The pull stopped on purpose (too many batches, a batch Specter keeps open); it runs again later."""


@job
def run_pull(feed: str, requested_at: float | None = None) -> dict[str, Any]:
    """The pull job: drain ``feed`` from Specter into our tables, confirming each batch once stored.

    Every failure, of any kind, is recorded on the feed (``last_error``, ``failures``) for the admin.
    ``requested_at`` (epoch seconds) is when the pull was asked for; None means now.
    """
    state = get_state()
    state.queue.clear_flag(_flag(feed))  # a callback from now on queues one more pull
    try:
        switched_off = _switched_off(feed)
        if switched_off:
            return {"feed": feed, "skipped": switched_off}  # Specter keeps its flags until it is switched on
        lock = FeedLock(feed)
        acquired = lock.acquire()
    except Exception as exc:
        retry_while_database_away(exc)
        raise
    if not acquired:
        request_pull(feed, delay=1.0, requested_at=requested_at)  # another pull runs; look again when it is done
        return {"feed": feed, "skipped": "locked"}
    summary: dict[str, Any] = {"feed": feed, "batches": 0, "rows": 0, "refused": 0}
    asked = dt.datetime.fromtimestamp(requested_at, dt.UTC).replace(tzinfo=None) if requested_at else utcnow()
    try:
        _drain(feed, lock, summary, asked)
        _record_success(feed)
    except PullHalted as exc:
        delay = _record_failure(feed, exc)
        request_pull(feed, delay=delay)
        summary["error"] = failure_text(exc)
    except SpecterError as exc:
        _record_failure(feed, exc)
        if exc.transient:
            raise  # RQ retries with back-off; nothing was confirmed
        summary["error"] = failure_text(exc)
    except Exception as exc:
        _record_failure(feed, exc)
        retry_while_database_away(exc)
        raise  # a fault of ours or of the database: RQ retries it, and the admin sees it meanwhile
    finally:
        lock.release()
    _after_pull(feed)
    return summary


def _drain(feed: str, lock: FeedLock, summary: dict[str, Any], asked: dt.datetime) -> None:
    """Fetch, store, confirm until the feed is empty, at most SPECTER_MAX_BATCHES_PER_PULL batches."""
    state = get_state()
    limit = max(1, int(state.config.get("SPECTER_MAX_BATCHES_PER_PULL") or 100))
    kept_open = 0
    began: dt.datetime | None = None
    _confirm_stored(feed, summary)
    for _ in range(limit):
        lock.renew()
        fetched, recovered, requested_at = _fetch(feed)
        began = began or requested_at
        with fetched:  # the spooled answer is dropped whatever happens
            if recovered and _was_confirmed(feed, fetched.batch_no):
                kept_open += 1  # Specter answered our confirm but still holds the batch open
                if kept_open > 1:
                    raise PullHalted(
                        f"Specter bekräftade batch {fetched.batch_no} men håller den fortfarande öppen; "
                        "hämtningen avbröts och görs om senare."
                    )
            if fetched.empty:
                # An empty fetch opens no batch, but confirm anyway: harmless, and closes a recovered one.
                if recovered:
                    state.client.confirm(feed, fetched.batch_no)
                if feed == "stock" and _stock_drained(began):
                    continue  # Specter queued every article again (a SKU came twice): fetch them
                return
            batch_row, stored, refused = _store(feed, fetched, recovered, requested_at, asked=asked)
        _confirm(feed, batch_row)
        if feed == "stock":
            ensure_apply_chain()  # now, not after the trailing fetch: another worker can start applying
        summary["batches"] += 1
        summary["rows"] += stored
        summary["refused"] += len(refused)
    raise PullHalted(
        f"Hämtningen stoppades efter {limit} batcher (SPECTER_MAX_BATCHES_PER_PULL) och fortsätter i en ny hämtning."
    )


def _stock_drained(began: dt.datetime) -> bool:
    """The stock feed is empty: re-read SKUs that came twice (True: go on fetching), else release the
    reservations whose orders the newest figures now include."""
    from ..stock import cover_acknowledged
    from .feed_rows import reread_duplicated_stock

    if reread_duplicated_stock():
        return True
    cover_acknowledged(began)
    return False


def _was_confirmed(feed: str, batch_no: str) -> bool:
    session = get_state().db.session
    found: str | None = session.execute(select(Batch.state).where(Batch.feed == feed, Batch.batch_no == batch_no)).scalar_one_or_none()
    return found == "confirmed"


def _switched_off(feed: str) -> str | None:
    settings = get_state().settings
    if feed == "stock" and not settings.get("stock_sync"):
        return "Lagersynk från Specter is off"
    if feed == "articles" and not settings.get("import_products"):
        return "Importera produkter från Specter is off"
    return None


def _fetch(feed: str) -> tuple[FeedStream, bool, dt.datetime]:
    """One fetch: (batch, read as it is stored; recovered through error 99; when the request was sent)."""
    state = get_state()
    kwargs: dict[str, Any] = {}
    if feed == "stock":
        sites = [s.strip() for s in str(state.config.get("SPECTER_STOCK_SITES") or "").split(",") if s.strip()]
        if sites:
            kwargs["sites"] = sites
    batch_no = protocol.new_batch_no()
    requested_at = utcnow()  # Specter froze the batch after this moment (7.5: reservations)
    try:
        return state.client.open_feed(feed, batch_no, **kwargs), False, requested_at
    except SpecterOpenBatchError as exc:
        if not exc.batch_no:
            raise
        log.warning("%s feed: batch %s was left open; recovering it", feed, exc.batch_no)
        return state.client.open_feed(feed, exc.batch_no, **kwargs), True, requested_at


def _store(
    feed: str, fetched: FeedStream, recovered: bool, requested_at: dt.datetime | None = None, *, asked: dt.datetime | None = None
) -> tuple[Batch, int, list[Any]]:
    """Store a batch's rows in one transaction as they are read, INSERT_PAGE rows a statement; a batch
    stored before (refetched) is not stored twice. Returns the batch, the rows stored and those refused.

    Rows that cannot be stored are refused (recorded with their reason) and the rest goes on; a number
    sent twice is removed once the batch is read. An error while reading rolls everything back.
    ``fetched_at`` is when the request was sent: the batch holds Specter's figures of a later moment;
    ``asked`` is when the pull was asked for (``Batch.requested_at``).
    """
    from .feed_rows import record_refusals, screen, summary_text

    session = get_state().db.session
    existing = session.execute(select(Batch).where(Batch.feed == feed, Batch.batch_no == fetched.batch_no)).scalar_one_or_none()
    if existing is not None:
        return existing, existing.rows, []
    batch = Batch(
        feed=feed, batch_no=fetched.batch_no, rows=0, recovered=recovered, state="stored",
        fetched_at=requested_at or utcnow(), requested_at=asked or requested_at,
    )
    session.add(batch)
    session.flush()
    model = ROW_MODEL[feed]
    try:
        screened = screen(feed, fetched)
        store = stock_insert(session) if feed == "stock" else None
        for page in screened.pages(INSERT_PAGE):
            values = [ROW_VALUES[feed](batch.id, item) for item in page]
            if store is not None:
                store.run(session, values)
            else:
                session.execute(insert(model), values)
        duplicates = screened.duplicates
        if duplicates:
            screened.refuse_duplicates(_remove_duplicates(session, feed, batch.id, duplicates))
        if feed == "stock" and screened.stored:
            _supersede_older(session, batch.id)
        batch.rows = screened.stored
        batch.error = summary_text(screened.refused)
        record_refusals(session, feed, fetched.batch_no, screened.refused)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return batch, screened.stored, screened.refused


def _remove_duplicates(session: Session | scoped_session[Any], feed: str, batch_id: int, keys: set[str]) -> dict[str, list[Any]]:
    """Delete the stored rows of numbers sent twice; returns each one's stored figures (stock: available)."""
    model: Any = ROW_MODEL[feed]
    figure = model.available if feed == "stock" else model.id
    found: dict[str, list[Any]] = {}
    listed = sorted(keys)
    for i in range(0, len(listed), 500):
        part = listed[i : i + 500]
        for sku, value in session.execute(select(model.sku, figure).where(model.batch_id == batch_id, model.sku.in_(part)).order_by(model.id)):
            found.setdefault(sku, []).append(value)
        session.execute(delete(model).where(model.batch_id == batch_id, model.sku.in_(part)).execution_options(synchronize_session=False))
    return found


def _supersede_older(session: Session | scoped_session[Any], batch_id: int) -> None:
    """Older pending rows of a SKU this batch holds are never applied: the newer figure wins.

    Only pending rows are looked at (the state index), each one's SKU matched by the SKU index: the
    cost follows the backlog, not the table of every row ever stored; with no backlog it is one probe.
    """
    older = (StockRow.state == "pending", StockRow.batch_id < batch_id)
    if session.execute(select(StockRow.id).where(*older).limit(1)).first() is None:
        return
    newer = aliased(StockRow)
    same_sku_newer = select(newer.id).where(newer.sku == StockRow.sku, newer.batch_id == batch_id).exists()
    session.execute(update(StockRow).where(*older, same_sku_newer).values(state="superseded").execution_options(synchronize_session=False))


def _confirm(feed: str, batch: Batch) -> None:
    state = get_state()
    state.client.confirm(feed, batch.batch_no)
    batch.state = "confirmed"
    batch.confirmed_at = utcnow()
    state.db.session.commit()
    signals.batch_confirmed.send(state.app, feed=feed, batch_no=batch.batch_no, rows=batch.rows)


def _confirm_stored(feed: str, summary: dict[str, Any]) -> None:
    """A batch stored by a pull that died before confirming: confirm it now (its rows are safe)."""
    session = get_state().db.session
    for batch in session.execute(select(Batch).where(Batch.feed == feed, Batch.state == "stored").order_by(Batch.id)).scalars().all():
        _confirm(feed, batch)
        summary["batches"] += 1


def _record_success(feed: str) -> None:
    session = get_state().db.session
    session.execute(update(FeedState).where(FeedState.feed == feed).values(last_success_at=utcnow(), last_error=None, failures=0))
    session.commit()


def _record_failure(feed: str, exc: Exception) -> float:
    """Write why the pull failed on the feed; returns the back-off before the next try (seconds)."""
    state = get_state()
    session = state.db.session
    text = failure_text(exc)
    try:
        session.rollback()
        session.execute(
            update(FeedState)
            .where(FeedState.feed == feed)
            .values(last_error=text[:2000], last_error_at=utcnow(), failures=FeedState.failures + 1)
        )
        session.commit()
        failures = session.execute(select(FeedState.failures).where(FeedState.feed == feed)).scalar() or 1
        session.commit()
    except Exception:  # the database itself is what failed: the log is all we have
        session.rollback()
        failures = 1
    log.warning("%s pull failed: %s", feed, describe_exception(exc))  # the technical detail; the admin reads ``text``
    return backoff_delay(failures, state.config)


def failure_text(exc: Exception) -> str:
    """Why a pull failed, for the status page (``messages.explain``: never SQL or its parameters)."""
    return explain(exc, PULL)


def _after_pull(feed: str) -> None:
    if feed == "stock":
        ensure_apply_chain()
    elif feed == "articles":
        apply_articles.enqueue()
    else:
        apply_order_events_job.enqueue()
