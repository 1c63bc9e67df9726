"""Login throttling: after ``SHOP_LOGIN_MAX_FAILURES`` wrong passwords for one user name (or
``SHOP_LOGIN_MAX_FAILURES_PER_IP`` from one address) within ``SHOP_LOGIN_WINDOW_SECONDS``, that name (or
address) is locked for ``SHOP_LOGIN_LOCKOUT_SECONDS``: every login, even with the right password, is
refused (429) until it ends. Counted in the shop's database (``LoginFailure``), so every process of the
shop sees the same figures; a successful login clears its user name's count.

The price of a per-name lock: someone who knows the admin's name can keep it locked. The window is short
and the address lock stops one machine first; a real shop may want a captcha or a second factor instead.
"""

from __future__ import annotations

import time

from flask import current_app, request
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from .models import LoginFailure, db

DEFAULTS = {
    "SHOP_LOGIN_MAX_FAILURES": 5,
    "SHOP_LOGIN_MAX_FAILURES_PER_IP": 20,
    "SHOP_LOGIN_WINDOW_SECONDS": 900,
    "SHOP_LOGIN_LOCKOUT_SECONDS": 900,
}


def _setting(name: str) -> int:
    return int(current_app.config.get(name, DEFAULTS[name]))


def keys_for(username: str) -> list[tuple[str, int]]:
    """The counters one attempt touches, each with its limit: the user name and the client's address."""
    return [
        (f"user:{username.strip().lower()[:150]}", _setting("SHOP_LOGIN_MAX_FAILURES")),
        (f"ip:{request.remote_addr or '-'}", _setting("SHOP_LOGIN_MAX_FAILURES_PER_IP")),
    ]


def locked_for(username: str) -> float:
    """Seconds until a login for ``username`` from this address may be tried again (0: it may now)."""
    now = time.time()
    keys = [key for key, _limit in keys_for(username)]
    until = db.session.execute(
        select(func.max(LoginFailure.locked_until)).where(LoginFailure.key.in_(keys), LoginFailure.locked_until > now)
    ).scalar()
    return max(0.0, (until or now) - now)


def record_failure(username: str) -> None:
    """Count one wrong password against the name and the address; lock whichever reached its limit."""
    now = time.time()
    window, lockout = _setting("SHOP_LOGIN_WINDOW_SECONDS"), _setting("SHOP_LOGIN_LOCKOUT_SECONDS")
    for key, limit in keys_for(username):
        # A window that has passed starts again; then one atomic increment (processes race here).
        db.session.execute(
            update(LoginFailure).where(LoginFailure.key == key, LoginFailure.window_start < now - window)
            .values(failures=0, window_start=now, locked_until=None)
        )
        if not db.session.execute(update(LoginFailure).where(LoginFailure.key == key).values(failures=LoginFailure.failures + 1)).rowcount:
            try:
                with db.session.begin_nested():
                    db.session.add(LoginFailure(key=key, failures=1, window_start=now))
            except IntegrityError:  # another process inserted it first: count on its row
                db.session.execute(update(LoginFailure).where(LoginFailure.key == key).values(failures=LoginFailure.failures + 1))
        db.session.execute(
            update(LoginFailure).where(LoginFailure.key == key, LoginFailure.failures >= limit).values(locked_until=now + lockout)
        )
    db.session.commit()


def clear_failures(username: str) -> None:
    """A successful login: its user name starts from zero (the address keeps its count)."""
    key = keys_for(username)[0][0]
    db.session.execute(delete(LoginFailure).where(LoginFailure.key == key))
    db.session.commit()
