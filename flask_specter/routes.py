"""The blueprint Specter calls: answered at once with ``1;Done``, the work done by jobs.

Every callback URL carries ``token=<SPECTER_CALLBACK_TOKEN>``, compared in constant time; a wrong or
missing token (or no token configured) gets 403 and starts nothing. Callbacks are signals only.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, abort, current_app, request

from .extension import get_state

log = logging.getLogger("flask_specter.routes")


def _done() -> Response:
    return Response("1;Done", mimetype="text/plain")


def token_ok() -> bool:
    expected = current_app.config.get("SPECTER_CALLBACK_TOKEN") or ""
    given = request.values.get("token", "")
    return bool(expected) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _require_token() -> None:
    if not token_ok():
        log.warning("Specter callback %s refused: wrong or missing token", request.path)
        abort(403)


def _enqueue(fn, *args) -> Response:
    try:
        fn(*args)
    except Exception:
        # Ask Specter to call again rather than pretend: its changes stay flagged meanwhile.
        log.exception("could not queue the work for %s", request.path)
        return Response("0;503;queue unavailable, call again", status=503, mimetype="text/plain")
    return _done()


def _pull(feed: str) -> Response:
    from .pulls import request_pull

    return _enqueue(request_pull, feed)


def make_blueprint() -> Blueprint:
    bp = Blueprint("specter", __name__)

    @bp.route("/callback/stock", methods=["GET", "POST"])
    def stock_callback():
        _require_token()
        return _pull("stock")

    @bp.route("/get_specter_articles", methods=["GET", "POST"])
    def get_specter_articles():
        if not token_ok():
            from .admin.access import admin_allowed

            if not admin_allowed():
                abort(403)
        return _pull("articles")

    @bp.route("/callback/orders", methods=["GET", "POST"])
    def orders_callback():
        _require_token()
        return _pull("orders")

    @bp.route("/callback/order-removed", methods=["GET", "POST"])
    def order_removed():
        _require_token()
        order_no = request.values.get("orderNo", "").strip()
        if not order_no or order_no.startswith("$"):
            return Response("0;20;orderNo missing", status=400, mimetype="text/plain")
        return _enqueue(get_state().queue.enqueue, "flask_specter.jobs.order_removed", order_no)

    @bp.route("/callback/invoice", methods=["GET", "POST"])
    def invoice():
        _require_token()
        order_no = request.values.get("orderId", "").strip()
        invoice_id = request.values.get("invoiceId", "").strip()
        if not order_no or not invoice_id or order_no.startswith("$"):
            return Response("0;20;orderId and invoiceId are required", status=400, mimetype="text/plain")
        return _enqueue(
            get_state().queue.enqueue, "flask_specter.jobs.invoice_created", order_no, invoice_id, request.values.get("invoiceSource")
        )

    from .exports import register_export_routes

    register_export_routes(bp)
    return bp
