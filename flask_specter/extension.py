"""``Specter``: the Flask extension object. Per-app state lives in ``app.extensions["specter"]``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, got_request_exception
from flask_sqlalchemy import SQLAlchemy

from . import config as _config
from .admin import register_admin
from .admin.export_page import register_export_routes
from .cli import specter_cli
from .i18n import init_babel
from .inbound.callbacks import exempt_from_host_csrf, make_blueprint
from .inbound.pulls import request_pull
from .outbound.listeners import install_hooks
from .prune import PruneSettings, prune
from .queue import SpecterQueue
from .redact import install_log_redaction
from .remote.client import SpecterClient
from .settings import SettingsStore
from .shop.adapter import ShopAdapter
from .sqlite import tune_sqlite
from .state import SpecterState, get_state
from .sweep import poll_feeds, sweep, sweep_now
from .tables import MISSING_TABLES_HINT, create_specter_tables, missing_specter_table

log = logging.getLogger("flask_specter")


class Specter:
    """Join a Flask shop to Specter Business Management.

    ``Specter(app, db=db, adapter=adapter)`` or ``specter = Specter()`` then
    ``specter.init_app(app, db=db, adapter=adapter)``; one object may serve several apps.
    """

    def __init__(self, app: Flask | None = None, **kwargs: Any):
        if app is not None:
            self.init_app(app, **kwargs)

    def init_app(self, app: Flask, *, db: SQLAlchemy, adapter: ShopAdapter, create_tables: bool = False) -> None:
        """Join ``app`` to Specter. Touches no table unless ``create_tables=True``.

        Reads:
          - ``app.config``: every ``SPECTER_*`` key (defaults from ``config.py`` are set with
            ``setdefault``, so the host's values win) and ``REDIS_URL`` when ``SPECTER_REDIS_URL`` is unset
            (``SPECTER_REDIS_URL = "embedded"`` keeps the queue in-process whatever ``REDIS_URL`` says);
          - ``db``: the host's Flask-SQLAlchemy object, whose engine and session carry the extension's
            tables (``flask_specter.metadata``) next to the host's own;
          - ``adapter``: the ``ShopAdapter`` that reads and writes the host's products, customers and orders.

        Registers:
          - ``app.extensions["specter"]`` (a ``SpecterState``: settings, queue, client); the queue is RQ on
            Redis, or without a Redis URL (or with ``SPECTER_REDIS_URL = "embedded"``) an in-process fakeredis whose worker thread starts with the first
            job (the ``[embedded]`` extra);
          - the callback blueprint under ``SPECTER_URL_PREFIX`` (exempt from a host's Flask-WTF
            ``CSRFProtect``, made before or after) and the ``flask specter …`` CLI group;
          - the adapter's session listeners (outbox rows written in the shop's own transaction);
          - log redaction (``redact.py``): personal data masked on the extension's and RQ's loggers, the
            callback token hidden on the server's request log lines of the callback URLs, no other logger;
          - a hint in the log when a request fails because the extension's tables are missing;
          - on SQLite (``SPECTER_SQLITE_TUNING``), connection listeners on ``db.engine`` (WAL, busy timeout,
            ``BEGIN IMMEDIATE`` for writers, a reader that writes begun again as a writer: ``sqlite.py``);
          - a Flask-Babel ``Babel`` with Flask-Babel's defaults when the host has none (``i18n.init_babel``;
            Flask-Admin needs one once Flask-Babel is installed, and a host's own is kept); the extension's
            pages speak ``SPECTER_LOCALE`` by themselves;
          - the admin views on the host's Flask-Admin ``Admin`` when ``SPECTER_ADMIN`` is on.

        Checks first: the adapter's ``validate()`` (for ``SQLAlchemyShopAdapter``: every field map, path and
        option against the models), raising ``SpecterConfigError`` before anything is registered.

        ``create_tables=True`` creates the missing tables with ``create_all`` (demo, tests, quick starts).
        A shop with migrations runs the shipped Alembic revisions instead (``flask db upgrade heads``),
        one without runs ``flask specter create-tables`` once.
        """
        if "specter" in app.extensions:
            raise RuntimeError(f"flask_specter is already registered on the app {app.name!r}; call init_app once per app")
        validate = getattr(adapter, "validate", None)  # a class implementing the protocol without subclassing may lack it
        if callable(validate):
            validate()  # a misspelled field or option stops the app here, before anything is registered
        for key, default in _config.DEFAULTS.items():
            app.config.setdefault(key, default)
        pruning = PruneSettings.from_config(app.config)  # a bad SPECTER_KEEP_* stops the app here
        init_babel(app)
        redis_url = _config.queue_url(app.config)
        state = SpecterState(
            app=app,
            db=db,
            adapter=adapter,
            settings=SettingsStore(db),
            queue=SpecterQueue(
                app,
                url=redis_url,
                name=app.config["SPECTER_QUEUE_NAME"],
                embedded_worker=app.config["SPECTER_EMBEDDED_WORKER"],
            ),
        )
        app.extensions["specter"] = state
        state.queue.maintain(
            on_start=sweep_now,
            on_takeover=sweep,
            periodic=[
                (sweep, float(app.config["SPECTER_SWEEP_INTERVAL"] or 0)),
                (poll_feeds, float(app.config["SPECTER_POLL_INTERVAL"] or 0)),
                (prune, pruning.interval),
            ],
        )

        blueprint = make_blueprint()
        register_export_routes(blueprint)  # the /export_* entry points of the admin's export page
        app.register_blueprint(blueprint, url_prefix=app.config["SPECTER_URL_PREFIX"])
        exempt_from_host_csrf(app, blueprint)  # Specter sends its token, never a CSRF token
        app.cli.add_command(specter_cli)
        install_hooks(state)
        install_log_redaction(url_prefix=app.config["SPECTER_URL_PREFIX"])
        got_request_exception.connect(_hint_missing_tables, app)
        with app.app_context():
            if app.config["SPECTER_SQLITE_TUNING"]:
                tune_sqlite(db.engine, app.config)  # before our first transaction: creating tables is one too
            if create_tables:
                create_specter_tables(db)
        if app.config["SPECTER_ADMIN"]:
            register_admin(app, state)

    # conveniences for the current app ------------------------------------------------------------
    @property
    def state(self) -> SpecterState:
        return get_state()

    @property
    def client(self) -> SpecterClient:
        return get_state().client

    @property
    def settings(self) -> SettingsStore:
        return get_state().settings

    @property
    def queue(self) -> SpecterQueue:
        return get_state().queue

    def request_pull(self, feed: str) -> bool:
        """Ask for a pull of ``feed`` (what a callback does); True when a job was enqueued."""
        return request_pull(feed)

    def stop(self, app: Flask | None = None) -> None:
        """Stop the embedded worker thread of ``app`` (tests, shutdown)."""
        get_state(app).queue.stop_worker()


def _hint_missing_tables(sender: Flask, exception: BaseException, **extra: Any) -> None:
    """A request failed on a missing table of ours: say how to create them next to the traceback."""
    if missing_specter_table(exception):
        log.error(MISSING_TABLES_HINT)
