"""A third example shop, shaped like a small Swedish web shop ("Fika & Form"): prices including moms,
guest checkout with the buyer on the order, kits that ship several articles, one name field, variants
tied to their products by ``product_id`` only, a cart row made on the first page view, Flask-WTF's
``CSRFProtect`` on every form and the shop's own Flask-Admin (in English). Its checkout, payment and
views know nothing of Specter: ``specter.py`` is the whole joining.

``flask --app examples.moms_shop seed`` then ``flask --app examples.moms_shop run``; configuration from ``FLASK_*`` environment variables
(``FLASK_SQLALCHEMY_DATABASE_URI``, ``FLASK_SPECTER_API_URL``, ...), and ``create_app({...})`` overrides it.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, session
from flask_wtf.csrf import CSRFProtect

from .models import db

csrf = CSRFProtect()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL", "sqlite:///moms_shop.sqlite3"),
        REDIS_URL=os.environ.get("REDIS_URL") or None,
        SECRET_KEY=os.environ.get("SECRET_KEY"),
        ADMIN_PASSWORD=os.environ.get("ADMIN_PASSWORD"),
        SPECTER_ADMIN_ACCESS=lambda: bool(session.get("admin")),  # the shop's admins see Specter's pages too
    )
    app.config.from_prefixed_env()  # FLASK_SECRET_KEY=..., FLASK_SPECTER_API_URL=..., values read as JSON when they parse
    app.config.update(config or {})
    db.init_app(app)
    csrf.init_app(app)

    from .admin import init_admin
    from .views import bp, cart_context

    app.register_blueprint(bp)
    app.context_processor(cart_context)
    init_admin(app)

    from .specter import init_specter

    init_specter(app)
    with app.app_context():
        db.create_all()

    @app.cli.command("seed")
    def seed_command() -> None:
        """Fill an empty shop with the starting catalogue."""
        from .seed import seed

        seed()

    return app
