"""The admin's labels, and its flash for a failed button (worded by ``flask_specter.messages``)."""

from __future__ import annotations

import logging
import traceback

from .. import messages
from ..i18n import lazy_gettext
from ..redact import redact
from ..remote.errors import SpecterError

log = logging.getLogger("flask_specter.admin")

STATE_LABELS = {
    "pending": lazy_gettext("Väntar"),
    "sending": lazy_gettext("Skickas"),
    "sent": lazy_gettext("Överförd"),
    "failed": lazy_gettext("Misslyckades"),
}

STOCK_STATE_LABELS = {
    "pending": lazy_gettext("Väntar"),
    "applied": lazy_gettext("Uppdaterad"),
    "unknown": lazy_gettext("Okänd artikel"),
    "superseded": lazy_gettext("Ersatt av nyare"),
}


def explain(exc: BaseException, *, doing: str) -> str:
    """The flash for a button that failed while ``doing`` something: the one translator's sentence
    (``flask_specter.messages.explain``), and the traceback of an unexpected error in the server log."""
    if not isinstance(exc, SpecterError):
        log.error("%s failed\n%s", doing, redact("".join(traceback.format_exception(exc))))
    return messages.explain(exc, messages.action(doing))
