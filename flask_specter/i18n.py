"""The extension's user-visible text: ``_("text %(n)s", n=x)`` (gettext style); ``lazy_gettext`` for text
defined at import time. For now the text is shown as written, with its variables filled in."""

from __future__ import annotations


def _(s: str, **kw: object) -> str:
    return s % kw if kw else s


lazy_gettext = _
