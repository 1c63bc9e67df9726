"""The ``/_sandbox/`` JSON routes: what a person does inside Specter, plus reads and test controls.

Not part of Specter's API; the connector never calls them (contract §7). Every route takes a JSON object
and answers JSON (``{"error": ...}`` with 400 for a bad body, 404 for an unknown article or order).

Changes made inside Specter: the bodies of ``pos-sale``, ``goods-received``, ``stock-adjustment``,
``price-change``, ``article-removal``, ``order-status``, ``order-delivery``, ``order-removal`` and ``invoice``
are documented in ``actions.py`` (the sandbox page at ``/`` runs the same functions). The others:

- ``POST articles`` — ``{"articles": [{"articleNo": "KAFFE-1", "name": "Kaffe", "priceExclVat": "99.00",
  "vatPercent": 25, "inStock": 10, "stockSiteId": 1}, ...]}``: created or edited in Specter (both feeds).
- ``POST stock-sites`` — ``{"stockSiteId": 2, "name": "Butiken"}``: a stock site, created or renamed.
- ``POST customer-fields`` — ``{"customerId": 1001, "priority": "A", "responsibleSalesperson": "Eva"}``.

Reads: ``GET ping``, ``GET state`` (``?articles=0`` leaves the articles out), ``GET calls`` (``?action=``),
``GET articles/<articleNo>``. Test controls: ``POST faults`` ``{"action": "getArticleExternalNeedUpdate",
"mode": "fail", "count": 1, "status": 503}`` (modes fail, body, drop, ack, slow, after, replace, hold, drip;
``DELETE faults`` clears), ``POST config`` ``{"callbacksEnabled": false, "callbackRetries": 3, ...}``
(``GET config`` reads), ``POST reset`` (every table emptied).

A POST must be ``Content-Type: application/json`` (415 otherwise; ``guard.json_only``), and the state
shows the registered callback URLs with ``token=***``, as the page does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from . import actions, articles, feeds, orders
from .articles import NotFound
from .callbacks import redact
from .config import apply_runtime, runtime_view
from .guard import json_only
from .state import get_sandbox

bp = Blueprint("sandbox_hooks", __name__, url_prefix="/_sandbox")
bp.before_request(json_only)


@bp.errorhandler(HTTPException)
def _refused(exc: HTTPException) -> ResponseReturnValue:
    return jsonify(error=exc.description), exc.code or 500


@bp.errorhandler(ValueError)
@bp.errorhandler(KeyError)
@bp.errorhandler(TypeError)
def _bad_request(exc: Exception) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 400


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    return jsonify(error=str(exc.args[0] if exc.args else exc)), 404


def _body() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than Python's parser goes: a bad body, not a crash
        data = None
    if not isinstance(data, dict):
        raise ValueError("send a JSON object")
    return data


def _article_reply(article_no: str) -> Response:
    found = articles.describe(get_sandbox().store, article_no)
    if not found:
        raise NotFound(f"unknown article {article_no!r}")
    return jsonify(ok=True, article=found[0])


# -- reads ------------------------------------------------------------------------------------------


@bp.get("/ping")
def ping() -> ResponseReturnValue:
    return jsonify(ok=True)


@bp.get("/state")
def state() -> ResponseReturnValue:
    sb = get_sandbox()
    store = sb.store
    callbacks = store.get_meta("callbacks", {}) or {}
    idle = sb.dispatcher.idle()  # read before the log: idle then means every call it made is in the log
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
        callbacks={param: redact(url) if url else url for param, url in callbacks.items()},  # the shop's URLs, token=*** as on the page
        callbackLog=log,
        callbacksIdle=idle,
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


def _action(path: str) -> Callable[[], ResponseReturnValue]:
    """The hook for one action of ``actions.HOOKS``: the JSON body goes to the function the page's form uses."""

    def view() -> ResponseReturnValue:
        done = actions.run(get_sandbox().store, path, _body())
        if done.order_no is not None:
            return _order_reply(done.order_no, **done.extra)
        if done.article_no is not None:
            return _article_reply(done.article_no)
        return jsonify(ok=True, **done.extra)

    view.__name__ = path.replace("-", "_")
    view.__doc__ = actions.HOOKS[path].title
    return view


for _path in actions.HOOKS:
    bp.add_url_rule(f"/{_path}", view_func=_action(_path), methods=["POST"])


def _order_reply(order_no: str | int, **extra: Any) -> Response:
    for order in orders.describe_orders(get_sandbox().store):
        if str(order["orderNo"]) == str(order_no).strip():
            return jsonify(ok=True, order=order, **extra)
    raise NotFound(f"unknown order {order_no!r}")


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
