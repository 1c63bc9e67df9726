"""``Specter``: the Flask extension object. Per-app state lives in ``app.extensions["specter"]``."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, got_request_exception
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError

from . import config as _config
from .models import Base, FeedState
from .queue import SpecterQueue
from .redact import install_log_redaction
from .remote.client import SpecterClient
from .remote.errors import SpecterConfigError
from .remote.protocol import FEEDS
from .settings import SettingsStore
from .shop.adapter import ShopAdapter
from .sqlite import tune_sqlite

log = logging.getLogger("flask_specter")


@dataclass
class SpecterState:
    """Everything the extension keeps for one app."""

    app: Flask
    db: Any
    adapter: ShopAdapter
    settings: SettingsStore
    queue: SpecterQueue
    pid: int = field(default_factory=os.getpid)
    _client: SpecterClient | None = None
    _client_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def config(self):
        return self.app.config

    @property
    def client(self) -> SpecterClient:
        """The app's Specter client (one ``requests.Session``, created on first use)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    missing = [k for k in ("SPECTER_SBM_ID", "SPECTER_API_USER_ID", "SPECTER_USER_KEY", "SPECTER_INTEGRATION_KEY") if not self.config.get(k)]
                    if missing:
                        raise SpecterConfigError(f"Specter is not configured: set {', '.join(missing)}")
                    self._client = SpecterClient.from_config(self.config)
        return self._client


def get_state(app: Flask | None = None) -> SpecterState:
    """The extension state of ``app`` (default: the current app); a clear error without ``init_app``."""
    app = app or current_app._get_current_object()
    try:
        return app.extensions["specter"]
    except KeyError:
        raise RuntimeError(
            f"flask_specter is not set up on the app {app.name!r}: call Specter().init_app(app, db=..., adapter=...) first"
        ) from None


class Specter:
    """Join a Flask shop to Specter Business Management.

    ``Specter(app, db=db, adapter=adapter)`` or ``specter = Specter()`` then
    ``specter.init_app(app, db=db, adapter=adapter)``; one object may serve several apps.
    """

    def __init__(self, app: Flask | None = None, **kwargs: Any):
        if app is not None:
            self.init_app(app, **kwargs)

    def init_app(self, app: Flask, *, db, adapter: ShopAdapter, create_tables: bool = False) -> None:
        """Join ``app`` to Specter. Touches no table unless ``create_tables=True``.

        Reads:
          - ``app.config``: every ``SPECTER_*`` key (defaults from ``config.py`` are set with
            ``setdefault``, so the host's values win) and ``REDIS_URL`` when ``SPECTER_REDIS_URL`` is unset;
          - ``db``: the host's Flask-SQLAlchemy object, whose engine and session carry the extension's
            tables (``flask_specter.metadata``) next to the host's own;
          - ``adapter``: the ``ShopAdapter`` that reads and writes the host's products, customers and orders.

        Registers:
          - ``app.extensions["specter"]`` (a ``SpecterState``: settings, queue, client); the queue is RQ on
            Redis, or without a Redis URL an in-process fakeredis whose worker thread starts with the first
            job (the ``[embedded]`` extra);
          - the callback blueprint under ``SPECTER_URL_PREFIX`` and the ``flask specter …`` CLI group;
          - the adapter's session listeners (outbox rows written in the shop's own transaction);
          - log redaction (``redact.py``): personal data masked on the extension's and RQ's loggers, the
            callback token hidden on the server's request log lines of the callback URLs, no other logger;
          - a hint in the log when a request fails because the extension's tables are missing;
          - on SQLite (``SPECTER_SQLITE_TUNING``), connection listeners on ``db.engine`` (WAL, busy timeout,
            ``BEGIN IMMEDIATE`` for writers);
          - the admin views on the host's Flask-Admin ``Admin`` when ``SPECTER_ADMIN`` is on.

        ``create_tables=True`` creates the missing tables with ``create_all`` (demo, tests, quick starts).
        A shop with migrations runs the shipped Alembic revisions instead (``flask db upgrade heads``),
        one without runs ``flask specter create-tables`` once.
        """
        if "specter" in app.extensions:
            raise RuntimeError(f"flask_specter is already registered on the app {app.name!r}; call init_app once per app")
        for key, default in _config.DEFAULTS.items():
            app.config.setdefault(key, default)
        redis_url = app.config.get("SPECTER_REDIS_URL") or app.config.get("REDIS_URL")
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

        from .cli import specter_cli
        from .inbound.callbacks import make_blueprint
        from .outbound.listeners import install_hooks

        app.register_blueprint(make_blueprint(), url_prefix=app.config["SPECTER_URL_PREFIX"])
        app.cli.add_command(specter_cli)
        install_hooks(state)
        install_log_redaction(url_prefix=app.config["SPECTER_URL_PREFIX"])
        got_request_exception.connect(_hint_missing_tables, app)
        with app.app_context():
            if app.config["SPECTER_SQLITE_TUNING"]:
                tune_sqlite(db.engine)  # before our first transaction: creating tables is one too
            if create_tables:
                create_specter_tables(db)
        if app.config["SPECTER_ADMIN"]:
            from .admin import register_admin

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
        from .inbound.pulls import request_pull

        return request_pull(feed)

    def stop(self, app: Flask | None = None) -> None:
        """Stop the embedded worker thread of ``app`` (tests, shutdown)."""
        get_state(app).queue.stop_worker()


def create_specter_tables(db) -> None:
    """Create the extension's missing tables and its per-feed rows; idempotent (``flask specter create-tables``)."""
    Base.metadata.create_all(db.engine)
    _ensure_feed_rows(db)


@event.listens_for(FeedState.__table__, "after_create")
def _feed_rows_with_the_table(table, connection, **kw: Any) -> None:
    """Whoever creates the tables (``metadata.create_all`` too) gets the feed rows a pull locks on."""
    connection.execute(table.insert(), [{"feed": name, "pull_requested": False, "failures": 0} for name in FEEDS])


def _ensure_feed_rows(db) -> None:
    """One lock row per feed; several shop processes starting at once may race to add them."""
    existing = {row.feed for row in db.session.query(FeedState).all()}
    for name in FEEDS:
        if name not in existing:
            db.session.add(FeedState(feed=name))
    try:
        db.session.commit()
    except IntegrityError:  # another process added them first: theirs are as good as ours
        db.session.rollback()


MISSING_TABLES_HINT = (
    "Flask-Specter's tables are missing in this database: run `flask db upgrade heads` (Flask-Migrate with the "
    "extension's revisions, see flask_specter.migrations) or `flask specter create-tables`"
)


def missing_specter_table(exc: BaseException) -> bool:
    """True when ``exc`` is the database saying one of the extension's tables does not exist."""
    if not isinstance(exc, DBAPIError):
        return False
    text = str(exc.orig if exc.orig is not None else exc).lower()
    missing = "no such table" in text or ("does not exist" in text and "relation" in text) or "doesn't exist" in text
    return missing and "specter_" in text


def _hint_missing_tables(sender: Flask, exception: BaseException, **extra: Any) -> None:
    """A request failed on a missing table of ours: say how to create them next to the traceback."""
    if missing_specter_table(exception):
        log.error(MISSING_TABLES_HINT)
