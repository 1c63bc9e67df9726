"""Configuration from the environment: ``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY``, ``SHOP_*`` and
every ``SPECTER_*`` key, typed by the extension's own defaults so ``SPECTER_STOCK_BATCH_DELAY=0.5`` is a
float and ``SPECTER_VERIFY_TLS=false`` really is False.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask

from flask_specter.config import DEFAULTS as SPECTER_DEFAULTS

log = logging.getLogger("example_shop")

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
# Callables and other values that cannot come from a string.
NOT_FROM_ENV = {"SPECTER_ADMIN_ACCESS"}
SHOP_KEYS = ("SHOP_API_TOKEN", "SHOP_ADMIN_USER", "SHOP_ADMIN_PASSWORD")
# The login throttle's limits (auth_throttle.DEFAULTS): whole numbers.
LOGIN_KEYS = ("SHOP_LOGIN_MAX_FAILURES", "SHOP_LOGIN_MAX_FAILURES_PER_IP", "SHOP_LOGIN_WINDOW_SECONDS", "SHOP_LOGIN_LOCKOUT_SECONDS")
DEMO_ADMIN = ("admin", "admin")  # exists only while SHOP_DEMO is on


def parse_bool(key: str, text: str) -> bool:
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"{key}={text!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off")


def _convert(key: str, text: str) -> Any:
    """Convert ``text`` to the type of the extension's default for ``key`` (unknown keys stay strings)."""
    default = SPECTER_DEFAULTS.get(key)
    try:
        if isinstance(default, bool):
            return parse_bool(key, text)
        if isinstance(default, int):
            return int(text.strip())
        if isinstance(default, float):
            return float(text.strip())
    except ValueError as exc:
        raise ValueError(f"{key}={text!r}: expected a {type(default).__name__}") from exc
    return text


def database_uri(url: str) -> str:
    """SQLAlchemy URL for ``DATABASE_URL``: plain PostgreSQL URLs use psycopg 3, the driver installed."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def from_environ(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The app config the environment asks for (only keys that are set)."""
    env = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for key, text in env.items():
        if key.startswith("SPECTER_") and key not in NOT_FROM_ENV:
            config[key] = _convert(key, text)
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", *SHOP_KEYS):
        if env.get(key):
            config[key] = env[key]
    for key in ("SHOP_DEMO", "SESSION_COOKIE_SECURE"):
        if key in env:
            config[key] = parse_bool(key, env[key])
    for key in LOGIN_KEYS:
        if env.get(key):
            if not env[key].strip().isdigit():
                raise ValueError(f"{key}={env[key]!r} is not a whole number")
            config[key] = int(env[key])
    return config


def finish(config: dict[str, Any], instance_path: str) -> dict[str, Any]:
    """Fill what is derived: the database URI, the session cookie's flags and (demo only) a secret key."""
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        url = config.get("DATABASE_URL")
        if not url:
            os.makedirs(instance_path, exist_ok=True)
            url = "sqlite:///" + os.path.join(instance_path, "shop.sqlite3")
        config["SQLALCHEMY_DATABASE_URI"] = database_uri(url)
    if not config.get("SECRET_KEY"):
        if not config.get("SHOP_DEMO"):
            raise RuntimeError(MISSING_SECRET_KEY)
        config["SECRET_KEY"] = secrets.token_hex(32)
        config["SHOP_RANDOM_SECRET_KEY"] = True  # said once by the process that serves pages: warn_random_secret_key
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    # SESSION_COOKIE_SECURE: from the environment; otherwise set per request when served over HTTPS.
    return config


RANDOM_SECRET_KEY = "SECRET_KEY is not set: using a random key for this demo process (sessions and admin logins end on restart)"


def warn_random_secret_key(app: Flask) -> None:
    """Warn about a random demo key in the process that serves pages, once, and nowhere else.

    Only a web process signs sessions, so ``flask specter ...``, ``flask seed`` and the worker stay quiet.
    ``flask run`` is known when the app is made (the command loads it); any other server (gunicorn,
    waitress) shows it at its first request.
    """
    if not app.config.get("SHOP_RANDOM_SECRET_KEY"):
        return
    warned: list[bool] = []

    def warn() -> None:
        if not warned:
            warned.append(True)
            log.warning(RANDOM_SECRET_KEY)

    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.info_name == "run":
        warn()
    app.before_request(warn)


MISSING_SECRET_KEY = (
    "SECRET_KEY is not set. Every process of the shop (each gunicorn worker, the Specter worker) must sign "
    "sessions with the same key, or logins and forms fail at random: set SECRET_KEY to one long random value, "
    "e.g. python -c 'import secrets; print(secrets.token_hex(32))'. (Only SHOP_DEMO=1 may run without one.)"
)
