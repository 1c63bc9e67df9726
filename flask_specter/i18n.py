"""The extension's language: Swedish by default, English when the host's locale is ``en``.

The source strings (the msgids) are Swedish: the shop owner's language, the words of Specter's own
manual and of the peer plugins, and what the code and its tests already speak. English lives in the
catalogue ``flask_specter/translations/en/LC_MESSAGES/flask_specter.po`` (domain ``flask_specter``);
``tests/test_i18n.py`` fails on a msgid it does not translate. Without a catalogue for the locale, and
outside a request (jobs, the CLI), a string stays Swedish.

Two languages live side by side in one app. The extension's words (its pages, flashes, the order panel,
the menu names of its views) and Flask-Admin's own controls on the Specter pages follow
``SPECTER_LOCALE`` ("sv" or "en"), whatever the host's Flask-Babel says. Everything else is the host's:
its own Flask-Admin pages keep its ``Babel`` locale selector, or, for a host without Flask-Babel,
Flask-Admin's default (English). ``gettext`` reads ``SPECTER_LOCALE`` itself, and a Specter view runs
inside ``speaking_specter_locale()`` (Flask-Babel's per-request ``force_locale``, never the app-wide
selector, so a host request served at the same time keeps its language).

Call style is Flask-Babel's: ``_("Order %(ref)s är överförd.", ref=ref)``; ``lazy_gettext`` for text
defined at import time (labels, menu names) that is translated when it is shown.
"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.support import NullTranslations, Translations
from flask import Flask, current_app, has_request_context
from flask_babel import Babel, LazyString, force_locale

TRANSLATIONS = os.path.join(os.path.dirname(__file__), "translations")
DOMAIN_NAME = "flask_specter"
LOCALES = ("sv", "en")
DEFAULT_TIMEZONE = "Europe/Stockholm"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"



@lru_cache(maxsize=8)
def _catalogue(locale: str) -> NullTranslations:
    """The extension's catalogue for ``locale``; Swedish is the source language and needs none."""
    if locale.split("_")[0] == "sv":
        return NullTranslations()
    return Translations.load(TRANSLATIONS, [locale], DOMAIN_NAME)


def specter_locale() -> str:
    """``SPECTER_LOCALE`` as a locale name ("sv", "en", "en_GB"; "sv" when unset or unknown)."""
    locale = str(current_app.config.get("SPECTER_LOCALE") or "sv").replace("-", "_")
    return locale if locale.split("_")[0] in LOCALES else "sv"


def gettext(string: str, **variables: Any) -> str:
    """``string`` (Swedish) in ``SPECTER_LOCALE``, with ``%(name)s`` filled from ``variables``.

    Only in a request: what a job or the CLI writes stays Swedish (it has no reader).
    """
    if has_request_context():
        string = _catalogue(specter_locale()).gettext(string)
    return string % variables if variables else string


_ = gettext


def lazy_gettext(string: str, **variables: Any) -> str:
    """Like ``gettext``, translated each time it is shown (typed ``str``: it renders, formats and
    concatenates as one; Flask-Admin and Jinja accept it where they take a string)."""
    return cast(str, LazyString(gettext, string, **variables))


def N_(string: str) -> str:  # noqa: N802 - gettext's own name for it
    """Mark ``string`` for the catalogue without translating it: data that stays a plain Swedish ``str``
    (the toggles, the callback routes' labels) and is translated where it is shown, ``_(toggle.label)``."""
    return string


def on_off(value: object) -> str:
    """A stored boolean as the admin reads it: "På" / "Av"."""
    return gettext("På") if value else gettext("Av")


def current_locale() -> str:
    """The language of the extension's words in this request ("sv" outside a request)."""
    return specter_locale().split("_")[0] if has_request_context() else "sv"


def speaking_specter_locale() -> AbstractContextManager[None]:
    """Inside a Specter page: Flask-Admin's own controls (and anything else read through Flask-Babel)
    in ``SPECTER_LOCALE``. Per request (Flask-Babel keeps the forced locale in ``g``), then undone."""
    return cast(AbstractContextManager[None], force_locale(specter_locale()))


@lru_cache(maxsize=8)
def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def shop_zone() -> dt.tzinfo:
    """``SPECTER_TIMEZONE`` (default Europe/Stockholm)."""
    name = current_app.config.get("SPECTER_TIMEZONE") if current_app else None
    return _zone(str(name or DEFAULT_TIMEZONE))


def local_time(value: dt.datetime | None, fmt: str = TIME_FORMAT, *, empty: str = "—") -> str:
    """A stored time (naive values are UTC) in the shop's time zone, to the second, no microseconds."""
    if value is None:
        return empty
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(shop_zone()).strftime(fmt)


def init_babel(app: Flask) -> None:
    """Give a host without Flask-Babel a ``Babel`` with Flask-Babel's defaults (English, UTC).

    Flask-Admin translates its controls through Flask-Babel whenever Flask-Babel is installed (it is,
    as the extension's dependency), and fails without a ``Babel`` on the app. This one has no locale
    selector: the host's own Flask-Admin pages stay in Flask-Admin's default language, English, as
    they were before the extension came; the Specter pages switch to ``SPECTER_LOCALE`` by themselves.
    A host's own ``Babel`` (made before or after ``Specter.init_app``) is kept, with its selector.
    """
    if "babel" in app.extensions:
        return
    Babel(app)


def template_helpers() -> dict[str, Any]:
    """What the Specter templates call: ``_`` (this domain, shadowing the host's), ``on_off``, ``when``."""
    return {"_": gettext, "on_off": on_off, "when": local_time, "time_zone": str(shop_zone()), "specter_locale": current_locale()}


__all__ = ["_", "N_", "gettext", "lazy_gettext", "on_off", "local_time", "shop_zone", "init_babel", "template_helpers", "current_locale",
           "specter_locale", "speaking_specter_locale"]
