"""Keep secrets and personal data out of logs: callback tokens in access logs, personnummer, e-mail
addresses and the rows a database error quotes (SQL parameters, PostgreSQL's ``DETAIL`` line).

``init_app`` installs filters on two kinds of loggers, never on the root logger or the host's own:

- the extension's loggers (``flask_specter`` and each ``flask_specter.*``) and RQ's (``rq.worker``,
  ``rq.job``, ...), which log the extension's jobs and their tracebacks: ``RedactingFilter`` shows a
  personnummer as ``******-****``, an e-mail as ``***@***`` and a failed INSERT as ``[parameters: hidden]``.
  RQ's loggers are module-level (``logging.getLogger("rq.worker")``): the extension's jobs can only be
  reached there, so a host's own RQ jobs in the same process get the same masking.
- the loggers that print request lines (werkzeug, gunicorn, waitress), because Specter puts the callback
  token in the query string of the callback URLs and the server logs that URL before any code of ours
  runs: ``CallbackTokenFilter`` hides ``token=…`` on the lines of the callback URLs only
  (``SPECTER_URL_PREFIX``) and leaves every other request line of the host as it is.

A host that wants the same masking on its own loggers passes their names: ``install_log_redaction(("shop",))``.
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
# Loggers that print request lines: the callback URL (with its token) is in them.
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error", "waitress")
# The extension's own loggers and RQ's (the extension's jobs, their failures and tracebacks).
EXTENSION_LOGGERS = ("flask_specter", "rq.worker", "rq.job", "rq.queue", "rq.scheduler")
# Loggers are not covered by their parent's filters: every module logger gets its own.
_OWN_PREFIXES = ("flask_specter.", "rq.")
_MODULE_LOGGERS = ("admin", "client", "exports", "feeds", "hooks", "outbox", "pulls", "queue", "routes", "stock")
_CALLBACK_PATHS: set[str] = set()  # "<SPECTER_URL_PREFIX>/" of every app joined in this process


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


class CallbackTokenFilter(logging.Filter):
    """On a server's request log: the token of the extension's callback URLs hidden, other lines untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        if "token=" in message and any(path in message for path in _CALLBACK_PATHS):
            record.msg = redact_tokens(message)
            record.args = ()
        return True


def install_log_redaction(extra: tuple[str, ...] = (), *, url_prefix: str | None = None) -> None:
    """Idempotent: one filter per logger, whatever the number of apps.

    ``extra`` names more loggers (the host's) for ``RedactingFilter``; ``url_prefix`` is an app's
    ``SPECTER_URL_PREFIX``, whose callback lines get their token hidden on the request loggers.
    """
    if url_prefix is not None:
        _CALLBACK_PATHS.add(url_prefix.rstrip("/") + "/")
    names = {*EXTENSION_LOGGERS, *(f"flask_specter.{name}" for name in _MODULE_LOGGERS), *extra}
    names.update(name for name in logging.root.manager.loggerDict if name.startswith(_OWN_PREFIXES))
    for name in sorted(names):
        _add_once(logging.getLogger(name), RedactingFilter)
    for name in ACCESS_LOGGERS:
        _add_once(logging.getLogger(name), CallbackTokenFilter)


def _add_once(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())
