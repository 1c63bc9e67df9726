"""A short in-process memory of the pulls a callback asked for: a storm of callbacks costs one Redis
round trip per feed, process and window, and its last call is never lost.

``request_pull`` is a Redis ``SET NX`` (and one enqueue when it sets the flag). Specter may call many
times a second (every sale at the till). After one real request, this process answers the same feed's
next calls for ``WINDOW`` seconds from memory and notes that a request is owed; at the end of the window
a timer makes it (a no-op ``SET NX`` while the queued pull has not started, a new pull once it has). So
every accepted call is followed, within the window, by a real request made after it: the pull behind
that request reads Specter's flags after the call was sent. A timer's request that fails (Redis down)
is kept owed and tried again with back-off; the process then forgets its last request, so Specter's
next call goes to Redis and gets the 503 that asks it to call again.

Per app and process: a forked process (gunicorn ``--preload``) starts with an empty memory, and a process
that exits (a gunicorn worker recycled) makes its owed requests before it goes.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref

from flask import Flask

from ..redact import describe_exception
from ..state import get_state

log = logging.getLogger("flask_specter.routes")

WINDOW = 0.25  # seconds a real request covers the same feed's later calls in this process
RETRY_MAX = 30.0  # longest wait between a failed owed request and the next try


class PullRequests:
    """One app's memory in one process: when each feed's pull was last requested, and what is owed."""

    def __init__(self, app: Flask, window: float = WINDOW) -> None:
        self.app = app
        self.window = window
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._asked: dict[str, float] = {}  # feed -> time.monotonic() of the last real request
        self._owed: dict[str, float] = {}  # feed -> epoch of the first call answered from memory since
        self._timers: dict[str, threading.Timer] = {}
        self._retry: dict[str, float] = {}  # feed -> back-off of the next try after a failed owed request
        self.real = 0  # real requests made (Redis round trips), for tests and the bench

    def ask(self, feed: str) -> bool:
        """Have ``feed`` pulled after this moment: True when answered from memory, False when Redis was
        asked now. Raises what ``request_pull`` raises (the queue is down) when Redis was asked."""
        now = time.monotonic()
        with self._lock:
            asked = self._asked.get(feed)
            if asked is not None and now - asked < self.window:
                self._owed.setdefault(feed, time.time())
                if feed not in self._timers:
                    self._start_timer(feed, asked + self.window - now)
                return True
        self._request(feed, None)
        with self._lock:
            self._asked[feed] = max(now, self._asked.get(feed, now))
            self._retry.pop(feed, None)
            if feed in self._owed and feed in self._timers:  # a back-off pending: the queue is back, pay now
                self._timers.pop(feed).cancel()
                self._start_timer(feed, self.window)
        return False

    def _request(self, feed: str, requested_at: float | None) -> None:
        from .pulls import request_pull  # pulls imports the apply jobs; the blueprint need not load them

        with self._lock:
            self.real += 1
        request_pull(feed, requested_at=requested_at)

    def _start_timer(self, feed: str, delay: float) -> None:
        """Under the lock: the owed request of ``feed`` in ``delay`` seconds."""
        timer = threading.Timer(max(0.0, delay), self._pay, args=(feed,))
        timer.daemon = True
        self._timers[feed] = timer
        timer.start()

    def _pay(self, feed: str) -> None:
        """The timer: make the owed request; calls noted from now on start a window (and timer) of their own."""
        with self._lock:
            self._timers.pop(feed, None)
            owed_at = self._owed.pop(feed, None)
            if owed_at is None:
                return
            self._asked[feed] = time.monotonic()
        try:
            with self.app.app_context():
                self._request(feed, owed_at)
        except Exception as exc:
            with self._lock:
                self._asked.pop(feed, None)  # Specter's next call goes to Redis, and hears 503 while it is down
                self._owed[feed] = min(owed_at, self._owed.get(feed, owed_at))
                backoff = self._retry[feed] = min(RETRY_MAX, 2 * self._retry.get(feed, self.window / 2))
                if feed not in self._timers:
                    self._start_timer(feed, backoff)
            log.warning("could not queue the pull of %s owed to Specter's callbacks (next try in %.1f s): %s", feed, backoff, describe_exception(exc))
            return
        with self._lock:
            self._retry.pop(feed, None)

    def settle(self) -> None:
        """Make every owed request now: at exit (a gunicorn worker recycled mid-storm), where the timers'
        daemon threads would die with their requests unmade. One try each; a failure is only logged."""
        with self._lock:
            owed, self._owed = self._owed, {}
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
        for feed, owed_at in owed.items():
            try:
                with self.app.app_context():
                    self._request(feed, owed_at)
            except Exception as exc:
                log.warning("could not queue the pull of %s owed to Specter's callbacks at exit: %s", feed, describe_exception(exc))

    def pending(self) -> dict[str, float]:
        """Feeds owed a request, with the epoch of the first call waiting for it."""
        with self._lock:
            return dict(self._owed)


_CREATING = threading.Lock()


def pull_requests(app: Flask | None = None) -> PullRequests:
    """This process's memory for ``app`` (default: the current app's)."""
    app = app or get_state().app
    memory: PullRequests | None = app.extensions.get("specter_pull_requests")
    if memory is None or memory.pid != os.getpid():
        with _CREATING:
            memory = app.extensions.get("specter_pull_requests")
            if memory is None or memory.pid != os.getpid():
                memory = app.extensions["specter_pull_requests"] = PullRequests(app)
                atexit.register(_settle, weakref.ref(memory))
    return memory


def _settle(ref: weakref.ref[PullRequests]) -> None:
    memory = ref()
    if memory is not None and memory.pid == os.getpid():
        memory.settle()


def ask_for_pull(feed: str) -> bool:
    """A callback's request for a pull of ``feed``: see ``PullRequests.ask``."""
    return pull_requests().ask(feed)
