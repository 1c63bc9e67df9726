"""The one export page: "Specter > Exporter" in the admin, and the ``/export_*`` addresses that lead to it.

First installation, in this order (the page numbers the cards so): 1. products with their stock,
2. customers. The page shows each export's latest run (progress, the interruption, the rows Specter
refused) with buttons that start, resume or restart it. Every button is a POST with Flask-WTF's CSRF token; a GET
never starts anything (link prefetchers and e-mail scanners follow GETs). The sending itself lives in
``flask_specter.outbound.bulk_exports``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import BaseView, expose
from werkzeug.routing import BuildError

from ..i18n import _, lazy_gettext
from ..models import ExportRun
from ..outbound.bulk_exports import ALIASES, KINDS, failure_rows, latest_run, progress, recent_runs, start_export
from ..state import get_state
from .access import admin_allowed
from .base import CSRF_REFUSED, EXPORTS, SpecterViewMixin, refuse_visitor
from .forms import ButtonForm
from .messages import explain

ENDPOINT = "specter_exports"
LABELS = {kind: label for kind, label, _help in EXPORTS}
STATES = {"running": (lazy_gettext("pågår"), "info"), "done": (lazy_gettext("klar"), "success"), "failed": (lazy_gettext("avbruten"), "danger")}
INLINE_FAILURES = 10
DESCRIPTIONS = {
    "products": lazy_gettext(
        "Alla butikens produkter och varianter skickas till Specter, var och en med butikens lagersaldo. "
        "Specter sätter saldot när det skapar artikeln; artiklar som redan finns där behåller sina uppgifter och "
        "Specters saldo (Specter är lagermaster). Att köra exporten igen ändrar ingenting."
    ),
    "customers": lazy_gettext("Alla kunder skickas till Specter; kundnumret Specter ger sparas i butiken."),
}


def page_url(kind: str | None = None) -> str:
    """The export page, scrolled to one export's card when ``kind`` is given."""
    return url_for(f"{ENDPOINT}.index", _anchor=f"export-{kind}" if kind else None)


def csrf_ok() -> bool:
    """The form carries Flask-WTF's token (the same check as every other Specter admin button)."""
    valid: bool = ButtonForm().validate_on_submit()
    return valid


def start_and_flash(kind: str) -> None:
    """Start (or resume; restart when the form says so) and flash what happened, never a 500."""
    restart = bool(request.form.get("restart"))
    try:
        run = start_export(kind, restart=restart)
    except Exception as exc:  # the queue or the database is down: a sentence for the admin
        get_state().db.session.rollback()
        flash(explain(exc, doing=str(LABELS[kind])), "error")
        return
    if restart:
        how = _("startad om från början")
    elif run.done:
        how = _("fortsätter där den slutade")
    else:
        how = _("startad")
    flash(_("%(export)s: %(how)s. Förloppet visas nedan och uppdateras av sig självt.", export=LABELS[kind], how=how), "success")


class ExportView(SpecterViewMixin, BaseView):  # type: ignore[misc]  # flask_admin ships no types: BaseView is Any
    """Each export's progress and failures, with start / resume / restart buttons."""

    @expose("/", methods=["GET"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def index(self) -> ResponseReturnValue:
        return self._page()

    def _page(self, status: int = 200) -> ResponseReturnValue:
        cards: list[dict[str, Any]] = []
        for kind, label, _help in EXPORTS:
            run = latest_run(kind)
            cards.append({"kind": kind, "label": label, "help": DESCRIPTIONS[kind], "run": run, "p": progress(run, failures=INLINE_FAILURES)})
        body = self.render(
            "specter/exports.html",
            cards=cards,
            runs=recent_runs(),
            labels=LABELS,
            states=STATES,
            button_form=ButtonForm(formdata=None),
            refresh=any(card["p"]["state"] == "running" for card in cards),
        )
        return body, status, {"Cache-Control": "no-store"}

    @expose("/start/<kind>", methods=["POST"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def start(self, kind: str) -> ResponseReturnValue:
        kind = ALIASES.get(kind, kind)
        if kind not in LABELS:
            abort(404)
        if not csrf_ok():
            flash(str(CSRF_REFUSED), "error")
            return self._page(status=400)
        start_and_flash(kind)
        return redirect(page_url(kind), code=303)

    @expose("/failures/<int:run_id>", methods=["GET"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def failures(self, run_id: int) -> ResponseReturnValue:
        run = get_state().db.session.get(ExportRun, run_id)
        if run is None:
            return redirect(page_url())
        return self.render("specter/export_failures.html", run=run, rows=failure_rows(run_id), label=LABELS.get(run.kind, run.kind))


# -- the fixed addresses /export_products, /export_products_stock, /export_customers ---------------


def _entry_point(kind: str) -> ResponseReturnValue:
    """GET: an admin is sent to the export page (nothing starts); POST with a valid token starts it."""
    kind = ALIASES.get(kind, kind)
    if not admin_allowed():
        return refuse_visitor()
    try:
        target = page_url(kind)
    except BuildError:  # the app has no flask_admin.Admin, so no page to go to
        abort(404, _("Exportsidan kräver Flask-Admin i appen; använd annars kommandot flask specter export."))
    if request.method == "POST":
        if not csrf_ok():
            abort(400, str(CSRF_REFUSED))
        start_and_flash(kind)
    return redirect(target, code=303 if request.method == "POST" else 302)


def _entry_point_view(kind: str) -> Callable[[], ResponseReturnValue]:
    """A real function per export, named ``export_<kind>``: other extensions read a view's ``__name__`` and
    ``__module__`` (Flask-WTF's ``CSRFProtect`` does, and a ``functools.partial`` has no name)."""

    def view() -> ResponseReturnValue:
        return _entry_point(kind)

    view.__name__ = view.__qualname__ = f"export_{kind}"
    return view


def register_export_routes(bp: Blueprint) -> None:
    """``/export_products``, ``/export_customers`` (and the old ``/export_products_stock``; admin only) on the blueprint."""
    for kind in (*KINDS, *ALIASES):
        bp.add_url_rule(f"/export_{kind}", endpoint=f"export_{kind}", view_func=_entry_point_view(kind), methods=["GET", "POST"])
