"""What Specter's calls got: the last accepted and the last refused call per route, for the admin.

The callback is a hot path (no Redis round trip in a storm, no database work), so recording stays off
it: the request only notes the call in memory (the latest time and reason per route and outcome, and a
count per route, hour and outcome); a timer thread of the process writes what was noted, on its own
connection, at most once per second. A storm of callbacks thus costs one small UPDATE per second per
process and outcome, plus the counts; Specter never waits for it, nor does the server's worker (under
gunicorn's sync workers a write after the answer would still hold the worker, and SQLite's lock with it).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from ..i18n import N_
from ..models import CallbackCount, CallbackLog, utcnow
from ..redact import describe_exception

log = logging.getLogger("flask_specter.routes")

THROTTLE_SECONDS = 1.0
UNKNOWN_ROUTE = "unknown"
# route key -> label on the admin pages (a msgid, translated there); the first three are the feeds' own callbacks.
ROUTE_LABELS = {
    "stock": N_("Lagersaldo"),
    "articles": N_("Artikeldata"),
    "orders": N_("Orderstatus"),
    "order-removed": N_("Borttagen order"),
    "invoice": N_("Ny faktura"),
    UNKNOWN_ROUTE: N_("Okänd adress"),
}
# Refusals older than this are history, not a warning (a route that never gets an accepted call).
WARN_FOR = dt.timedelta(days=7)

Latest = dict[tuple[str, bool], tuple[dt.datetime, str | None]]


class CallbackRecorder:
    """Per app and process: the calls noted since the last write (latest time and reason per route and
    outcome, counts per route, hour and outcome), and the one timer that writes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: Latest = {}
        self._counts: Counter[tuple[str, dt.datetime, bool]] = Counter()
        self._timer: threading.Timer | None = None
        self._written_at = -THROTTLE_SECONDS  # time.monotonic() of the last write
        self.pid = os.getpid()  # a forked process starts with a recorder of its own (its timer is not copied)

    def note(self, route: str, accepted: bool, at: dt.datetime, reason: str | None) -> bool:
        """Note one call; True when no write is planned yet (the caller then plans one)."""
        with self._lock:
            self._latest[(route, accepted)] = (at, reason)
            self._counts[(route, hour_of(at), accepted)] += 1
            return self._timer is None

    def flush_soon(self, engine: Engine) -> None:
        """Plan the write: at once when the last one is a second old, else when it will be."""
        with self._lock:
            if self._timer is not None:
                return
            delay = max(0.0, self._written_at + THROTTLE_SECONDS - time.monotonic())
            timer = self._timer = threading.Timer(delay, self._flush, args=(engine,))
            timer.daemon = True
        timer.start()

    def take(self) -> tuple[Latest, Counter[tuple[str, dt.datetime, bool]]]:
        with self._lock:
            latest, self._latest = self._latest, {}
            counts, self._counts = self._counts, Counter()
            return latest, counts

    def give_back(self, latest: Latest, counts: Counter[tuple[str, dt.datetime, bool]]) -> None:
        """What a failed write could not store: kept for the next write (a few keys per hour at most)."""
        with self._lock:
            for key, value in latest.items():
                self._latest.setdefault(key, value)  # a call noted meanwhile is newer
            self._counts.update(counts)

    def _flush(self, engine: Engine) -> None:
        with self._lock:
            self._timer = None  # calls noted from now on plan the next write
            self._written_at = time.monotonic()
        _write(engine, self)


def _recorder(app: Flask) -> CallbackRecorder:
    recorder: CallbackRecorder | None = app.extensions.get("specter_callback_recorder")
    if recorder is None or recorder.pid != os.getpid():
        recorder = app.extensions["specter_callback_recorder"] = CallbackRecorder()
    return recorder


def record_after(response: Response, route: str, *, accepted: bool, reason: str | None = None) -> Response:
    """Note this call for the admin (written by the recorder's timer, at most once a second); returns ``response``."""
    # current_app is typed as the Flask it proxies, so the proxy's own method is unknown to mypy
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    recorder = _recorder(app)
    if recorder.note(route, accepted, utcnow(), reason):
        recorder.flush_soon(app.extensions["specter"].db.engine)
    return response


def hour_of(at: dt.datetime) -> dt.datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _write(engine: Engine, recorder: CallbackRecorder) -> None:
    """The noted calls in one transaction on the recorder's own connection; a failure is only logged, and
    what was noted is kept for the next write."""
    latest, counts = recorder.take()
    if not latest and not counts:
        return
    try:
        with engine.begin() as conn:
            for (route, accepted), (at, reason) in sorted(latest.items()):
                last: dict[str, Any] = {"last_accepted_at": at} if accepted else {"last_refused_at": at, "last_refused_reason": (reason or "")[:255]}
                _upsert(conn, CallbackLog, {"route": route}, last)
            for (route, hour, accepted), n in sorted(counts.items()):
                added = {"accepted": n if accepted else 0, "refused": 0 if accepted else n}
                _upsert(conn, CallbackCount, {"hour": hour, "route": route}, added, add="accepted" if accepted else "refused")
    except Exception as exc:  # the admin's view of callbacks must never break a callback
        recorder.give_back(latest, counts)
        log.warning("could not record Specter's calls: %s", describe_exception(exc))


def _upsert(conn: Connection, model: type[CallbackLog] | type[CallbackCount], key: dict[str, Any], values: dict[str, Any], *, add: str | None = None) -> None:
    """UPDATE the row of ``key`` (adding to column ``add`` instead of setting it), INSERT it if missing."""

    def _update() -> int:
        vals: dict[Any, Any] = dict(values)
        if add is not None:
            column = getattr(model, add)
            vals = {column: column + values[add]}
        return conn.execute(update(model).filter_by(**key).values(vals)).rowcount

    if _update():
        return
    try:
        with conn.begin_nested():
            conn.execute(insert(model).values(**key, **values))
    except IntegrityError:  # another process inserted it first
        _update()


@dataclass
class CallbackView:
    """One route's record as the admin pages show it."""

    route: str
    label: str
    accepted_at: dt.datetime | None
    refused_at: dt.datetime | None
    reason: str | None

    @property
    def warning(self) -> bool:
        """The last refusal is recent and no accepted call came after it: Specter's calls fail now."""
        if self.refused_at is None or self.refused_at < utcnow() - WARN_FOR:
            return False
        return self.accepted_at is None or self.refused_at >= self.accepted_at


def callback_views(session: Session | scoped_session[Any]) -> dict[str, CallbackView]:
    """Every route's record, keyed by route (routes never called are present with empty times)."""
    rows = {row.route: row for row in session.execute(select(CallbackLog)).scalars()}
    views: dict[str, CallbackView] = {}
    for route, label in ROUTE_LABELS.items():
        row = rows.get(route)
        views[route] = CallbackView(
            route=route,
            label=label,
            accepted_at=row.last_accepted_at if row else None,
            refused_at=row.last_refused_at if row else None,
            reason=row.last_refused_reason if row else None,
        )
    return views


def refused_warnings(session: Session | scoped_session[Any]) -> list[CallbackView]:
    """The routes whose calls are being refused, for the warning block on both admin pages."""
    return [view for view in callback_views(session).values() if view.warning]
