"""The extension's language: Swedish by default, English when the host's locale is ``en``.

The source strings (the msgids) are Swedish: the shop owner's language, the words of Specter's own
manual and of the peer plugins, and what the code and its tests already speak. English lives in the
catalogue ``flask_specter/translations/en/LC_MESSAGES/flask_specter.po`` (domain ``flask_specter``);
``tests/test_i18n.py`` fails on a msgid it does not translate. Without a catalogue for the locale, and
outside a request (jobs, the CLI), a string stays Swedish.

Which locale a request gets is the host's to say: a host with its own Flask-Babel ``Babel`` keeps it
(its locale selector decides, also for Flask-Admin's own controls); a host without one gets a ``Babel``
from ``init_babel`` whose locale is ``SPECTER_LOCALE`` ("sv", or "en").

Call style is Flask-Babel's: ``_("Order %(ref)s är överförd.", ref=ref)``; ``lazy_gettext`` for text
defined at import time (labels, menu names) that is translated when it is shown.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, has_request_context
from flask_babel import Babel, Domain, LazyString, get_locale

TRANSLATIONS = os.path.join(os.path.dirname(__file__), "translations")
DOMAIN_NAME = "flask_specter"
LOCALES = ("sv", "en")
DEFAULT_TIMEZONE = "Europe/Stockholm"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_domain: Any = Domain(TRANSLATIONS, domain=DOMAIN_NAME)


def _babel_ready() -> bool:
    """Translate only in a request of an app with a ``Babel`` (a job or the CLI has no reader's locale)."""
    return has_request_context() and "babel" in current_app.extensions


def gettext(string: str, **variables: Any) -> str:
    """``string`` (Swedish) in the request's language, with ``%(name)s`` filled from ``variables``."""
    if _babel_ready():
        return cast(str, _domain.gettext(string, **variables))
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
    """The request's language ("sv" when nothing says otherwise)."""
    if _babel_ready():
        locale = get_locale()
        if locale is not None:
            return str(locale.language)
    return "sv"


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


def _specter_locale() -> str:
    locale = str(current_app.config.get("SPECTER_LOCALE") or "sv")
    return locale if locale.split("_")[0] in LOCALES else "sv"


def init_babel(app: Flask) -> None:
    """Give the app a Flask-Babel ``Babel`` speaking ``SPECTER_LOCALE``, unless the host has its own.

    Flask-Admin translates its controls (List, Create, Add Filter, ...) through Flask-Babel whenever
    Flask-Babel is installed, and needs a ``Babel`` on the app to do it. A host that sets up its own
    ``Babel`` (before or after ``Specter.init_app``) keeps it: its locale selector decides.
    """
    if "babel" in app.extensions:
        return
    Babel(app, default_locale="sv", default_timezone=str(app.config.get("SPECTER_TIMEZONE") or DEFAULT_TIMEZONE), locale_selector=_specter_locale)


def template_helpers() -> dict[str, Any]:
    """What the Specter templates call: ``_`` (this domain, shadowing the host's), ``on_off``, ``when``."""
    return {"_": gettext, "on_off": on_off, "when": local_time, "time_zone": str(shop_zone()), "specter_locale": current_locale()}


__all__ = ["_", "N_", "gettext", "lazy_gettext", "on_off", "local_time", "shop_zone", "init_babel", "template_helpers", "current_locale"]
