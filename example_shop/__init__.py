"""Example shop: a small Flask shop joined to Specter through ``Specter.init_app`` and nothing else (``specter.py``).

``flask --app example_shop run`` (factory ``create_app``); configuration comes from the environment
(see ``settings.py``) and ``create_app({...})`` overrides any of it, which is what the tests use.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, abort, current_app, has_request_context, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from flask_specter.redact import install_log_redaction

from . import settings
from .models import AdminUser, db

log = logging.getLogger("example_shop")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    values = settings.from_environ()
    values.update(config or {})
    app.config.update(settings.finish(values, app.instance_path))
    # hide_parameters: a database error's message never carries the row (e-mail, name, address) into a log.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "hide_parameters": True, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    app.session_interface = ShopSessionInterface()
    settings.warn_random_secret_key(app)

    from .admin import init_admin
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .auth import is_admin
    from .cli import register_cli
    from .specter import init_specter
    from .storefront import bp as shop_bp

    db.init_app(app)
    app.config.setdefault("SPECTER_ADMIN_ACCESS", is_admin)
    app.config.setdefault("SPECTER_ADMIN_LOGIN_URL", "/admin/login")  # the Specter pages send strangers here
    init_admin(app)  # before init_specter: the extension adds its views to this Admin
    init_specter(app)
    install_log_redaction(("example_shop", "example_shop.mail", "flask-admin.sqla"))  # errors (tracebacks) without rows
    app.register_blueprint(auth_bp)
    app.register_blueprint(shop_bp)
    app.register_blueprint(api_bp)
    register_cli(app)
    _json_errors_under_api(app)
    app.before_request(refuse_nul_bytes)

    with app.app_context():
        db.create_all()
        _bootstrap_admin(app)
    return app


def _json_errors_under_api(app: Flask) -> None:
    """Routing errors (404, 405) under /api/ answer JSON like the API's own errors."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.description or exc.name}), exc.code
        return exc


class ShopSessionInterface(SecureCookieSessionInterface):
    """The session cookie is ``Secure`` when configured so, and on every request served over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or (has_request_context() and request.is_secure)


def refuse_nul_bytes():
    """No field of this shop can hold a NUL (PostgreSQL text cannot): refuse it at the door with a 400.

    The Specter routes check their own parameters (their answers are Specter's ``0;20;...``).
    """
    if request.path.startswith(current_app.config["SPECTER_URL_PREFIX"].rstrip("/") + "/"):
        return None
    fields = [*request.args.items(multi=True)]
    if request.method != "GET":
        fields += request.form.items(multi=True)
    if "\x00" in request.path or any("\x00" in key or "\x00" in value for key, value in fields):
        if request.path.startswith("/api/"):
            abort(400, "a NUL character (\\u0000) is not allowed in any field")
        abort(400, "Ogiltigt tecken (NUL) i adressen eller formuläret.")
    return None


def _bootstrap_admin(app: Flask) -> None:
    """``SHOP_ADMIN_USER``/``SHOP_ADMIN_PASSWORD`` make that admin; ``SHOP_DEMO=1`` alone makes admin/admin.

    The demo login exists only in demo mode without a configured admin: otherwise it is removed.
    """
    from .auth import ensure_admin, remove_demo_admin

    username, password = app.config.get("SHOP_ADMIN_USER"), app.config.get("SHOP_ADMIN_PASSWORD")
    if (username and password) or not app.config.get("SHOP_DEMO"):
        remove_demo_admin()
    if not (username and password):
        if not app.config.get("SHOP_DEMO"):
            return
        if db.session.execute(select(AdminUser.id).limit(1)).first():
            return
        username, password = settings.DEMO_ADMIN
        log.warning("SHOP_DEMO=1: demo admin 'admin' with password 'admin' (never use SHOP_DEMO on a real shop)")
    try:
        ensure_admin(username, password)
    except IntegrityError:  # another process of the same shop created it at the same moment
        db.session.rollback()
