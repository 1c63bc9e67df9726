"""A per-thread, re-entrant switch: ``with FLAG.on(): ...`` and ``if FLAG: ...``.

Used to mark work done on the connector's own behalf (stock written from Specter's feed, data imported
from Specter) so the shop-side guards and the outbox let it through.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class ThreadFlag:
    def __init__(self) -> None:
        self._local = threading.local()

    @contextlib.contextmanager
    def on(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth

    def __bool__(self) -> bool:
        return getattr(self._local, "depth", 0) > 0
