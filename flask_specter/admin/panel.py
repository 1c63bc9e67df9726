"""The "Överför order" box a host shop shows on its own order page, under "Betalningsmetod"."""

from __future__ import annotations

from flask import request
from markupsafe import Markup
from werkzeug.routing import BuildError

from ..i18n import _
from ..outbound.resend import order_transfer_status
from .access import admin_allowed

# Readable without Bootstrap too: the host's order page may use any CSS (or none).
PANEL_STYLE = "border:1px solid #f0c36d;background:#fff8e1;color:#5c4400;padding:.6rem .8rem;border-radius:4px;max-width:42rem"


def order_transfer_panel(order_id: str | int) -> Markup:
    """HTML for the host's order page: why the order is not in Specter, and an "Överför order" button.

    Put it under "Betalningsmetod: …" in the shop's own order template, as the seed describes::

        {{ specter_transfer_panel(order.id) }}

    with ``app.jinja_env.globals["specter_transfer_panel"] = flask_specter.admin.order_transfer_panel``.
    It renders nothing once the order is in Specter, when the current user may not use the Specter
    admin (``SPECTER_ADMIN_ACCESS``), or before anything was queued for it. The button POSTs with a
    Flask-WTF CSRF token to the Specter transfer view and comes back to the page it was on; the markup
    uses Bootstrap classes and the ``specter-transfer-panel`` class for the host's own styling. Needs a
    request context and the Flask-Admin views (an ``Admin`` on the app before ``Specter.init_app``).
    """
    if not admin_allowed():
        return Markup("")
    status = order_transfer_status(order_id)
    state = status.get("state")
    if state in (None, "none", "sent") or status.get("specter_order_no"):
        return Markup("")
    if state == "failed":
        head = _("Ordern kunde inte överföras till Specter.")
    elif state == "sending":
        head = _("Ordern skickas till Specter just nu.")
    else:
        head = _("Ordern väntar på att överföras till Specter.")
    parts = [Markup('<div class="specter-transfer-panel alert alert-warning small mt-2" role="status" style="{}"><strong>{}</strong>').format(PANEL_STYLE, head)]
    if status.get("error"):
        parts.append(Markup('<div class="specter-transfer-reason">{}</div>').format(_("Orsak: %(reason)s", reason=status["error"])))
    if status.get("attempts"):
        parts.append(Markup('<div class="text-muted">{}</div>').format(_("Försök hittills: %(attempts)s", attempts=status["attempts"])))
    if state != "sending":
        from .model_views import transfer_button

        try:
            parts.append(Markup('<div class="mt-2">{}</div>').format(transfer_button(str(order_id), next_url=request.full_path.rstrip("?"))))
        except BuildError:
            parts.append(Markup('<div class="text-muted">{}</div>').format(_('Knappen "Överför order" kräver Specters adminvyer (Flask-Admin).')))
    parts.append(Markup("</div>"))
    return Markup("").join(parts)
