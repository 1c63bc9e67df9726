"""Per-app state (``app.extensions["specter"]``) and how every part finds it: ``get_state()``.

Below the extension object, so that jobs, listeners and views can reach the state without importing
``extension`` (which imports them all to wire them).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Config, Flask, current_app

from .queue import SpecterQueue
from .remote.client import SpecterClient
from .remote.errors import SpecterConfigError
from .settings import SettingsStore
from .shop.adapter import ShopAdapter


@dataclass
class SpecterState:
    """Everything the extension keeps for one app."""

    app: Flask
    db: Any
    adapter: ShopAdapter
    settings: SettingsStore
    queue: SpecterQueue
    pid: int = field(default_factory=os.getpid)
    _client: SpecterClient | None = None
    _client_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def config(self) -> Config:
        return self.app.config

    @property
    def client(self) -> SpecterClient:
        """The app's Specter client (one ``requests.Session``, created on first use)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    missing = [k for k in ("SPECTER_SBM_ID", "SPECTER_API_USER_ID", "SPECTER_USER_KEY", "SPECTER_INTEGRATION_KEY") if not self.config.get(k)]
                    if missing:
                        raise SpecterConfigError(f"Specter is not configured: set {', '.join(missing)}")
                    self._client = SpecterClient.from_config(self.config)
        return self._client

    def after_fork(self) -> None:
        """In a forked child (RQ's work horse, a drain's second loop): connections of its own, never the
        parent's sockets (database pools dropped without closing what the parent uses; a new Specter session)."""
        for engine in self.db.engines.values():
            engine.dispose(close=False)
        self.pid = os.getpid()
        self._client = None
        self._client_lock = threading.Lock()


def get_state(app: Flask | None = None) -> SpecterState:
    """The extension state of ``app`` (default: the current app); a clear error without ``init_app``."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug's LocalProxy
    try:
        state: SpecterState = app.extensions["specter"]
        return state
    except KeyError:
        raise RuntimeError(
            f"flask_specter is not set up on the app {app.name!r}: call Specter().init_app(app, db=..., adapter=...) first"
        ) from None
