"""Serving the sandbox with werkzeug's threaded server, keeping secrets out of what it logs.

Two kinds of lines could carry one: the access log (a client's ``getInfo.asp?...&key=<signature>``,
a callback URL quoted in a query string with the shop's ``token=``, plain or percent-encoded), and
the lines about the sandbox's own callback calls to the shop (``urllib3`` at DEBUG, whose URL holds
the shop's ``token=``). Both get the value hidden, the way ``flask_specter.redact`` hides the callback
token in the shop's request log: ``token=***``.
"""

from __future__ import annotations

import logging
import re

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

# key=/token= at a parameter's start, also inside an encoded URL (token%3D...) and after &amp;/%26/?/%3F.
_SECRET_PARAM = re.compile(r"((?:^|[?&;\s/]|%26|%3F)(?:key|token)(?:=|%3D))(?:(?!%26)[^&\s\"'])*", re.IGNORECASE)
OUTGOING_LOGGERS = ("urllib3.connectionpool",)


def redact_secrets(text: str) -> str:
    """``text`` with the value of every ``key=`` and ``token=`` parameter shown as ``***``."""
    return _SECRET_PARAM.sub(r"\1***", text)


class RedactingHandler(WSGIRequestHandler):
    """Werkzeug's handler, with ``key=`` and ``token=`` values hidden in the logged request line.

    Werkzeug logs ``self.path`` (decoded), falling back to ``self.requestline``: both are redacted for the
    log call and put back after it.
    """

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path, line = getattr(self, "path", None), self.requestline
        if path is not None:
            self.path = redact_secrets(path)
        self.requestline = redact_secrets(line)
        try:
            super().log_request(code, size)
        finally:
            if path is not None:
                self.path = path
            self.requestline = line


class SecretFilter(logging.Filter):
    """Hides ``key=``/``token=`` values in a record (the sandbox's outgoing callback calls)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = redact_secrets(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def install_outgoing_redaction() -> None:
    """Idempotent: one ``SecretFilter`` on each logger that prints the sandbox's outgoing URLs."""
    for name in OUTGOING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretFilter) for f in logger.filters):
            logger.addFilter(SecretFilter())


def serve(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded werkzeug server for ``app`` (call ``serve_forever`` on it)."""
    install_outgoing_redaction()
    return make_server(host, port, app, threaded=True, request_handler=RedactingHandler)
