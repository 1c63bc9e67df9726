"""Read-only lists of the outbox and the exports, and the "Överför order" page with its resend buttons.

The rows are the extension's own bookkeeping, so nobody edits them by hand: the only state change is
"send again", done by ``flask_specter.outbound.resend`` (which refuses a row already being sent, so a double
click cannot make two orders in Specter).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import select

from ..compat import model_view_db, search_placeholder
from ..i18n import _, lazy_gettext, local_time
from ..messages import ORDER, ORDER_NOT_READY, RECORD, describe
from ..models import OutboxEntry
from ..outbound import resend
from ..state import get_state
from .base import CSRF_REFUSED, SpecterViewMixin, safe_next
from .forms import ButtonForm, CsrfBaseForm
from .messages import STATE_LABELS, explain

STATE_BADGES = {"pending": "secondary", "sending": "info", "sent": "success", "failed": "danger"}
NOT_READY_LABEL = lazy_gettext("väntar: ordern är inte klar")
KIND_LABELS = {"order": lazy_gettext("Order"), "customer": lazy_gettext("Kund"), "product": lazy_gettext("Produkt")}
OP_LABELS = {"create": lazy_gettext("skapa"), "update": lazy_gettext("uppdatera"), "delete": lazy_gettext("radera")}


def _choices(column: Any, name: str, labels: dict[str, str]) -> Any:
    """A filter that offers the stored values by their Swedish (or English) labels instead of a text box."""
    return FilterEqual(column, name, options=list(labels.items()))


def _dt(value: datetime.datetime | None) -> str:
    """A stored time in the shop's time zone (``SPECTER_TIMEZONE``), to the second."""
    return local_time(value, empty="")


def _state_badge(view: Any, context: Any, model: OutboxEntry, name: str) -> Markup:
    label = STATE_LABELS.get(model.state, model.state)
    html = Markup('<span class="badge badge-{}">{}</span>').format(STATE_BADGES.get(model.state, "light"), label)
    if model.state == "pending" and model.last_error == ORDER_NOT_READY:
        return Markup('<span class="badge badge-{}" title="{}">{}</span>').format(
            STATE_BADGES["pending"], ORDER_NOT_READY, NOT_READY_LABEL
        )
    if model.state != "sent":
        if model.permanent:
            html += Markup(' <span class="badge badge-warning" title="{}">{}</span>').format(
                _("Ett nytt försök hjälper inte förrän orsaken är åtgärdad"), _("kräver åtgärd")
            )
        elif model.next_attempt_at:
            html += Markup('<div class="small text-muted text-nowrap">{}</div>').format(_("nytt försök %(time)s", time=_dt(model.next_attempt_at)))
    return html


def _error_text(view: Any, context: Any, model: OutboxEntry, name: str) -> Markup:
    if not model.last_error or model.state == "sent":
        return Markup("")
    return Markup('<span class="small">{}</span>').format(model.last_error)


def _date(view: Any, context: Any, model: OutboxEntry, name: str) -> Markup:
    return Markup('<span class="text-nowrap">{}</span>').format(_dt(getattr(model, name)))


