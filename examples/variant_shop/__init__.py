"""A second example shop, shaped unlike ``example_shop``: products with variants, users with an address
book, orders committed in two steps and paid later, integer statuses, an allocated column and its own
listing cache (keyed by the variants' ``updated_at``). Its checkout, payment and views know nothing of
Specter: ``specter.py`` joins the two.

``flask --app examples.variant_shop run``; ``create_app({...})`` overrides the configuration.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from .cache import init_cache
from .models import db


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL", "sqlite:///variant_shop.sqlite3"),
        REDIS_URL=os.environ.get("REDIS_URL") or None,
        SECRET_KEY=os.environ.get("SECRET_KEY"),
    )
    app.config.update(config or {})
    db.init_app(app)
    init_cache(app)

    from .views import bp

    app.register_blueprint(bp)

    from .specter import init_specter

    init_specter(app)
    with app.app_context():
        db.create_all()
    return app
