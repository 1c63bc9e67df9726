"""First-installation exports: every product, every product with its stock, every customer, to Specter.

A run is a row (``ExportRun``) with a cursor: each job sends the next page of 100 and queues the next,
so a run survives a dead worker or a restart and continues where it stopped. Articles go with
``forceArticleUpdate=0`` so articles Specter already has keep their data and stock; a page Specter
refuses as a whole is sent again row by row, to name the bad rows in the run's report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import func, select, update

from .errors import SpecterError
from .extension import get_state
from .models import ExportFailure, ExportRun, utcnow
from .pushes import reason, upsert_link
from .redact import redact

log = logging.getLogger("flask_specter.exports")

PAGE_SIZE = 100
KINDS = ("products", "products_stock", "customers")
LABELS = {"products": "Produkter", "products_stock": "Produkter med lagersaldo (varianter)", "customers": "Kunder"}
UNFINISHED = ("running", "failed")


class ExportInterrupted(Exception):
    """Specter could not be reached mid-page; the run keeps its cursor and continues on the next try."""

    def __init__(self, cause: SpecterError):
        super().__init__(str(cause))
        self.cause = cause


def _check_kind(kind: str) -> str:
    kind = kind.replace("-", "_")
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind!r}; choose one of {', '.join(KINDS)}")
    return kind


# -- reading the shop in pages ----------------------------------------------------------------------


def _count(kind: str) -> int:
    state = get_state()
    adapter, session = state.adapter, state.db.session
    model = adapter.customer_model if kind == "customers" else adapter.product_model
    if model is not None and hasattr(model, "__table__"):
        return session.execute(select(func.count()).select_from(model)).scalar_one()
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
    model, pf = adapter.product_model, getattr(adapter, "pf", None)
    if model is not None and pf and hasattr(model, pf["sku"]):
        col = getattr(model, pf["sku"])
        stmt = select(model).order_by(col).limit(size)
        if cursor is not None:
            stmt = stmt.where(col > cursor)
        return [(adapter.product_sku(p), p) for p in session.execute(stmt).scalars()]
    items = sorted(((adapter.product_sku(p), p) for p in adapter.iter_products()), key=lambda kp: kp[0])
    return [kp for kp in items if cursor is None or kp[0] > cursor][:size]


# -- sending one page -------------------------------------------------------------------------------


def _article_rows(kind: str, products: list[tuple[str, Any]]) -> list[tuple[str, dict]]:
    adapter = get_state().adapter
    rows = []
    for sku, product in products:
        row = dict(adapter.article_row(product))
        if kind == "products_stock":
            row.update(createArticleStock=1, noItemsInStock=adapter.product_stock(product))
        rows.append((sku, row))
    return rows


def _send_articles(kind: str, page: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Send a page in one call; if Specter refuses it as a whole, row by row. Returns (sku, why) failures."""
    state = get_state()
    rows = _article_rows(kind, page)
    try:
        state.client.submit_articles([r for _sku, r in rows], force_update=False)
        sent, failures = [sku for sku, _r in rows], []
    except SpecterError as exc:
        if exc.transient:
            raise ExportInterrupted(exc) from exc
        sent, failures = [], []
        for sku, row in rows:
            try:
                state.client.submit_articles([row], force_update=False)
                sent.append(sku)
            except SpecterError as row_exc:
                if row_exc.transient:
                    raise ExportInterrupted(row_exc) from row_exc
                failures.append((sku, reason(row_exc)))
    for sku in sent:  # the article exists in Specter now: Specter is its stock master
        upsert_link(state.db.session, "product", sku, sku)
    return failures


def _send_customers(page: list[tuple[str, Any]]) -> tuple[list[tuple[str, str]], int, SpecterError | None]:
    """One newCustomerSubmit per customer: (failures, how many were handled, the transient error that stopped it)."""
    from .pushes import send_customer

    failures: list[tuple[str, str]] = []
    for handled, (key, customer) in enumerate(page):
        try:
            send_customer(get_state(), customer)
        except SpecterError as exc:
            if exc.transient:
                return failures, handled, exc
            failures.append((key, reason(exc)))
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
    text = reason(exc) + (" Exporten fortsätter där den slutade när du startar den igen." if final else " Nytt försök görs strax.")
    session.execute(update(ExportRun).where(ExportRun.id == run_id).values(error=text, **({"state": "failed"} if final else {})))
    session.commit()
    log.warning("export %s interrupted: %s", run_id, redact(text))


def send_next_page(run_id: int) -> dict:
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
        failures = _send_articles(kind, page)
    finished = len(page) < PAGE_SIZE
    _advance(run_id, cursor, page[-1][0], len(page), failures, finished)
    return {"run": run_id, "sent": len(page) - len(failures), "failed": len(failures), "state": "done" if finished else "running"}


def run_export_page(run_id: int) -> dict:
    """The export job: one page, then the next job; a transient failure is retried by RQ, then reported."""
    from rq import get_current_job

    try:
        result = send_next_page(run_id)
    except ExportInterrupted as exc:
        job = get_current_job()
        final = not (job is not None and (job.retries_left or 0) > 0)
        _interrupt(run_id, exc.cause, final=final)
        if final:
            return {"run": run_id, "state": "failed", "error": str(exc)}
        raise  # RQ runs this page again after its back-off
    if result.get("state") == "running":
        _enqueue(run_id)
    return result