class ReadOnlyModelView(SpecterViewMixin, ModelView):  # type: ignore[misc]  # flask_admin ships no types: ModelView is Any
    """A list nobody edits; bulk actions carry Flask-WTF's CSRF token."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    form_base_class = CsrfBaseForm
    page_size = 50
    column_default_sort = ("id", True)
    column_display_actions = False

    def search_placeholder(self) -> str | None:
        return search_placeholder(self)  # lazy labels on Flask-Admin 1.6 (flask_specter.compat)


class TransferView(ReadOnlyModelView):
    """"Överför order": each order's transfer to Specter, why it failed, and a button to send it again."""

    list_template = "specter/transfer_list.html"
    column_list = ("ref", "state", "attempts", "last_error", "remote_id", "sent_at", "transfer")
    column_labels = {
        "ref": lazy_gettext("Order"),
        "state": lazy_gettext("Status"),
        "attempts": lazy_gettext("Försök"),
        "last_error": lazy_gettext("Orsak"),
        "remote_id": lazy_gettext("Specter-ordernr"),
        "created_at": lazy_gettext("Skapad"),
        "sent_at": lazy_gettext("Överförd"),
        "transfer": "",
    }
    column_sortable_list = ("ref", "state", "attempts", "sent_at")
    column_searchable_list = ("ref", "remote_id")
    column_filters = (_choices(OutboxEntry.state, lazy_gettext("Status"), STATE_LABELS),)

    def __init__(self, db: Any, **kwargs: Any) -> None:
        super().__init__(OutboxEntry, model_view_db(db), **kwargs)

    def get_query(self) -> Any:
        return super().get_query().filter(OutboxEntry.kind == "order")

    def get_count_query(self) -> Any:
        return super().get_count_query().filter(OutboxEntry.kind == "order")

    def get_one(self, id: Any) -> OutboxEntry | None:
        entry = super().get_one(id)
        return entry if entry is not None and entry.kind == "order" else None

    def _order_label(self, view: Any, context: Any, model: OutboxEntry, name: str) -> Markup:
        number = _order_number(model.ref)
        if number and number != model.ref:
            return Markup('<span class="text-nowrap">{}</span><div class="text-muted small text-nowrap">id {}</div>').format(number, model.ref)
        return Markup("{}").format(model.ref)

    def _transfer_button(self, view: Any, context: Any, model: OutboxEntry, name: str) -> Markup:
        if model.state in ("sent", "sending"):
            return Markup("")
        return transfer_button(model.ref, next_url=request.full_path.rstrip("?"), small=True)

    @property
    def column_formatters(self) -> dict[str, Callable[..., Any]]:  # bound methods need ``self``, so build the mapping per instance
        return {
            "ref": self._order_label,
            "state": _state_badge,
            "last_error": _error_text,
            "created_at": _date,
            "sent_at": _date,
            "transfer": self._transfer_button,
        }

    @expose("/resend/<order_id>", methods=["POST"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def resend(self, order_id: str) -> ResponseReturnValue:
        """One order, from the row button here or from ``order_transfer_panel`` on the shop's order page."""
        back = safe_next(self.get_url(".index_view"))
        if not ButtonForm().validate_on_submit():
            flash(str(CSRF_REFUSED), "error")
            return redirect(back)
        try:
            result = resend.resend_order(order_id)
        except Exception as exc:
            flash(explain(exc, doing=_("Överföringen av order %(order)s", order=order_id)), "error")
        else:
            flash(describe(result, ORDER), result.category)
        return redirect(back)

    @action("resend", lazy_gettext("Överför order"), lazy_gettext("Skicka de markerade ordrarna till Specter igen?"))  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def action_resend(self, ids: list[str]) -> None:
        session = get_state().db.session
        refs = list(
            session.execute(select(OutboxEntry.ref).where(OutboxEntry.id.in_([int(i) for i in ids]), OutboxEntry.kind == "order")).scalars()
        )
        refs = list(dict.fromkeys(refs))
        try:
            results = resend.resend_orders(refs)
        except Exception as exc:
            flash(explain(exc, doing=_("Överföringen")), "error")
            return
        for result in results:
            flash(f"{result.ref}: {describe(result, ORDER)}", result.category)


def _order_number(ref: str) -> str | None:
    """The shop's order number for an order id, when the adapter can tell; None otherwise."""
    state = get_state()
    try:
        order = state.adapter.get_order(ref)
    except Exception:
        return None
    if order is None:
        return None
    return state.adapter.order_number(order) or None


def post_button(action_url: str, label: str, *, form_class: str, next_url: str | None = None, small: bool = False) -> Markup:
    """A one-button POST form carrying Flask-WTF's CSRF token (a GET never changes anything)."""
    field = get_state().config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    return Markup(
        '<form method="post" action="{}" class="d-inline {}" style="display:inline;margin:0">'
        '<input type="hidden" name="{}" value="{}">'
        '<input type="hidden" name="next" value="{}">'
        '<button type="submit" class="btn btn-primary text-nowrap{}">{}</button></form>'
    ).format(action_url, form_class, field, generate_csrf(), next_url or "", " btn-sm" if small else "", label)


def transfer_button(order_id: str, *, next_url: str | None = None, small: bool = False) -> Markup:
    """A POST form with a CSRF token that sends one order to Specter again."""
    action_url = url_for("specter_transfer.resend", order_id=order_id)
    return post_button(action_url, _("Överför order"), form_class="specter-transfer-form", next_url=next_url, small=small)


class OutboxView(ReadOnlyModelView):
    """Everything waiting to go to Specter (products, customers, orders), what happened to it, and
    "Försök igen" for the rows that failed (once the cause, say a wrong key, is fixed)."""

    list_template = "specter/outbox_list.html"
    column_list = ("kind", "op", "ref", "state", "retry", "attempts", "last_error", "remote_id", "created_at", "sent_at")
    column_labels = {
        "kind": lazy_gettext("Typ"),
        "op": lazy_gettext("Åtgärd"),
        "ref": lazy_gettext("Referens"),
        "state": lazy_gettext("Status"),
        "attempts": lazy_gettext("Försök"),
        "last_error": lazy_gettext("Senaste fel"),
        "remote_id": lazy_gettext("Specter-id"),
        "created_at": lazy_gettext("Skapad"),
        "sent_at": lazy_gettext("Skickad"),
        "permanent": lazy_gettext("Kräver åtgärd"),
        "retry": "",
    }
    column_filters = (
        _choices(OutboxEntry.kind, lazy_gettext("Typ"), KIND_LABELS),
        _choices(OutboxEntry.state, lazy_gettext("Status"), STATE_LABELS),
        _choices(OutboxEntry.op, lazy_gettext("Åtgärd"), OP_LABELS),
        "permanent",
    )
    column_searchable_list = ("ref", "remote_id")
    column_sortable_list = ("kind", "ref", "state", "attempts", "created_at", "sent_at")

    def __init__(self, db: Any, **kwargs: Any) -> None:
        super().__init__(OutboxEntry, model_view_db(db), **kwargs)

    def _retry_button(self, view: Any, context: Any, model: OutboxEntry, name: str) -> Markup:
        if model.state != "failed":
            return Markup("")
        url = self.get_url(".retry", entry_id=model.id)
        return post_button(url, _("Försök igen"), form_class="specter-retry-form", next_url=request.full_path.rstrip("?"), small=True)

    @property
    def column_formatters(self) -> dict[str, Callable[..., Any]]:  # bound methods need ``self``, so build the mapping per instance
        return {
            "kind": lambda v, c, m, n: KIND_LABELS.get(m.kind, m.kind),
            "op": lambda v, c, m, n: OP_LABELS.get(m.op, m.op),
            "state": _state_badge,
            "last_error": _error_text,
            "created_at": _date,
            "sent_at": _date,
            "retry": self._retry_button,
        }

    @expose("/retry/<int:entry_id>", methods=["POST"])  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def retry(self, entry_id: int) -> ResponseReturnValue:
        """"Försök igen" on one row: send it now with a fresh count of attempts."""
        back = safe_next(self.get_url(".index_view"))
        if not ButtonForm().validate_on_submit():
            flash(str(CSRF_REFUSED), "error")
            return redirect(back)
        self._flash_retries([entry_id])
        return redirect(back)

    @action("retry", lazy_gettext("Försök igen"), lazy_gettext("Skicka de markerade raderna till Specter igen?"))  # type: ignore[untyped-decorator]  # flask_admin ships no types
    def action_retry(self, ids: list[str]) -> None:
        self._flash_retries([int(i) for i in ids])

    def _flash_retries(self, ids: list[int]) -> None:
        try:
            outcomes = resend.retry_entries(ids)
        except Exception as exc:
            get_state().db.session.rollback()
            flash(explain(exc, doing=_("Nytt försök")), "error")
            return
        for (_id, kind, op, ref), result in outcomes:
            context = ORDER if (kind, op) == ("order", "create") else RECORD
            flash(f"{KIND_LABELS.get(kind, kind)} {ref} ({OP_LABELS.get(op, op)}): {describe(result, context)}", result.category)


__all__ = ["TransferView", "OutboxView", "transfer_button", "post_button"]
