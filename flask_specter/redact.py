"""Keep secrets and personal data out of logs: callback tokens in access logs, personnummer anywhere.

``init_app`` installs ``RedactingFilter`` on the loggers that print request lines (werkzeug, gunicorn,
waitress) and on the extension's and RQ's own, so a callback URL shows ``token=***`` and a
personnummer in an error message shows ``******-****``.
"""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(?i)(token=)[^&\s\"']+")
_PNR = re.compile(r"\b(?:\d{2})?\d{6}[-+ ]?\d{4}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
LOGGERS = ("werkzeug", "gunicorn.access", "waitress", "flask_specter", "rq.worker")


def redact_tokens(text: str) -> str:
    """A URL or log line with every ``token=…`` value hidden."""
    return _TOKEN.sub(r"\1***", text)


def redact(text: str | None) -> str:
    """Text safe for logs: tokens, personal/organisation numbers and e-mail addresses masked (GDPR)."""
    if not text:
        return ""
    return _EMAIL.sub("***@***", _PNR.sub("******-****", redact_tokens(str(text))))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with tokens and personal data hidden."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = redact(message)
        if clean != message:
            record.msg = clean
            record.args = ()
        return True


def install_log_redaction() -> None:
    """Idempotent: one filter per access logger, whatever the number of apps."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