def _enqueue(run_id: int) -> None:
    from .backoff import rq_retry

    state = get_state()
    retry = rq_retry(state.config, int(state.config["SPECTER_PUSH_RETRIES"]))
    state.queue.enqueue("flask_specter.jobs.run_export", run_id, retry=retry)


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
            final = tries > retries
            _interrupt(run_id, exc.cause, final=final)
            if final:
                break
            from .backoff import backoff_delay

            time.sleep(backoff_delay(tries, state.config, jitter=True))
            continue
        run = state.db.session.get(ExportRun, run_id)
        if on_page:
            on_page(run)
        if result.get("state") != "running":
            break
    return state.db.session.get(ExportRun, run_id)


# -- progress ---------------------------------------------------------------------------------------


def latest_run(kind: str) -> ExportRun | None:
    session = get_state().db.session
    return session.execute(select(ExportRun).where(ExportRun.kind == _check_kind(kind)).order_by(ExportRun.id.desc()).limit(1)).scalar_one_or_none()


def progress(run: ExportRun | None, *, failures: int = 200) -> dict:
    """What the admin page, the JSON and the CLI show: counts, percent and the per-row report."""
    if run is None:
        return {"state": "none", "total": 0, "done": 0, "failed": 0, "percent": 0, "failures": []}
    session = get_state().db.session
    rows = session.execute(select(ExportFailure).where(ExportFailure.run_id == run.id).order_by(ExportFailure.id).limit(failures)).scalars()
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
        "failures": [{"ref": f.ref, "error": f.error} for f in rows],
    }


# -- admin routes -----------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Export till Specter: {{ label }}</title>
{% if p.state == "running" %}<meta http-equiv="refresh" content="2">{% endif %}
<style>body{font-family:sans-serif;max-width:56rem;margin:2rem auto}progress{width:100%}td{padding:.2rem .6rem;vertical-align:top}</style>
</head><body>
<h1>Export till Specter: {{ label }}</h1>
{% if message %}<p><strong>{{ message }}</strong></p>{% endif %}
{% if p.state == "none" %}<p>Ingen export har körts ännu.</p>{% else %}
<p>Status: <strong>{{ {"running": "pågår", "done": "klar", "failed": "avbruten"}.get(p.state, p.state) }}</strong>
&middot; {{ p.done }} av {{ p.total }} skickade ({{ p.percent }} %) &middot; {{ p.failed }} misslyckades</p>
<progress max="100" value="{{ p.percent }}">{{ p.percent }} %</progress>
{% if p.error %}<p>{{ p.error }}</p>{% endif %}
{% if p.failures %}<h2>Rader som inte kom fram</h2><table>
{% for f in p.failures %}<tr><td>{{ f.ref }}</td><td>{{ f.error }}</td></tr>{% endfor %}</table>{% endif %}
{% endif %}
<form method="post">
<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<button type="submit">{% if p.state in ("running", "failed") %}Fortsätt exporten{% else %}Starta export{% endif %}</button>
{% if p.state != "none" %}<button type="submit" name="restart" value="1">Börja om från början</button>{% endif %}
</form>
<p><a href="?format=json">Förlopp som JSON</a></p>
</body></html>"""


def _csrf_token() -> str:
    """The form's token: Flask-WTF's when the host uses CSRFProtect (so it passes there too), else our own."""
    import secrets

    from flask import current_app, session

    if "csrf" in current_app.extensions:
        from flask_wtf.csrf import generate_csrf

        return generate_csrf()
    if not session.get("specter_csrf"):
        session["specter_csrf"] = secrets.token_urlsafe(32)
    return session["specter_csrf"]


def _csrf_ok(given: str) -> bool:
    import hmac

    from flask import current_app, session

    if "csrf" in current_app.extensions:
        from flask_wtf.csrf import ValidationError, validate_csrf

        try:
            validate_csrf(given)
        except ValidationError:
            return False
        return True
    expected = session.get("specter_csrf") or ""
    return bool(expected and given) and hmac.compare_digest(given.encode(), expected.encode())


def _export_view(kind: str):
    from flask import abort, jsonify, redirect, render_template_string, request, url_for

    from .admin.access import admin_allowed

    if not admin_allowed():
        abort(403)
    message = None
    status = 200
    if request.method == "POST":
        if not _csrf_ok(request.form.get("csrf_token", "")):
            abort(400, "CSRF token missing or wrong")
        try:
            start_export(kind, restart=bool(request.form.get("restart")))
        except Exception as exc:  # the queue is down: say so instead of pretending
            log.warning("export %s could not start: %s", kind, type(exc).__name__)
            get_state().db.session.rollback()
            message, status = "Exporten kunde inte startas: jobbkön (Redis) svarar inte. Försök igen om en stund.", 503
        else:
            if request.args.get("format") == "json":
                return jsonify(progress(latest_run(kind))), 202
            return redirect(url_for(f".export_{kind}"), code=303)
    p = progress(latest_run(kind))
    if request.args.get("format") == "json":
        return jsonify(p), status
    html = render_template_string(PAGE, p=p, label=LABELS[kind], csrf_token=_csrf_token(), message=message)
    return html, status, {"Cache-Control": "no-store"}


def register_export_routes(bp) -> None:
    """``/export_products``, ``/export_products_stock``, ``/export_customers`` (admin only)."""
    for kind in KINDS:
        bp.add_url_rule(f"/export_{kind}", endpoint=f"export_{kind}", view_func=partial(_export_view, kind), methods=["GET", "POST"])
