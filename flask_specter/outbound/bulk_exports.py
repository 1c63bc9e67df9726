"""First-installation exports: every product (with its stock) and every customer, to Specter.

A run is a row (``ExportRun``) with a cursor: each job sends the next page of 100 and queues the next,
so a run survives a dead worker or a restart and continues where it stopped. Articles go with
``forceArticleUpdate=0`` so articles Specter already has keep their data; a page Specter refuses as a
whole is sent again row by row, to name the bad rows in the run's report.

Stock: every article row carries the shop's stock as ``createArticleStock``/``noItemsInStock``.
Specter's API has no call that sets the stock of an article it already has: it applies that initial
stock only when it creates the article (specter-contract.md §6), and is the stock master after that.
So the one product export creates each missing article WITH the shop's stock, and running it again
changes nothing. (An earlier version had a products export without stock and a separate
``products_stock`` export; the second then found every article already created at 0 and skipped it.
``products_stock`` is kept as another name for ``products``.)

No page code here: the admin's "Exporter" page (``admin/export_page.py``) and ``flask specter export``
start runs with ``start_export``/``run_inline`` and show ``progress``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update

from ..messages import EXPORT, explain
from ..models import ExportFailure, ExportRun, upsert_link, utcnow
from ..queue import job
from ..redact import redact
from ..remote.errors import SpecterAuthError, SpecterConfigError, SpecterError
from ..state import get_state
from . import wire

log = logging.getLogger("flask_specter.exports")

PAGE_SIZE = 100
KINDS = ("products", "customers")
ALIASES = {"products_stock": "products"}  # the old name of the stock export: the same export now
LABELS = {"products": "Produkter", "customers": "Kunder", "products_stock": "Produkter"}
UNFINISHED = ("running", "failed")


class ExportInterrupted(Exception):
    """Specter could not be reached mid-page; the run keeps its cursor and continues on the next try.

    ``stops``: Specter refused the credentials (or they are missing). No row can pass until a person
    fixes them, so the run stops at the first such answer instead of failing every row and page.
    """

    def __init__(self, cause: SpecterError):
        super().__init__(str(cause))
        self.cause = cause

    @property
    def stops(self) -> bool:
        return _stops(self.cause)


def _stops(exc: SpecterError) -> bool:
    """An error that no row can get past: wrong or missing credentials."""
    return isinstance(exc, (SpecterAuthError, SpecterConfigError))


def _check_kind(kind: str) -> str:
    kind = kind.replace("-", "_")
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind!r}; choose one of {', '.join(KINDS)}")
    return kind


# -- reading the shop in pages ----------------------------------------------------------------------


def _count(kind: str) -> int:
    state = get_state()
    adapter, session = state.adapter, state.db.session
    model = adapter.customer_model if kind == "customers" else adapter.product_model
    if model is not None and hasattr(model, "__table__"):
        count: int = session.execute(select(func.count()).select_from(model)).scalar_one()
        return count
    return sum(1 for _ in (adapter.iter_customers() if kind == "customers" else adapter.iter_products()))


def _page(kind: str, cursor: str | None, size: int) -> list[tuple[str, Any]]:
    """(cursor key, record) pairs after ``cursor``: products by SKU, customers by id."""
    state = get_state()
    adapter, session = state.adapter, state.db.session
    if kind == "customers":
        model = adapter.customer_model
        if model is not None and hasattr(model, "id"):
            stmt = select(model).order_by(model.id).limit(size)
            if cursor is not None:
                stmt = stmt.where(model.id > int(cursor))
            return [(str(c.id), c) for c in session.execute(stmt).scalars()]
        items = sorted(((adapter.customer_ref(c), c) for c in adapter.iter_customers()), key=lambda kc: int(kc[0]))
        return [kc for kc in items if cursor is None or int(kc[0]) > int(cursor)][:size]
    model, sku_attr = adapter.product_model, adapter.product_attribute("sku")
    if model is not None and sku_attr and hasattr(model, sku_attr):
        col = getattr(model, sku_attr)
        stmt = select(model).order_by(col).limit(size)
        if cursor is not None:
            stmt = stmt.where(col > cursor)
        return [(adapter.product_sku(p), p) for p in session.execute(stmt).scalars()]
    items = sorted(((adapter.product_sku(p), p) for p in adapter.iter_products()), key=lambda kp: kp[0])
    return [kp for kp in items if cursor is None or kp[0] > cursor][:size]


# -- sending one page -------------------------------------------------------------------------------


def _article_rows(products: list[tuple[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Each row with the shop's stock: Specter sets it on the articles it creates and ignores it on the rest."""
    adapter = get_state().adapter
    return [(sku, wire.article_fields(adapter.product_record(product), with_stock=True)) for sku, product in products]


