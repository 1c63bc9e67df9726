"""Every sandbox setting with its default, in one place.

Credentials use the same ``SPECTER_*`` names as the shop, so one dict configures both sides. Runtime
knobs (``SANDBOX_*``) can also be changed on a running sandbox through ``POST /_sandbox/config``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

CREDENTIAL_KEYS = (
    "SPECTER_SBM_ID",
    "SPECTER_API_USER_ID",
    "SPECTER_USER_KEY",
    "SPECTER_INTEGRATION_KEY",
)

DEFAULTS: dict[str, Any] = {
    "SPECTER_SBM_ID": "4711",
    "SPECTER_API_USER_ID": "1",
    "SPECTER_USER_KEY": "demo-user-key",
    "SPECTER_INTEGRATION_KEY": "demo-integration-key",
    "SANDBOX_DB": os.path.join(".", "var", "sandbox.sqlite3"),
    # Most items one feed fetch returns; more pending is flagged in the XML.
    "SANDBOX_RESPONSE_MAX_LIMIT": 1000,
    # A failed callback is retried this many times, waiting backoff * 2**n seconds before retry n+1.
    "SANDBOX_CALLBACK_RETRIES": 3,
    "SANDBOX_CALLBACK_BACKOFF": 1.0,
    # A callback that does not answer 200 within this many seconds has failed.
    "SANDBOX_CALLBACK_TIMEOUT": 5.0,
    "SANDBOX_CALLBACKS_ENABLED": True,
    # Signals arriving within this window are coalesced into one call per URL.
    "SANDBOX_CALLBACK_COALESCE": 0.05,
    "SANDBOX_CALLBACK_METHOD": "GET",
    # Host names the page and hooks answer besides localhost/127.0.0.1/[::1] on their port (DNS rebinding).
    "SANDBOX_ALLOWED_HOSTS": (),
}

# Runtime settings: JSON name used by POST /_sandbox/config -> config key, converter.
RUNTIME: dict[str, tuple[str, type]] = {
    "responseMaxLimit": ("SANDBOX_RESPONSE_MAX_LIMIT", int),
    "callbackRetries": ("SANDBOX_CALLBACK_RETRIES", int),
    "callbackBackoff": ("SANDBOX_CALLBACK_BACKOFF", float),
    "callbackTimeout": ("SANDBOX_CALLBACK_TIMEOUT", float),
    "callbacksEnabled": ("SANDBOX_CALLBACKS_ENABLED", bool),
    "callbackCoalesce": ("SANDBOX_CALLBACK_COALESCE", float),
    "callbackMethod": ("SANDBOX_CALLBACK_METHOD", str),
}


def build_config(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults, then credentials from the environment (as the shop reads them), then ``overrides``."""
    env = os.environ if env is None else env
    config = dict(DEFAULTS)
    for key in CREDENTIAL_KEYS:
        if env.get(key):
            config[key] = env[key]
    for key, value in (overrides or {}).items():
        if value is not None:
            config[key] = value
    return config


def runtime_view(config: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime settings under their JSON names, for the state and config hooks."""
    return {name: config[key] for name, (key, _conv) in RUNTIME.items()}


def apply_runtime(config: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply JSON-named runtime changes to ``config``; unknown names are a ValueError."""
    updated = dict(config)
    for name, value in changes.items():
        if name not in RUNTIME:
            raise ValueError(f"unknown setting {name!r}; known: {', '.join(RUNTIME)}")
        key, conv = RUNTIME[name]
        if conv is bool and isinstance(value, str):
            value = value.strip().lower() in ("1", "true", "yes", "on")
        updated[key] = conv(value)
    if updated["SANDBOX_RESPONSE_MAX_LIMIT"] < 1:
        raise ValueError("responseMaxLimit must be at least 1")
    config.update(updated)
    return runtime_view(config)
