"""A deadline for a whole HTTP exchange with Specter: connect, send, headers and body together.

``requests`` applies its timeout to each socket operation, so a peer that sends one byte every two
seconds never trips a 30-second timeout and holds a pull for as long as the job may run. Here every
connection the client's adapter uses notes its socket in the calling thread's current ``Deadline``;
when the deadline passes, a timer shuts that socket down, the blocked read returns, and the client
raises ``SpecterTimeout``.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import HTTPResponse

_CURRENT = threading.local()


class Deadline:
    """``with Deadline(seconds) as d:`` bounds the exchange; ``d.expired`` tells why it broke off."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            late = self.expired
        if late:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def __enter__(self) -> Deadline:
        self._outer = getattr(_CURRENT, "deadline", None)
        _CURRENT.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _CURRENT.deadline = self._outer


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
