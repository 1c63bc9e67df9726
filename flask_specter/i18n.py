"""Translation hook for user-visible strings (a stub until Flask-Babel is wired in)."""

from __future__ import annotations


def _(s: str, **kw: object) -> str:
    return s % kw if kw else s


lazy_gettext = _
