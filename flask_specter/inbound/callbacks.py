"""The blueprint Specter calls: answered at once with ``1;Done``, the work done by jobs.

Every callback URL carries ``token=<SPECTER_CALLBACK_TOKEN>``, compared in constant time; a wrong or
missing token (or no token configured) gets 403 and starts nothing. Callbacks are signals only, and
their parameters are checked before ``1;Done`` (a job that cannot store them would lose the call).
Every call's outcome is recorded for the admin (``callback_log``), after the answer is sent. A storm of
calls costs one Redis round trip per feed and short window (``pull_requests``). Specter sends no CSRF
token, so the blueprint is exempt from a host's global ``CSRFProtect`` (``exempt_from_host_csrf``).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from ..frame_guard import guard_response
from ..redact import redact
from ..state import get_state
from .callback_log import UNKNOWN_ROUTE, record_after
from .order_events import cancel_order_from_specter, record_invoice
from .pull_requests import ask_for_pull

log = logging.getLogger("flask_specter.routes")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_PARAM_LIMIT = 64  # the extension's own order-number columns
INVOICE_SOURCE_LIMIT = 64


TEXT = "text/plain; charset=utf-8"


def _done(route: str) -> Response:
    return record_after(Response("1;Done", content_type=TEXT), route, accepted=True)


def _refused(route: str, reason: str, *, status: int, body: str) -> Response:
    return record_after(Response(body, status=status, content_type=TEXT), route, accepted=False, reason=reason)


def token_problem() -> str | None:
    """Why the call's token is not accepted (Swedish, for the admin), or None when it is right."""
    expected = current_app.config.get("SPECTER_CALLBACK_TOKEN") or ""
    # The query string first (Specter's calls are GETs); a form body is parsed only for a POST.
    given = request.args.get("token") or (request.form.get("token", "") if request.method == "POST" else "")
    if not expected:
        return "SPECTER_CALLBACK_TOKEN är inte inställd i butiken"
    if not given:
        return "token saknas i anropet"
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        return "fel token"
    return None


def token_ok() -> bool:
    return token_problem() is None


def _token_refusal(route: str) -> Response | None:
    """A 403 (recorded) when the token is not right, else None."""
    problem = token_problem()
    if problem is None:
        return None
    log.warning("Specter callback %s refused: %s", request.path, problem)
    return _refused(route, problem, status=403, body="0;403;forbidden")


def _bad_request(route: str, message: str) -> Response:
    log.warning("Specter callback %s refused: %s", request.path, message)
    return _refused(route, f"ogiltiga parametrar: {message}", status=400, body=f"0;20;{message}")


def _enqueue(route: str, fn: Callable[..., object], *args: Any) -> Response:
    try:
        fn(*args)
    except Exception:
        # Ask Specter to call again rather than pretend: its changes stay flagged meanwhile.
        log.exception("could not queue the work for %s", request.path)
        return _refused(route, "jobbkön (Redis) svarade inte", status=503, body="0;503;queue unavailable, call again")
    return _done(route)


def _pull(route: str, feed: str) -> Response:
    # A storm of calls asks Redis once per feed and short window; the repeats are answered from memory.
    return _enqueue(route, ask_for_pull, feed)


def order_field_limit(field: str) -> int:
    """The length the shop can store for an order field (its column's), else the extension's own."""
    state = get_state()
    cache: dict[str, int] = state.app.extensions.setdefault("specter_field_limits", {})
    if field not in cache:
        cache[field] = state.adapter.order_field_length(field) or DEFAULT_PARAM_LIMIT
    return cache[field]


def _param(name: str, limit: int, *, required: bool = True) -> tuple[str, str | None]:
    """(value, problem): a callback parameter that fits the shop's column and holds no control character."""
    value = request.values.get(name, "").strip()
    if not value or value.startswith("$"):  # "$orderNo": Specter did not substitute it
        return value, (f"{name} missing" if required else None)
    if _CONTROL.search(value):
        return value, f"{name} contains a control character"
    if len(value) > limit:
        return value, f"{name} is longer than {limit} characters"
    return value, None


def _params(*specs: tuple[str, int, bool]) -> tuple[list[str], str | None]:
    values, problems = [], []
    for name, limit, required in specs:
        value, problem = _param(name, limit, required=required)
        values.append(value)
        if problem:
            problems.append(problem)
    return values, "; ".join(problems) or None


def _csrf_valid(given: str) -> bool:
    """Flask-WTF's token, the one every button of the Specter admin carries."""
    from flask_wtf.csrf import ValidationError, validate_csrf

    try:
        validate_csrf(given)
    except ValidationError:
        return False
    return True


