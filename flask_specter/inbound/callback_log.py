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
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from ..i18n import N_
from ..models import CallbackLog, utcnow
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
    """Per app and process: remembers when each (route, outcome) was last written, to throttle."""

    def __init__(self) -> None:
        self._written: dict[tuple[str, bool], float] = {}
        self._lock = threading.Lock()

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
    if not _recorder(app).due(route, accepted):
        return response
    engine = app.extensions["specter"].db.engine
    at = utcnow()
    response.call_on_close(lambda: _write(engine, route, accepted, at, reason))
    return response


def _write(engine: Engine, route: str, accepted: bool, at: dt.datetime, reason: str | None) -> None:
    """One UPDATE (an INSERT the first time) on its own connection; a failure is only logged."""
    values = {"last_accepted_at": at} if accepted else {"last_refused_at": at, "last_refused_reason": (reason or "")[:255]}
    try:
        with engine.begin() as conn:
            if conn.execute(update(CallbackLog).where(CallbackLog.route == route).values(**values)).rowcount:
                return
            try:
                with conn.begin_nested():
                    conn.execute(insert(CallbackLog).values(route=route, **values))
            except IntegrityError:  # another process inserted it first
                conn.execute(update(CallbackLog).where(CallbackLog.route == route).values(**values))
    except Exception as exc:  # the admin's view of callbacks must never break a callback
        log.warning("could not record the callback on %s: %s", route, describe_exception(exc))


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
