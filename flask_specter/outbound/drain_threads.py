"""A drain job's second drain loop: the same loop in a thread of its own, with its own session and sender.

Two calls to Specter are then under way at once, each with its own rows (the claims keep the two from
sending a row twice, as between workers). On SQLite too: the drain's pipeline holds no write lock
across a call to Specter, so the two loops only queue for the lock's short record transactions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..state import SpecterState, get_state

log = logging.getLogger("flask_specter.outbox")

DRAIN_THREADS = 2  # drain loops in one drain job
Drain = Callable[[SpecterState, str], dict[str, int]]


def threads_help() -> bool:
    """More than one drain loop per job."""
    return DRAIN_THREADS > 1


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
