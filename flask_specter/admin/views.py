"""The Specter admin pages: "Inställningar & Design > Specter" and the sync status page.

Every view denies by default (``admin_allowed()``) and every state change is a POST with a CSRF token:
e-mail scanners and link prefetchers follow GETs, so a GET must never start a sync or an export.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import BaseView, expose
from sqlalchemy import func, select

from ..i18n import _, lazy_gettext, on_off
from ..models import Reservation, StockHistory, StockLevel, StockRow
from ..settings import TOGGLES
from ..state import get_state
from .base import CSRF_REFUSED, EXPORTS, SpecterViewMixin
from .forms import ButtonForm, settings_form_class
from .messages import STATE_LABELS, STOCK_STATE_LABELS, explain

FEED_LABELS = {"stock": lazy_gettext("Lagersaldo"), "articles": lazy_gettext("Artikeldata"), "orders": lazy_gettext("Orderstatus")}
BATCH_STATES = {"stored": (lazy_gettext("lagrad"), "info"), "confirmed": (lazy_gettext("bekräftad"), "success"), "failed": (lazy_gettext("misslyckad"), "danger")}
HISTORY_SOURCES = {
    "specter": (lazy_gettext("Specter"), "primary"),
    "order": (lazy_gettext("order"), "info"),
    "initial": (lazy_gettext("första saldo"), "secondary"),
    "refused": (lazy_gettext("nekad"), "danger"),
    "unexplained": (lazy_gettext("butiken, utan order"), "warning"),
}

SECRET_SETTINGS = (
    ("SPECTER_USER_KEY", lazy_gettext("Användarnyckel")),
    ("SPECTER_INTEGRATION_KEY", lazy_gettext("Integrationsnyckel")),
    ("SPECTER_CALLBACK_TOKEN", lazy_gettext("Callback-token")),
)


class SettingsView(SpecterViewMixin, BaseView):  # type: ignore[misc]  # flask_admin ships no types: BaseView is Any
    """The toggles, the connection, activation and the manual sync and export buttons."""

    @expose("/", methods=["GET"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def index(self) -> ResponseReturnValue:
        return self._page()

    def _page(self, form: Any = None, status: int = 200, checks: list[Any] | None = None) -> ResponseReturnValue:
        state = get_state()
        values = state.settings.all()
        form = form or settings_form_class()(formdata=None, data=values)
        groups: OrderedDict[str, list[tuple[Any, Any, bool]]] = OrderedDict()
        for toggle in TOGGLES:
            groups.setdefault(str(toggle.group), []).append((toggle, form[toggle.key], values[toggle.key]))
        body = self.render(
            "specter/settings.html",
            form=form,
            groups=groups,
            button_form=ButtonForm(formdata=None),
            connection=_connection_rows(),
            callbacks=_callback_rows(),
            exports=EXPORTS,
            import_products=values["import_products"],
            feeds=_feed_callbacks(),
            callback_warnings=_callback_warnings(),
            export_pages=export_page_urls(),
            service_articles=_service_articles(),
            checks=checks,
        )
        return body, status

    @expose("/save", methods=["POST"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def save(self) -> ResponseReturnValue:
        form = settings_form_class()()
        if not form.validate_on_submit():
            flash(str(CSRF_REFUSED), "error")
            return self._page(status=400)
        get_state().settings.update({t.key: bool(form[t.key].data) for t in TOGGLES})
        flash(_("Inställningarna sparades."), "success")
        return redirect(self.get_url(".index"))

    @expose("/activate", methods=["POST"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def activate(self) -> ResponseReturnValue:
        if not ButtonForm().validate_on_submit():
            flash(str(CSRF_REFUSED), "error")
            return self._page(status=400)
        from ..inbound.activation import activate

        try:
            reply = activate()
        except Exception as exc:  # every failure becomes a message, never a 500
            flash(explain(exc, doing=_("Aktiveringen av automatisk lagersynkronisering")), "error")
        else:
            said = " " + _("Specter svarade: %(message)s", message=reply.message) if reply.message else ""
            flash(_("Automatisk lagersynkronisering är aktiverad: Specter anropar nu butiken vid varje ändring.") + said, "success")
            _warn_missing_service_articles()
        return redirect(self.get_url(".index"))

    @expose("/check", methods=["POST"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def check(self) -> ResponseReturnValue:
        """"Testa anslutningen": the results are shown on the page (nothing is changed but a waiting pull)."""
        if not ButtonForm().validate_on_submit():
            flash(CSRF_REFUSED, "error")
            return self._page(status=400)
        from ..checks import run_checks

        return self._page(checks=run_checks())

    @expose("/service-articles", methods=["POST"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def create_service_articles(self) -> ResponseReturnValue:
        if not ButtonForm().validate_on_submit():
            flash(str(CSRF_REFUSED), "error")
            return self._page(status=400)
        from ..service_articles import create_service_articles

        try:
            created = create_service_articles()
        except Exception as exc:
            flash(explain(exc, doing=_("Skapa serviceartiklar i Specter")), "error")
        else:
            if created:
                flash(_("Serviceartiklarna %(articles)s är skapade i Specter (en artikel som redan fanns lämnades orörd).", articles=", ".join(created)), "success")
            else:
                flash(_("Serviceartiklarna finns redan i Specter."), "success")
        return redirect(self.get_url(".index"))

    @expose("/sync-stock", methods=["POST"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def sync_stock(self) -> ResponseReturnValue:
        if not ButtonForm().validate_on_submit():
            flash(str(CSRF_REFUSED), "error")
            return self._page(status=400)
        from ..inbound.activation import sync_stock

        try:
            queued = sync_stock()
        except Exception as exc:
            flash(explain(exc, doing=_("Uppdatera lager")), "error")
        else:
            if queued:
                flash(_("Lageruppdatering begärd: Specter köar alla artiklars lagersaldo och butiken hämtar dem nu."), "success")
            else:
                flash(_("Lageruppdatering begärd: Specter köar alla artiklars lagersaldo och butiken hämtar dem nu (en hämtning väntade redan och tar med allt)."), "success")
        return redirect(self.get_url(".index"))

    @expose("/pull-articles", methods=["POST"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def pull_articles(self) -> ResponseReturnValue:
        if not ButtonForm().validate_on_submit():
            flash(str(CSRF_REFUSED), "error")
            return self._page(status=400)
        from ..inbound.pulls import request_pull

        try:
            request_pull("articles")
        except Exception as exc:
            flash(explain(exc, doing=_("Hämta produkter från Specter")), "error")
        else:
            flash(_("Produkthämtning från Specter startad."), "success")
            if not get_state().settings.get("import_products"):
                flash(
                    _("\"%(setting)s\" är %(value)s: artiklarna hämtas men ändrar inga produkter i butiken.", setting=_("Importera produkter från Specter"), value=on_off(False)),
                    "warning",
                )
        return redirect(self.get_url(".index"))


class SyncStatusView(SpecterViewMixin, BaseView):  # type: ignore[misc]  # flask_admin ships no types: BaseView is Any
    """Feeds, stored stock rows, recent batches, unknown SKUs and one SKU's stock history."""

    @expose("/", methods=["GET"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def index(self) -> ResponseReturnValue:
        from ..health import collect_health
        from ..inbound.callback_log import callback_views
        from ..status import collect_status
        from .chart import render_chart

        state = get_state()
        session = state.db.session
        st = collect_status()
        now = time.time()
        calls = callback_views(session)
        feeds = [
            {
                "name": f.feed,
                "label": FEED_LABELS.get(f.feed, f.feed),
                "running": bool(f.locked_until and f.locked_until > now),
                "requested": bool(f.pull_requested),
                "last_success": f.last_success_at,
                "last_callback": calls[f.feed].accepted_at if f.feed in calls else None,
                "calls_refused": f.feed in calls and calls[f.feed].warning,
                "last_pull": f.last_pull_at,
                "last_error": f.last_error,
                "last_error_at": f.last_error_at,
                "failures": f.failures or 0,
            }
            for f in sorted(st.feeds, key=lambda f: list(FEED_LABELS).index(f.feed) if f.feed in FEED_LABELS else 99)
        ]
        rows = st.stock_rows
        applied = rows.get("applied", 0)
        remaining = st.stock_remaining
        progress = 100 if applied + remaining == 0 else int(100 * applied / (applied + remaining))
        unknown = session.execute(
            select(StockRow.sku, func.count(), func.max(StockRow.id))
            .where(StockRow.state == "unknown")
            .group_by(StockRow.sku)
            .order_by(func.max(StockRow.id).desc())
            .limit(100)
        ).all()
        unknown_total = session.execute(select(func.count(func.distinct(StockRow.sku))).where(StockRow.state == "unknown")).scalar() or 0
        sku = (request.args.get("sku") or "").strip()
        refused, refused_total = _refused_rows()
        unexplained = _unexplained_rows()
        return self.render(
            "specter/status.html",
            feeds=feeds,
            stock_states=[(key, label, rows.get(key, 0)) for key, label in STOCK_STATE_LABELS.items()],
            feed_labels=FEED_LABELS,
            batch_states=BATCH_STATES,
            history_sources=HISTORY_SOURCES,
            applied=applied,
            remaining=remaining,
            progress=progress,
            outbox=[(STATE_LABELS.get(k, k), k, v) for k, v in sorted(st.outbox.items(), key=lambda kv: list(STATE_LABELS).index(kv[0]) if kv[0] in STATE_LABELS else 99)],
            batches=st.last_batches,
            queue=_("inbyggd i appens process") if state.queue.embedded else _("Redis-kön %(name)s", name=state.queue.name),
            status=st,
            unknown=unknown,
            unknown_total=unknown_total,
            sku=sku,
            lookup=_stock_lookup(sku) if sku else None,
            refused=refused,
            refused_total=refused_total,
            unexplained=unexplained,
            unexplained_total=st.unexplained_stock,
            callback_warnings=[view for view in calls.values() if view.warning],
            health_chart=render_chart(collect_health()),
        )


def _service_articles() -> list[Any]:
    from ..service_articles import service_articles

    return service_articles()


def _warn_missing_service_articles() -> None:
    missing = [a.article_no for a in _service_articles() if not a.known]
    if missing:
        flash(
            _(
                "Serviceartiklarna %(articles)s är inte bekräftade i Specter. Varje order med frakt eller rabatt "
                "misslyckas om de saknas där: skapa dem med knappen under Serviceartiklar.",
                articles=", ".join(missing),
            ),
            "warning",
        )


def _refused_rows(limit: int = 100) -> tuple[list[Any], int]:
    """The newest rows Specter sent that could not be stored (invalid, or twice in one batch)."""
    from ..models import RefusedRow

    session = get_state().db.session
    rows = list(session.execute(select(RefusedRow).order_by(RefusedRow.id.desc()).limit(limit)).scalars())
    total = session.execute(select(func.count(RefusedRow.id))).scalar() or 0
    return rows, total


def _unexplained_rows(limit: int = 50) -> list[Any]:
    """The newest stock changes the shop made that no order of their transaction explained."""
    from ..models import UnexplainedStock

    return list(get_state().db.session.execute(select(UnexplainedStock).order_by(UnexplainedStock.id.desc()).limit(limit)).scalars())


def _stock_lookup(sku: str) -> dict[str, Any]:
    """Everything that explains one SKU's stock: the shop's figure, Specter's, waiting rows, history."""
    state = get_state()
    session = state.db.session
    shop_stock = None
    found = False
    try:
        product = state.adapter.get_product(sku)
        if product is not None:
            found = True
            shop_stock = state.adapter.product_stock(product)
    except NotImplementedError:
        pass
    reserved = session.execute(select(func.coalesce(func.sum(Reservation.qty), 0)).where(Reservation.sku == sku)).scalar() or 0
    return {
        "found": found,
        "shop_stock": shop_stock,
        "level": session.get(StockLevel, sku),
        "reserved": reserved,
        "waiting": list(
            session.execute(select(StockRow).where(StockRow.sku == sku, StockRow.state == "pending").order_by(StockRow.id)).scalars()
        ),
        "history": list(session.execute(select(StockHistory).where(StockHistory.sku == sku).order_by(StockHistory.id.desc()).limit(200)).scalars()),
    }


def _feed_callbacks() -> list[tuple[str, object]]:
    """(route label, last accepted call): proof that Specter calls the shop after activation."""
    from ..inbound.callback_log import UNKNOWN_ROUTE, callback_views

    views = callback_views(get_state().db.session)
    return [(view.label, view.accepted_at) for route, view in views.items() if route != UNKNOWN_ROUTE]


def _callback_warnings() -> list[Any]:
    """Routes whose latest call from Specter was refused (wrong token, unknown address, bad parameters)."""
    from ..inbound.callback_log import refused_warnings

    return refused_warnings(get_state().db.session)


def _connection_rows() -> list[tuple[str, str, bool]]:
    """(label, value, ok) for the connection settings; secrets only as set/missing, never their value."""
    config = get_state().config
    missing = _("saknas")
    rows = [
        (_("Kontonummer hos Specter (SBM-id)"), config.get("SPECTER_SBM_ID") or missing, bool(config.get("SPECTER_SBM_ID"))),
        (_("API-användare"), config.get("SPECTER_API_USER_ID") or missing, bool(config.get("SPECTER_API_USER_ID"))),
        (_("API-adress"), config.get("SPECTER_API_URL") or missing, bool(config.get("SPECTER_API_URL"))),
        (_("Butikens publika adress"), config.get("SPECTER_PUBLIC_URL") or missing, bool(config.get("SPECTER_PUBLIC_URL"))),
    ]
    for key, label in SECRET_SETTINGS:
        rows.append((str(label), _("inställd") if config.get(key) else missing, bool(config.get(key))))
    return rows


def _callback_rows() -> dict[str, Any]:
    from .. import messages
    from ..inbound.activation import callback_urls
    from ..redact import redact_tokens as redact
    from ..remote.errors import SpecterError

    try:
        return {"urls": [(param, redact(url)) for param, url in callback_urls().items()], "error": None}
    except SpecterError as exc:
        return {"urls": [], "error": messages.explain(exc)}


def export_page_urls() -> dict[str, str | None]:
    """Each export's card on the admin's export page (where its progress and restart button are)."""
    return {kind: _url_or_anchor(kind) for kind, _label, _help in EXPORTS}


def _url_or_anchor(kind: str) -> str | None:
    from flask import url_for
    from werkzeug.routing import BuildError

    try:
        return url_for("specter_exports.index", _anchor=f"export-{kind}")
    except BuildError:
        return None
