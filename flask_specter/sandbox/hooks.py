"""The ``/_sandbox/`` JSON routes: what a person does inside Specter, plus reads and test controls.

Not part of Specter's API; the connector never calls them (contract §7).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from ..remote import protocol
from . import articles, feeds, orders
from .articles import DEFAULT_SITE_ID, NotFound
from .config import apply_runtime, runtime_view
from .state import get_sandbox

bp = Blueprint("sandbox_hooks", __name__, url_prefix="/_sandbox")


@bp.errorhandler(ValueError)
@bp.errorhandler(KeyError)
@bp.errorhandler(TypeError)
def _bad_request(exc: Exception) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 400


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    return jsonify(error=str(exc.args[0] if exc.args else exc)), 404


def _body() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise ValueError("send a JSON object")
    return data


def _article_reply(article_no: str) -> Response:
    found = articles.describe(get_sandbox().store, article_no)
    if not found:
        raise NotFound(f"unknown article {article_no!r}")
    return jsonify(ok=True, article=found[0])


def _site(data: dict[str, Any]) -> int:
    return int(data.get("stockSiteId") or DEFAULT_SITE_ID)


# -- reads ------------------------------------------------------------------------------------------


@bp.get("/ping")
def ping() -> ResponseReturnValue:
    return jsonify(ok=True)


@bp.get("/state")
def state() -> ResponseReturnValue:
    sb = get_sandbox()
    store = sb.store
    callbacks = store.get_meta("callbacks", {}) or {}
    log = store.callback_log()
    return jsonify(
        account={
            "sbmId": str(sb.config["SPECTER_SBM_ID"]),
            "apiUserId": str(sb.config["SPECTER_API_USER_ID"]),
            "integrationStarted": bool(store.get_meta("integration_started")),
        },
        config=runtime_view(sb.config),
        stockSites=[{"stockSiteId": i, "name": n} for i, n in store.sites()],
        articles=articles.describe(store) if request.args.get("articles", "1") != "0" else None,
        customers=orders.describe_customers(store),
        orders=orders.describe_orders(store),
        feeds=feeds.status(store),
        callbacks=callbacks,  # as registered (the shop's own URLs); the log below is redacted
        callbackLog=log,
        callbacksIdle=sb.dispatcher.idle(),
        faults=sb.faults.describe(),
    )


@bp.get("/calls")
def calls() -> ResponseReturnValue:
    return jsonify(calls=get_sandbox().store.calls(request.args.get("action")))


@bp.get("/articles/<path:article_no>")
def article(article_no: str) -> ResponseReturnValue:
    return _article_reply(article_no)


# -- changes made inside Specter ----------------------------------------------------------------------


@bp.post("/articles")
def create_articles() -> ResponseReturnValue:
    items = _body().get("articles")
    if not isinstance(items, list):
        raise ValueError("articles must be a list")
    return jsonify(ok=True, **articles.specter_upsert(get_sandbox().store, items))


@bp.post("/stock-sites")
def stock_site() -> ResponseReturnValue:
    data = _body()
    store = get_sandbox().store
    with store.tx() as c:
        store.ensure_site(c, int(data["stockSiteId"]), str(data.get("name") or ""))
    return jsonify(ok=True, stockSites=[{"stockSiteId": i, "name": n} for i, n in store.sites()])


@bp.post("/pos-sale")
def pos_sale() -> ResponseReturnValue:
    data = _body()
    qty = protocol.parse_decimal(str(data["qty"]), field="qty")
    articles.specter_stock(get_sandbox().store, [(data["articleNo"], _site(data), -qty)], relative=True)
    return _article_reply(data["articleNo"])


@bp.post("/goods-received")
def goods_received() -> ResponseReturnValue:
    data = _body()
    qty = protocol.parse_decimal(str(data["qty"]), field="qty")
    articles.specter_stock(get_sandbox().store, [(data["articleNo"], _site(data), qty)], relative=True)
    return _article_reply(data["articleNo"])


@bp.post("/stock-adjustment")
def stock_adjustment() -> ResponseReturnValue:
    data = _body()
    if "items" in data:
        items = [(i["articleNo"], _site(i), protocol.parse_decimal(str(i["inStock"]), field="inStock"))
                 for i in data["items"]]
        articles.specter_stock(get_sandbox().store, items)
        return jsonify(ok=True, adjusted=len(items))
    qty = protocol.parse_decimal(str(data["inStock"]), field="inStock")
    articles.specter_stock(get_sandbox().store, [(data["articleNo"], _site(data), qty)])
    return _article_reply(data["articleNo"])


@bp.post("/price-change")
def price_change() -> ResponseReturnValue:
    data = _body()
    articles.specter_edit(get_sandbox().store, data)
    return _article_reply(data["articleNo"])


@bp.post("/article-removal")
def article_removal() -> ResponseReturnValue:
    data = _body()
    articles.specter_remove(get_sandbox().store, data["articleNo"])
    return _article_reply(data["articleNo"])


def _order_reply(order_no: str | int, **extra: Any) -> Response:
    for order in orders.describe_orders(get_sandbox().store):
        if str(order["orderNo"]) == str(order_no).strip():
            return jsonify(ok=True, order=order, **extra)
    raise NotFound(f"unknown order {order_no!r}")


@bp.post("/order-status")
def order_status() -> ResponseReturnValue:
    data = _body()
    orders.specter_status(get_sandbox().store, data["orderNo"], int(data["statusId"]), data.get("deliveryStatus"))
    return _order_reply(data["orderNo"])


@bp.post("/order-delivery")
def order_delivery() -> ResponseReturnValue:
    data = _body()
    orders.specter_deliver(get_sandbox().store, data["orderNo"], str(data.get("trackingNo") or ""))
    return _order_reply(data["orderNo"])


@bp.post("/order-removal")
def order_removal() -> ResponseReturnValue:
    data = _body()
    orders.specter_remove(get_sandbox().store, data["orderNo"])
    return _order_reply(data["orderNo"])


@bp.post("/invoice")
def invoice() -> ResponseReturnValue:
    data = _body()
    invoice_id = orders.specter_invoice(
        get_sandbox().store, data["orderNo"], data.get("invoiceId"), str(data.get("invoiceSource") or "SBM")
    )
    return _order_reply(data["orderNo"], invoiceId=invoice_id)


@bp.post("/customer-fields")
def customer_fields() -> ResponseReturnValue:
    data = _body()
    orders.set_customer_fields(get_sandbox().store, int(data["customerId"]), data)
    found = [c for c in orders.describe_customers(get_sandbox().store) if c["customerId"] == int(data["customerId"])]
    return jsonify(ok=True, customer=found[0])


# -- test controls --------------------------------------------------------------------------------------


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults() -> ResponseReturnValue:
    sb = get_sandbox()
    if request.method == "POST":
        sb.faults.add(_body())
    elif request.method == "DELETE":
        sb.faults.clear()
    return jsonify(ok=True, faults=sb.faults.describe())


@bp.route("/config", methods=["GET", "POST"])
def config() -> ResponseReturnValue:
    sb = get_sandbox()
    if request.method == "POST":
        return jsonify(ok=True, config=apply_runtime(sb.config, _body()))
    return jsonify(ok=True, config=runtime_view(sb.config))


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    sb = get_sandbox()
    sb.faults.clear()
    sb.store.reset()
    return jsonify(ok=True)
