"""The extension's tables: created on request (``create_tables=True``, ``flask specter create-tables``), never
behind the host's back, and a clear hint when they are missing (the shipped Alembic revisions create them too).
"""

from __future__ import annotations

from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, Table, event
from sqlalchemy.exc import DBAPIError, IntegrityError

from .models import Base, FeedState
from .remote.protocol import FEEDS


def create_specter_tables(db: SQLAlchemy) -> None:
    """Create the extension's missing tables and its per-feed rows; idempotent (``flask specter create-tables``)."""
    Base.metadata.create_all(db.engine)
    _ensure_feed_rows(db)


@event.listens_for(FeedState.__table__, "after_create")
def _feed_rows_with_the_table(table: Table, connection: Connection, **kw: Any) -> None:
    """Whoever creates the tables (``metadata.create_all`` too) gets the feed rows a pull locks on."""
    connection.execute(table.insert(), [{"feed": name, "pull_requested": False, "failures": 0} for name in FEEDS])


def _ensure_feed_rows(db: SQLAlchemy) -> None:
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
