"""Serving the sandbox with werkzeug's threaded server, keeping signatures out of the access log."""

from __future__ import annotations

import re

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

_SECRET_PARAM = re.compile(r"((?:^|[?&])(?:key|token)=)[^&\s]*", re.IGNORECASE)


class RedactingHandler(WSGIRequestHandler):
    """Werkzeug's handler, with ``key=`` and ``token=`` values hidden in the logged request line."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.requestline = _SECRET_PARAM.sub(r"\1***", self.requestline)
        super().log_request(code, size)


def serve(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded werkzeug server for ``app`` (call ``serve_forever`` on it)."""
    return make_server(host, port, app, threaded=True, request_handler=RedactingHandler)
