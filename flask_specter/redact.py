"""Keep secrets and personal data out of logs: callback tokens in access logs, personnummer, e-mail
addresses and the rows a database error quotes (SQL parameters, PostgreSQL's ``DETAIL`` line).

``init_app`` installs ``RedactingFilter`` on the loggers that print request lines (werkzeug, gunicorn,
waitress) and on the extension's and RQ's own, so a callback URL shows ``token=***``, a personnummer
in an error message shows ``******-****`` and a failed INSERT shows ``[parameters: hidden]``. The
filter cleans a record's traceback too, not only its message.
"""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(?i)(token=)[^&\s\"']+")
# Not inside a longer token: "-" or a word character next to it means a UUID, a job id or a hex string.
_PNR = re.compile(r"(?<![\w-])(?:\d{2})?\d{6}[-+ ]?\d{4}(?![\w-])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# SQLAlchemy's "[parameters: {...}]" line (the row: e-mail, name, address) and the driver's DETAIL line
# ("Key (email)=(...) already exists", "Failing row contains (...)").
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
_DB_DETAIL = re.compile(r"(?m)^(\s*DETAIL:)[^\n]*")
LOGGERS = (
    "werkzeug",
    "gunicorn.access",
    "gunicorn.error",
    "waitress",
    "flask_specter",
    "rq.worker",
    "rq.job",
    "rq.queue",
    "rq.scheduler",
)
# Loggers are not covered by their parent's filters: every module logger gets its own.
_OWN_PREFIXES = ("flask_specter.", "rq.")
_MODULE_LOGGERS = ("admin", "client", "exports", "feeds", "hooks", "outbox", "pulls", "queue", "routes", "stock")


def redact_tokens(text: str) -> str:
    """A URL or log line with every ``token=…`` value hidden."""
    return _TOKEN.sub(r"\1***", text)


def redact(text: str | None) -> str:
    """Text safe for logs: tokens, personnummer, e-mail addresses and database rows masked (GDPR)."""
    if not text:
        return ""
    text = _DB_DETAIL.sub(r"\1 (hidden)", _SQL_PARAMETERS.sub("[parameters: hidden]", redact_tokens(str(text))))
    return _EMAIL.sub("***@***", _PNR.sub("******-****", text))


def describe_exception(exc: BaseException) -> str:
    """One line about ``exc`` for a log or an admin page, without the row a database error carries."""
    from sqlalchemy.exc import StatementError

    if isinstance(exc, StatementError):
        orig = exc.orig if exc.orig is not None else exc
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        return redact(f"{type(exc).__name__} ({type(orig).__name__}): {first}")
    return redact(f"{type(exc).__name__}: {exc}")


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and traceback with tokens and personal data hidden."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = redact(message)
        if clean != message:
            record.msg = clean
            record.args = ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)  # a formatter uses exc_text as it is
        return True


def install_log_redaction(extra: tuple[str, ...] = ()) -> None:
    """Idempotent: one filter per logger, whatever the number of apps."""
    names = {*LOGGERS, *(f"flask_specter.{name}" for name in _MODULE_LOGGERS), *extra}
    names.update(name for name in logging.root.manager.loggerDict if name.startswith(_OWN_PREFIXES))
    for name in sorted(names):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
