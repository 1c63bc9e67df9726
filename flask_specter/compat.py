"""The few places where the supported Flask and Flask-Admin versions differ (README, "Supported versions").

Flask 2.3 through 3.x and Flask-Admin 1.6.1 through 2.x: the extension itself runs unchanged on both;
what differs is how a host builds its ``Admin`` (a ``theme`` object since Flask-Admin 2.0, a
``template_mode`` string before). ``admin_theme`` gives the keyword arguments for either, so the
example shop and the tests build the same Bootstrap 4 admin on both. ``model_view_db`` is the second
argument of a ``ModelView``: the Flask-SQLAlchemy object since 2.0 (which warns on a session), a session
before (which fails on the object). ``search_placeholder``: Flask-Admin 1.6 joins the search columns'
labels as they are, and ours are lazy strings (translated per request).

Flask 2.3 needed nothing here. WTForms is the host's: Flask-Admin 1.6.1 itself fails on WTForms 3.1
and later, so a host on 1.6 keeps ``wtforms<3.1``.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any


def _major(dist: str) -> int:
    return int(version(dist).split(".")[0])


FLASK_ADMIN_MAJOR = _major("flask-admin")


def admin_theme(base_template: str | None = None) -> dict[str, Any]:
    """``Admin(app, **admin_theme())``: Bootstrap 4, optionally on the host's own base template."""
    if FLASK_ADMIN_MAJOR >= 2:
        from flask_admin.theme import Bootstrap4Theme

        return {"theme": Bootstrap4Theme(base_template=base_template) if base_template else Bootstrap4Theme()}
    return {"template_mode": "bootstrap4", **({"base_template": base_template} if base_template else {})}


def model_view_db(db: Any) -> Any:
    """``ModelView(Model, model_view_db(db))`` on either Flask-Admin."""
    return db if FLASK_ADMIN_MAJOR >= 2 else db.session


def search_placeholder(view: Any) -> str | None:
    """A model view's search box placeholder, its labels made text (what Flask-Admin 2 does itself)."""
    if not view.column_searchable_list:
        return None
    keys = [getattr(column, "key", column) for column in view.column_searchable_list]
    return ", ".join(str(view.column_labels.get(key, key)) for key in keys)


__all__ = ["FLASK_ADMIN_MAJOR", "admin_theme", "model_view_db", "search_placeholder"]
