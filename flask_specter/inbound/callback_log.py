"""What Specter's calls got: the last accepted and the last refused call per route, for the admin.

The callback is a hot path (one Redis ``SET NX``, no database work), so recording must stay off it:
each process writes at most once per second per route and outcome, and only after the response has
been sent (``Response.call_on_close``), on its own connection, never through the request's session.
A storm of callbacks thus costs one small UPDATE per second per process, and Specter never waits for it.
"""

from __future__ import annotations

import datetime as dt
import logging
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


class CallbackRecorder:
    """Per app and process: remembers when each (route, outcome) was last written, to throttle, and
    counts the calls per (route, hour, outcome) until they are added to ``specter_callback_counts``."""

    def __init__(self) -> None:
        self._written: dict[tuple[str, bool], float] = {}
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, dt.datetime, bool]] = Counter()
        self._timer: threading.Timer | None = None

    def count(self, route: str, accepted: bool, at: dt.datetime) -> None:
        with self._lock:
            self._counts[(route, hour_of(at), accepted)] += 1

    def take_counts(self) -> Counter[tuple[str, dt.datetime, bool]]:
        with self._lock:
            taken, self._counts = self._counts, Counter()
            return taken

    def give_back(self, counts: Counter[tuple[str, dt.datetime, bool]]) -> None:
        """Counts a failed write could not store: kept for the next write (a few keys per hour at most)."""
        with self._lock:
            self._counts.update(counts)

    def flush_later(self, engine: Engine) -> None:
        """Calls counted inside the throttle window are written by one timer a second later."""
        with self._lock:
            if self._timer is not None:
                return
            timer = self._timer = threading.Timer(THROTTLE_SECONDS, self._flush_by_timer, args=(engine,))
            timer.daemon = True
        timer.start()

    def _flush_by_timer(self, engine: Engine) -> None:
        with self._lock:
            self._timer = None
        _write_counts(engine, self)

    def due(self, route: str, accepted: bool) -> bool:
        """True (and claims the slot) when this (route, outcome) was not written in the last second."""
        now = time.monotonic()
        key = (route, accepted)
        with self._lock:
            if now - self._written.get(key, -THROTTLE_SECONDS) < THROTTLE_SECONDS:
                return False
            self._written[key] = now
            return True


def _recorder(app: Flask) -> CallbackRecorder:
    recorder: CallbackRecorder | None = app.extensions.get("specter_callback_recorder")
    if recorder is None:
        recorder = app.extensions.setdefault("specter_callback_recorder", CallbackRecorder())
    return recorder


def record_after(response: Response, route: str, *, accepted: bool, reason: str | None = None) -> Response:
    """Have ``response`` record this call once it has been sent (throttled); returns ``response``."""
    # current_app is typed as the Flask it proxies, so the proxy's own method is unknown to mypy
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    recorder = _recorder(app)
    at = utcnow()
    recorder.count(route, accepted, at)
    engine = app.extensions["specter"].db.engine
    if not recorder.due(route, accepted):
        recorder.flush_later(engine)
        return response
    response.call_on_close(lambda: _write(engine, route, accepted, at, reason, recorder))
    return response


def hour_of(at: dt.datetime) -> dt.datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _write(engine: Engine, route: str, accepted: bool, at: dt.datetime, reason: str | None, recorder: CallbackRecorder | None = None) -> None:
    """One UPDATE (an INSERT the first time) on its own connection; a failure is only logged."""
    values = {"last_accepted_at": at} if accepted else {"last_refused_at": at, "last_refused_reason": (reason or "")[:255]}
    try:
        with engine.begin() as conn:
            _upsert(conn, CallbackLog, {"route": route}, values)
    except Exception as exc:  # the admin's view of callbacks must never break a callback
        log.warning("could not record the callback on %s: %s", route, describe_exception(exc))
    if recorder is not None:
        _write_counts(engine, recorder)


def _write_counts(engine: Engine, recorder: CallbackRecorder) -> None:
    """Add the calls counted so far to their hours; on failure they are kept for the next write."""
    counts = recorder.take_counts()
    if not counts:
        return
    try:
        with engine.begin() as conn:
            for (route, hour, accepted), n in sorted(counts.items()):
                values = {"accepted": n if accepted else 0, "refused": 0 if accepted else n}
                _upsert(conn, CallbackCount, {"hour": hour, "route": route}, values, add="accepted" if accepted else "refused")
    except Exception as exc:
        recorder.give_back(counts)
        log.warning("could not count the callbacks: %s", describe_exception(exc))


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
