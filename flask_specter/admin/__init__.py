"""Flask-Admin pages mirroring "Inställningar & Design > Specter" (registered when the app has an Admin)."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask

from ..i18n import lazy_gettext
from .export_page import ExportView
from .model_views import OutboxView, TransferView
from .panel import order_transfer_panel
from .views import SettingsView, SyncStatusView

__all__ = ["register_admin", "order_transfer_panel"]


def register_admin(app: Flask, state: Any) -> None:
    """Add the Specter views to the app's ``flask_admin.Admin``, if it has one."""
    admin = app.extensions.get("admin")
    if not admin:
        return
    admin = admin[0] if isinstance(admin, list) else admin
    add_views(admin, state)


TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


def add_views(admin: Any, state: Any) -> None:
    """Register the Specter pages on the host's ``Admin`` (called by ``init_app``)."""
    app = state.app
    if "specter_admin" not in app.blueprints:
        # Only a template folder: lets the views render ``specter/*.html`` from this package.
        app.register_blueprint(Blueprint("specter_admin", __name__, template_folder=TEMPLATES))
    from ..i18n import _

    app.jinja_env.globals.setdefault("_", _)  # Flask-Babel's own ``_`` wins when the host sets it up
    db = state.db
    admin.add_view(SettingsView(name="Specter", category="Inställningar & Design", endpoint="specter_settings", url="specter/settings"))
    admin.add_view(SyncStatusView(name=lazy_gettext("Synkstatus"), category="Specter", endpoint="specter_status", url="specter/status"))
    admin.add_view(TransferView(db, name=lazy_gettext("Specter-överföring"), category="Kunder & Beställningar", endpoint="specter_transfer", url="specter/transfer"))
    admin.add_view(OutboxView(db, name=lazy_gettext("Utkorg"), category="Specter", endpoint="specter_outbox", url="specter/outbox"))
    admin.add_view(ExportView(name=lazy_gettext("Exporter"), category="Specter", endpoint="specter_exports", url="specter/exports"))
