"""Who may use the Specter admin: nobody, unless the host says so with ``SPECTER_ADMIN_ACCESS``."""

from __future__ import annotations

from flask import current_app


def admin_allowed() -> bool:
    """Deny by default: ``SPECTER_ADMIN_ACCESS`` must be a callable that returns True for this request."""
    check = current_app.config.get("SPECTER_ADMIN_ACCESS")
    if not callable(check):
        return False
    try:
        return bool(check())
    except Exception:
        return False
