"""The sandbox Flask app: Specter's two scripts, the ``/_sandbox/`` hooks and the page at ``/``.

``create_app(config)`` builds one independent simulator (its own database, dispatcher and faults), so
several can run in one process.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from flask import Flask, Response, abort, request

from ..remote import protocol
from . import api
from .config import build_config
from .faults import ERROR_PAGE, Fault
from .guard import known_host
from .hooks import bp
from .pages import bp as page_bp
from .state import EXTENSION_KEY, Sandbox, get_sandbox
from .wire import ApiError, Params, SandboxReply, api_response, encode, merge_params

SCRIPTS = {"/getinfo.asp": "/getInfo.asp", "/putinfo.asp": "/putInfo.asp"}


class _PathFixer:
    """Tolerate ``//putInfo.asp`` and any casing of the script names before Flask routes the call."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = "/" + environ.get("PATH_INFO", "").lstrip("/")
        environ["PATH_INFO"] = SCRIPTS.get(path.lower(), path)
        return self.wsgi_app(environ, start_response)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """A sandbox app; ``config`` uses the keys of ``flask_specter.sandbox.config.DEFAULTS``."""
    app = Flask(__name__)
    sandbox = Sandbox(build_config(config))
    app.extensions[EXTENSION_KEY] = sandbox
    app.url_map.merge_slashes = False
    app.wsgi_app = _PathFixer(app.wsgi_app)  # type: ignore[method-assign]  # Flask's documented way to wrap its WSGI app
    app.add_url_rule("/getInfo.asp", "get_info", _script_view, methods=["GET", "POST"])
    app.add_url_rule("/putInfo.asp", "put_info", _script_view, methods=["GET", "POST"])
    app.register_blueprint(bp)
    app.register_blueprint(page_bp)
    app.secret_key = secrets.token_hex(32)  # only the page's one-shot messages live in the session
    app.before_request(known_host)
    app.before_request(_same_origin_writes)
    return app


def _same_origin_writes() -> None:
    """A browser sends ``Origin`` with every cross-site POST: another site cannot drive the page or the hooks.

    Programs (the shop, ``SandboxHooks``, curl) send none and pass; Specter's own scripts are open as in Specter.
    """
    if request.method in ("GET", "HEAD", "OPTIONS") or request.endpoint in ("get_info", "put_info"):
        return
    origin = request.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        abort(403, "cross-site request refused: use the sandbox page itself or a program")


def _script_view() -> Response:
    sb = get_sandbox()
    params = merge_params(request.query_string, request.get_data(), request.content_type or "")
    raw_action = params.text("action")
    action = api.ACTIONS.get(raw_action.lower())
    name = action.name if action else raw_action
    xml = params.text("useXML") == "2" or bool(action and action.always_xml)
    fault = sb.faults.take(name)
    log = {"method": request.method, "script": request.path.lstrip("/"), "action": name,
           "batch_no": params.text("batchNo") or None, "fault": fault.mode if fault else None}
    if fault is not None and fault.mode in ("fail", "body", "drop"):
        sb.store.log_call(ok=0, code=None, message=f"fault {fault.mode}", **log)
        return _fault_response(fault)
    if fault is not None and fault.mode == "ack":  # "done", says Specter, and does nothing
        sb.store.log_call(ok=0, code=None, message="fault ack", **log)
        return api_response(xml, reply=SandboxReply(id=params.text("batchNo"), message="Batch confirmed"))
    if fault is not None and fault.mode == "slow":
        time.sleep(fault.seconds)
    response, ok, code, message = _run(sb, action, raw_action, params, xml)
    sb.store.log_call(ok=int(ok), code=code, message=message, **log)
    if fault is not None and fault.mode == "after":
        return _error_page(fault.status)
    if ok:
        _release_holds(sb, name)
    if fault is not None and (fault.mode == "replace" or (fault.mode == "hold" and ok)):
        body = fault.body.replace("$batchNo", params.text("batchNo"))
        return _fault_response(Fault(action=fault.action, mode="body", status=fault.status, body=body, body_encoding=fault.body_encoding))
    if fault is not None and fault.mode == "drip":
        return _drip(response, fault.seconds)
    return response


def _release_holds(sb: Sandbox, action: str) -> None:
    """A confirmed batch ends the ``hold`` on its feed's fetches."""
    for feed in protocol.FEEDS.values():
        if feed.confirm_action.lower() == action.lower():
            sb.faults.release(feed.fetch_action)


def _drip(response: Response, seconds: float) -> Response:
    """The same answer, one byte every ``seconds``: a peer that is slow, never silent."""
    data = response.get_data()

    def trickle() -> Iterator[bytes]:
        for i in range(len(data)):
            yield data[i : i + 1]
            time.sleep(seconds)

    dripped = Response(trickle(), status=response.status_code, content_type=response.content_type)
    dripped.headers["Content-Length"] = str(len(data))
    return dripped


def _run(sb: Sandbox, action: api.Action | None, raw_action: str, params: Params, xml: bool) -> tuple[Response, bool, int, str]:
    """Answer one call; returns (response, ok, code, message) for the call log."""
    try:
        if action is None:
            raise ApiError(protocol.ERR_INVALID_FIELD, f"action '{raw_action}' is unknown")
        api.authenticate(sb, action.name, params)
        reply = action.handler(sb, params, xml)
    except ApiError as err:
        return api_response(xml, error=err), False, err.code, err.message
    return api_response(xml, reply=reply), True, 0, reply.message


def _error_page(status: int) -> Response:
    return Response(ERROR_PAGE.format(status=status), status=status, content_type="text/html; charset=utf-8")


def _fault_response(fault: Fault) -> Response:
    if fault.mode == "fail":
        return _error_page(fault.status)
    if fault.mode == "drop":
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return Response(b"", status=fault.status)
    # The declared charset stays latin-1 whatever the bytes are: a mislabelled body is the point.
    is_xml = fault.body.lstrip().startswith("<")
    ctype = "text/xml; charset=iso-8859-1" if is_xml else "text/plain; charset=iso-8859-1"
    data = encode(fault.body) if fault.body_encoding.lower() in ("iso-8859-1", "latin-1", "latin1") else (
        fault.body.encode(fault.body_encoding, errors="replace")
    )
    return Response(data, status=fault.status, content_type=ctype)
