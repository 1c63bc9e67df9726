"""Flask-Admin pages mirroring "Inställningar & Design > Specter" (registered when the app has an Admin)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from .panel import order_transfer_panel

__all__ = ["register_admin", "order_transfer_panel"]


def register_admin(app: Flask, state: Any) -> None:
    """Add the Specter views to the app's ``flask_admin.Admin``, if it has one."""
    admin = app.extensions.get("admin")
    if not admin:
        return
    admin = admin[0] if isinstance(admin, list) else admin
    from .views import add_views

    add_views(admin, state)
