"""One simulated Specter account (``Sandbox``) and how the sandbox's views find it."""

from __future__ import annotations

from typing import Any

from flask import current_app

from .callbacks import Dispatcher
from .faults import Faults
from .store import Store

EXTENSION_KEY = "specter_sandbox"


class Sandbox:
    """One simulated Specter account: configuration, database, callback dispatcher, armed faults."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.store = Store(config["SANDBOX_DB"])
        self.faults = Faults()
        self.dispatcher = Dispatcher(self.store, config)
        self.store.on_commit = self.dispatcher.notify

    def close(self) -> None:
        self.dispatcher.stop()
        self.store.close()


def get_sandbox() -> Sandbox:
    sandbox: Sandbox = current_app.extensions[EXTENSION_KEY]
    return sandbox
