"""A deadline for a whole HTTP exchange with Specter: connect, send, headers and body together.

``requests`` applies its timeout to each socket operation, so a peer that sends one byte every two
seconds never trips a 30-second timeout and holds a pull for as long as the job may run. Here every
connection the client's adapter uses notes its socket in the calling thread's current ``Deadline``;
when the deadline passes, a timer shuts that socket down, the blocked read returns, and the client
raises ``SpecterTimeout``.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import HTTPResponse

_CURRENT = threading.local()
WATCH_THREAD = "specter-deadlines"  # the watch's thread: a fork may leave it behind (the child starts its own)


class Deadline:
    """``with Deadline(seconds) as d:`` bounds the exchange; ``d.expired`` tells why it broke off."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self.done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            late = self.expired
        if late:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def __enter__(self) -> Deadline:
        self._outer = getattr(_CURRENT, "deadline", None)
        _CURRENT.deadline = self
        _WATCH.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.done = True  # the watch drops it when its time comes; nothing to wake
        _CURRENT.deadline = self._outer


class _Watch:
    """One thread per process that expires the deadlines whose time has come (a thread per exchange,
    as ``threading.Timer`` would start, cost more than a short exchange with Specter itself)."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Deadline]] = []  # a heap: (monotonic time, sequence, deadline)
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        entry = (time.monotonic() + deadline.seconds, next(self._seq), deadline)
        with self._wake:
            heapq.heappush(self._due, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=WATCH_THREAD, daemon=True)
                self._thread.start()
            elif self._due[0] is entry:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._due and self._due[0][2].done:
                    heapq.heappop(self._due)
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is None or wait > 0:
                    self._wake.wait(wait)
                    continue
                _when, _seq, deadline = heapq.heappop(self._due)
            deadline.expire()


_WATCH = _Watch()


def _new_watch_after_fork() -> None:
    """A forked child (RQ's work horse) starts a watch of its own: the parent's thread and lock are not its."""
    global _WATCH
    _WATCH = _Watch()


os.register_at_fork(after_in_child=_new_watch_after_fork)

def _shut(sock: socket.socket) -> None:
    """Shut the descriptor itself (for TLS too, without unwrapping): a blocked recv returns at once."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _note(sock: socket.socket | None) -> None:
    deadline = getattr(_CURRENT, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _note(self.sock)

    # urllib3's getresponse overrides http.client's with another HTTPResponse (urllib3 ignores [override] too)
    def getresponse(self, *args: Any, **kwargs: Any) -> HTTPResponse:  # type: ignore[override]
        _note(self.sock)  # a kept-alive connection was connected by an earlier call
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _note(self.sock)

    # urllib3's getresponse overrides http.client's with another HTTPResponse (urllib3 ignores [override] too)
    def getresponse(self, *args: Any, **kwargs: Any) -> HTTPResponse:  # type: ignore[override]
        _note(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections can be cut by the current ``Deadline``."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