def _send_articles(page: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Send a page in one call; if Specter refuses it as a whole, row by row. Returns (sku, why) failures."""
    state = get_state()
    rows = _article_rows(page)
    try:
        state.client.submit_articles([r for _sku, r in rows], force_update=False)
        sent, failures = [sku for sku, _r in rows], list[tuple[str, str]]()
    except SpecterError as exc:
        if exc.transient or _stops(exc):
            raise ExportInterrupted(exc) from exc
        sent, failures = [], []
        for sku, row in rows:
            try:
                state.client.submit_articles([row], force_update=False)
                sent.append(sku)
            except SpecterError as row_exc:
                if row_exc.transient or _stops(row_exc):
                    raise ExportInterrupted(row_exc) from row_exc
                failures.append((sku, explain(row_exc, EXPORT)))
    for sku in sent:  # the article exists in Specter now: Specter is its stock master
        upsert_link(state.db.session, "product", sku, sku)
    return failures


def _send_customers(page: list[tuple[str, Any]]) -> tuple[list[tuple[str, str]], int, SpecterError | None]:
    """One newCustomerSubmit per customer: (failures, how many were handled, the transient or credentials error that stopped it)."""
    from .exporters import send_customer

    failures: list[tuple[str, str]] = []
    for handled, (key, customer) in enumerate(page):
        try:
            send_customer(get_state(), customer)
        except SpecterError as exc:
            if exc.transient or _stops(exc):
                return failures, handled, exc
            failures.append((key, explain(exc, EXPORT)))
    return failures, len(page), None


def _advance(run_id: int, old_cursor: str | None, new_cursor: str, done: int, failures: list[tuple[str, str]], finished: bool) -> bool:
    """Move the cursor only if nobody else did (two jobs on one run never count a page twice)."""
    session = get_state().db.session
    cond = ExportRun.cursor.is_(None) if old_cursor is None else ExportRun.cursor == old_cursor
    values: dict[str, Any] = {"cursor": new_cursor, "done": ExportRun.done + done, "failed": ExportRun.failed + len(failures), "error": None}
    if finished:
        values.update(state="done", finished_at=utcnow())
    result = session.execute(update(ExportRun).where(ExportRun.id == run_id, cond).values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        session.rollback()
        return False
    for ref, why in failures:
        session.add(ExportFailure(run_id=run_id, ref=ref, error=why))
    session.commit()
    return True


def _interrupt(run_id: int, exc: SpecterError, *, final: bool) -> None:
    session = get_state().db.session
    session.rollback()
    if _stops(exc):
        final = True
        text = explain(exc, EXPORT) + " Exporten stoppades vid första nekade anropet; rätta inställningarna och starta den igen, den fortsätter där den slutade."
    else:
        text = explain(exc, EXPORT) + (" Exporten fortsätter där den slutade när du startar den igen." if final else " Nytt försök görs strax.")
    session.execute(update(ExportRun).where(ExportRun.id == run_id).values(error=text, **({"state": "failed"} if final else {})))
    session.commit()
    log.warning("export %s interrupted: %s", run_id, redact(text))


def send_next_page(run_id: int) -> dict[str, Any]:
    """Send the page after the run's cursor and advance it; raises ``ExportInterrupted`` on a transient error."""
    state = get_state()
    session = state.db.session
    run = session.get(ExportRun, run_id)
    if run is None or run.state != "running":
        return {"run": run_id, "skipped": run.state if run else "missing"}
    cursor, kind = run.cursor, run.kind
    page = _page(kind, cursor, PAGE_SIZE)
    if not page:
        session.execute(update(ExportRun).where(ExportRun.id == run_id, ExportRun.state == "running").values(state="done", finished_at=utcnow()))
        session.commit()
        return {"run": run_id, "sent": 0, "state": "done"}
    if kind == "customers":
        failures, handled, stopped = _send_customers(page)
        if stopped is not None:
            if handled:  # keep what went through; the next try starts at the customer that failed
                _advance(run_id, cursor, page[handled - 1][0], handled, failures, False)
            raise ExportInterrupted(stopped)
    else:
        failures = _send_articles(page)
    finished = len(page) < PAGE_SIZE
    _advance(run_id, cursor, page[-1][0], len(page), failures, finished)
    return {"run": run_id, "sent": len(page) - len(failures), "failed": len(failures), "state": "done" if finished else "running"}


@job
def run_export_page(run_id: int) -> dict[str, Any]:
    """The export job: one page, then the next job; a transient failure is retried by RQ, then reported."""
    from rq import get_current_job

    try:
        result = send_next_page(run_id)
    except ExportInterrupted as exc:
        job = get_current_job()
        final = exc.stops or not (job is not None and (job.retries_left or 0) > 0)
        _interrupt(run_id, exc.cause, final=final)
        if final:
            return {"run": run_id, "state": "failed", "error": str(exc)}
        raise  # RQ runs this page again after its back-off
    if result.get("state") == "running":
        _enqueue(run_id)
    return result


def _enqueue(run_id: int) -> None:
    from ..backoff import rq_retry

    state = get_state()
    retry = rq_retry(state.config, int(state.config["SPECTER_PUSH_RETRIES"]))
    run_export_page.enqueue(run_id, retry=retry, queue=state.queue)


def start_export(kind: str, *, restart: bool = False, enqueue: bool = True) -> ExportRun:
    """Start (or resume, unless ``restart``) an export of ``kind``; the jobs do the sending."""
    kind = _check_kind(kind)
    session = get_state().db.session
    run = latest_run(kind)
    if run is not None and run.state in UNFINISHED and not restart:
        run.state, run.error = "running", None
    else:
        if run is not None and run.state in UNFINISHED:
            run.state, run.error = "failed", "Ersatt av en ny export."
        run = ExportRun(kind=kind, state="running", total=_count(kind), done=0, failed=0)
        session.add(run)
    session.commit()
    if enqueue:
        _enqueue(run.id)
    return run


def run_inline(kind: str, *, restart: bool = False, on_page: Callable[[ExportRun], None] | None = None) -> ExportRun:
    """Run a whole export in this process (``flask specter export``), retrying transient errors."""
    state = get_state()
    run = start_export(kind, restart=restart, enqueue=False)
    run_id, tries = run.id, 0
    retries = int(state.config["SPECTER_PUSH_RETRIES"])
    while True:
        try:
            result = send_next_page(run_id)
            tries = 0
        except ExportInterrupted as exc:
            tries += 1
            final = exc.stops or tries > retries
            _interrupt(run_id, exc.cause, final=final)
            if final:
                break
            from ..backoff import backoff_delay

            time.sleep(backoff_delay(tries, state.config, jitter=True))
            continue
        run = state.db.session.get(ExportRun, run_id)
        if on_page:
            on_page(run)
        if result.get("state") != "running":
            break
    last: ExportRun = state.db.session.get(ExportRun, run_id)
    return last


# -- progress ---------------------------------------------------------------------------------------


def latest_run(kind: str) -> ExportRun | None:
    session = get_state().db.session
    run: ExportRun | None = session.execute(select(ExportRun).where(ExportRun.kind == _check_kind(kind)).order_by(ExportRun.id.desc()).limit(1)).scalar_one_or_none()
    return run


def progress(run: ExportRun | None, *, failures: int = 200) -> dict[str, Any]:
    """What the admin's export page and the CLI show: counts, percent and the per-row report."""
    if run is None:
        return {"state": "none", "total": 0, "done": 0, "failed": 0, "percent": 0, "failures": []}
    total = run.total or 0
    return {
        "id": run.id,
        "kind": run.kind,
        "state": run.state,
        "total": total,
        "done": run.done or 0,
        "failed": run.failed or 0,
        "percent": 100 if run.state == "done" else (min(99, int(100 * (run.done or 0) / total)) if total else 0),
        "error": run.error,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "failures": [{"ref": f.ref, "error": f.error} for f in failure_rows(run.id, failures)],
    }


def failure_rows(run_id: int, limit: int = 1000) -> list[ExportFailure]:
    """The rows of one run that Specter refused, in the order they were sent."""
    session = get_state().db.session
    return list(session.execute(select(ExportFailure).where(ExportFailure.run_id == run_id).order_by(ExportFailure.id).limit(limit)).scalars())


def recent_runs(limit: int = 15) -> list[ExportRun]:
    """The newest runs of every kind, newest first (the admin's history)."""
    session = get_state().db.session
    return list(session.execute(select(ExportRun).order_by(ExportRun.id.desc()).limit(limit)).scalars())
