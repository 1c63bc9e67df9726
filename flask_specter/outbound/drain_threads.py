"""A drain job's second sender: the same drain loop in a thread of its own, with its own session.

While one sender waits for Specter's answer, the other does its database work. The claims keep the two
from sending a row twice, as between workers. Not on SQLite: its writer holds the one write lock from a
row's first read to its commit, across the call to Specter, so a second thread would only wait for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..state import SpecterState, get_state

log = logging.getLogger("flask_specter.outbox")

DRAIN_THREADS = 2  # senders in one drain job (not on SQLite)
Drain = Callable[[SpecterState, str], dict[str, int]]


def threads_help(state: SpecterState) -> bool:
    """More than one sender per job: on any database but SQLite."""
    return DRAIN_THREADS > 1 and state.db.engine.dialect.name != "sqlite"


def start_senders(state: SpecterState, drain: Drain, results: list[dict[str, int]]) -> list[threading.Thread]:
    """``DRAIN_THREADS - 1`` more senders running ``drain`` (role "thread") in their own app context; each
    appends its counts to ``results`` when it ends. They hand over to no job when their budget is spent
    (the job's main loop does) and end when no row is due; the job joins them before it ends."""
    return [_start(state.app, drain, results) for _ in range(DRAIN_THREADS - 1)]


def _start(app: object, drain: Drain, results: list[dict[str, int]]) -> threading.Thread:
    def run() -> None:
        with app.app_context():  # type: ignore[attr-defined]
            inner = get_state()
            try:
                with inner.settings.snapshot():
                    results.append(drain(inner, "thread"))
            except Exception:
                log.exception("outbox drain thread failed")
            finally:
                inner.db.session.remove()

    thread = threading.Thread(target=run, name="outbox-drain", daemon=True)
    thread.start()
    return thread
