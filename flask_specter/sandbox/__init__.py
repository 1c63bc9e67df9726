"""A runnable Specter simulator that speaks the contract's wire protocol, for demos and tests.

``python -m flask_specter.sandbox --port 8099`` runs it; ``create_app(config)`` builds it in-process;
``flask_specter.sandbox.testing`` starts it for tests and drives its ``/_sandbox/`` hooks. Its page at
``/`` (Swedish) lets a person do what the hooks do, by hand: ``pages.py``; the hooks' bodies are listed
in ``actions.py`` and ``hooks.py``.
"""

from __future__ import annotations

from .app import create_app
from .state import Sandbox

__all__ = ["Sandbox", "create_app"]
