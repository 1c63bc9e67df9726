"""The sandbox page at ``/``: Specter's "Butikskassa" and back office for a person, in Swedish.

It shows the current state (articles with stock per site, recent orders, what the sandbox sent to the
shop and its answer) and has one plain form per action of ``actions.HOOKS``; a form posts to
``/sandbox/<path>``, runs the same function as ``POST /_sandbox/<path>`` with the same field names, and
redirects back with a message.

No CSRF token: the sandbox is a local development tool without logins or secrets of its own, and every
action is also open to anyone who can reach the port through the JSON hooks. What a token would stop, a
web page in the same browser making it post a form here, the same-origin check in ``app.py`` stops for
every write (page forms and hooks alike): a browser always sends ``Origin`` on such a post.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..remote import protocol
from . import actions, articles, feeds, orders
from .actions import HOOKS, ORDER_STATUS_NAMES
from .articles import NotFound
from .callbacks import redact
from .state import get_sandbox

bp = Blueprint("sandbox_page", __name__)

RECENT = 20
CALLBACK_NAMES = {
    protocol.STOCK.callback_param: "Lagerändring",
    protocol.ARTICLES.callback_param: "Artikeländring",
    protocol.ORDERS.callback_param: "Orderändring",
    protocol.CALLBACK_REMOVE_ORDER: "Order borttagen",
    protocol.CALLBACK_NEW_INVOICE: "Ny faktura",
}
OUTCOMES = {"ok": "OK", "retry": "Försöker igen", "gave_up": "Gav upp"}
FEED_NAMES = {"stock": "lagersaldon", "articles": "artikeldata", "orders": "orderstatus"}


def _clock(epoch: float | None) -> str:
    return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S") if epoch else ""


def _customer_name(customer: dict[str, Any]) -> str:
    name = customer.get("name") or " ".join(p for p in (customer.get("firstName"), customer.get("surName")) if p)
    return str(name or customer.get("emailAddress") or customer["customerId"])


def _example(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


@bp.get("/")
def index() -> ResponseReturnValue:
    sb = get_sandbox()
    store = sb.store
    sites = dict(store.sites())
    customers = {c["customerId"]: _customer_name(c) for c in orders.describe_customers(store)}
    recent_orders = list(reversed(orders.describe_orders(store)))[:RECENT]
    registered = store.get_meta("callbacks", {}) or {}
    return render_template(
        "sandbox/index.html",
        account={"sbmId": sb.config["SPECTER_SBM_ID"], "apiUserId": sb.config["SPECTER_API_USER_ID"],
                 "integrationStarted": bool(store.get_meta("integration_started"))},
        callbacks_enabled=bool(sb.config["SANDBOX_CALLBACKS_ENABLED"]),
        sites=sites,
        articles=articles.describe(store),
        orders=recent_orders,
        customers=customers,
        status_names=ORDER_STATUS_NAMES,
        registered={param: redact(url) for param, url in registered.items() if url},
        callback_log=list(reversed(store.callback_log()))[:RECENT],
        callback_names=CALLBACK_NAMES,
        outcomes=OUTCOMES,
        pending={FEED_NAMES.get(feed, feed): info["pending"] for feed, info in feeds.status(store).items()},
        hooks=HOOKS,
        clock=_clock,
        example=_example,
    )


@bp.post("/sandbox/<path>")
def act(path: str) -> ResponseReturnValue:
    """A form of the page: the same action as ``POST /_sandbox/<path>``, then back to the page."""
    if path not in HOOKS:
        raise NotFound(path)
    data = {k: v for k, v in request.form.items() if v.strip() != ""}
    try:
        done = actions.run(get_sandbox().store, path, data)
    except KeyError as exc:
        flash(f"{HOOKS[path].title}: fältet {exc.args[0]} saknas.", "error")
    except (ValueError, TypeError, NotFound) as exc:
        flash(f"{HOOKS[path].title} gick inte: {exc}", "error")
    else:
        flash(done.message, "ok")
    return redirect(url_for(".index") + f"#{path}", code=303)