def exempt_from_host_csrf(app: Flask, bp: Blueprint) -> None:
    """Keep a host's global Flask-WTF ``CSRFProtect`` off the callback blueprint, made before or after us.

    Specter authenticates with the callback token and cannot send a CSRF token, so the host's check
    would answer its POSTs with 400. ``CSRFProtect.exempt(bp)`` needs the host's object, which
    ``app.extensions["csrf"]`` holds once it exists: exempted now, and again by a hook placed first among
    the app's ``before_request`` functions (ahead of ``CSRFProtect``'s own check, whenever it was set up).
    The admin's POSTs on this blueprint still check Flask-WTF's token themselves (``_csrf_valid``, the
    export page's ``csrf_ok``).
    """

    from flask_wtf.csrf import CSRFProtect

    def exempt() -> None:
        csrf = app.extensions.get("csrf")
        if isinstance(csrf, CSRFProtect):  # another extension may use the key; its exempt() may take views only
            csrf.exempt(bp)  # a set: adding it again costs nothing

    exempt()
    app.before_request_funcs.setdefault(None, []).insert(0, exempt)


def make_blueprint() -> Blueprint:
    bp = Blueprint("specter", __name__)
    bp.after_request(guard_response)  # the admin's "Hämta produkter" POST lands here too: never framed

    @bp.route("/callback/stock", methods=["GET", "POST"])
    def stock_callback() -> Response:
        return _token_refusal("stock") or _pull("stock", "stock")

    @bp.route("/get_specter_articles", methods=["GET", "POST"])
    def get_specter_articles() -> Response:
        if token_ok():
            return _pull("articles", "articles")
        from ..admin.access import admin_allowed

        if not admin_allowed():
            refusal = _token_refusal("articles")
            assert refusal is not None  # token_ok() was False: there is a problem to refuse
            return refusal
        # The admin (not Specter: nothing recorded): only a POST with a CSRF token may start the pull.
        if request.method != "POST" or not _csrf_valid(request.form.get("csrf_token", "")):
            return Response("0;403;use the button Hämta produkter från Specter (POST with CSRF)", status=403, mimetype="text/plain")
        from .pulls import request_pull

        request_pull("articles")
        return Response("1;Done", mimetype="text/plain")

    @bp.route("/callback/ping", methods=["GET"])
    def ping() -> Response:
        """"Testa anslutningen": the shop calls itself here through its public address. Needs the token,
        starts nothing and is not recorded as a call from Specter."""
        if token_problem() is not None:
            return Response("0;403;forbidden", status=403, mimetype="text/plain")
        return Response("1;pong", mimetype="text/plain")

    @bp.route("/callback/orders", methods=["GET", "POST"])
    def orders_callback() -> Response:
        return _token_refusal("orders") or _pull("orders", "orders")

    @bp.route("/callback/order-removed", methods=["GET", "POST"])
    def order_removed() -> Response:
        refused = _token_refusal("order-removed")
        if refused:
            return refused
        (order_no,), problem = _params(("orderNo", order_field_limit("specter_order_no"), True))
        if problem:
            return _bad_request("order-removed", problem)
        return _enqueue("order-removed", cancel_order_from_specter.enqueue, order_no)

    @bp.route("/callback/invoice", methods=["GET", "POST"])
    def invoice() -> Response:
        refused = _token_refusal("invoice")
        if refused:
            return refused
        source: str | None
        (order_no, invoice_id, source), problem = _params(
            ("orderId", order_field_limit("specter_order_no"), True),
            ("invoiceId", order_field_limit("invoice_id"), True),
            ("invoiceSource", INVOICE_SOURCE_LIMIT, False),
        )
        if problem:
            return _bad_request("invoice", problem)
        source = None if not source or source.startswith("$") else source
        return _enqueue("invoice", record_invoice.enqueue, order_no, invoice_id, source)

    @bp.route("/", methods=["GET", "POST"])
    @bp.route("/<path:unknown>", methods=["GET", "POST"])
    def unknown_route(unknown: str = "") -> Response:
        """Anything else under the prefix: most likely Specter calling an old or mistyped address."""
        path = _CONTROL.sub("?", redact(request.full_path.rstrip("?")))[:200]  # stored and shown: no NUL, no secrets
        log.warning("Specter call to an unknown address refused: %s", path)
        return _refused(UNKNOWN_ROUTE, f"{path} finns inte i butiken", status=404, body="0;404;unknown address")

    return bp
