"""The Specter actions: authentication, field checks and each action's answer (contract §2-§8).

Each handler gets the sandbox, the merged parameters and whether the reply will be XML, and returns a
``SandboxReply`` or raises ``ApiError``. Checks run in the contract's order: action, account (11), key (10),
fields (20), then domain errors (21-24, 99).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from ..remote import protocol
from . import articles, feeds, orders
from .wire import ApiError, Params, SandboxReply

if TYPE_CHECKING:  # pragma: no cover
    from .state import Sandbox

Handler = Callable[["Sandbox", Params, bool], SandboxReply]
_ARTICLE_ROW = re.compile(r"^articleno_(\d+)$")
MAX_ARTICLE_ROWS = 100


@dataclass(frozen=True)
class Action:
    name: str
    handler: Handler
    always_xml: bool = False


def field_error(message: str) -> ApiError:
    return ApiError(protocol.ERR_INVALID_FIELD, message)


def required(params: Params, name: str) -> str:
    value = params.text(name)
    if not value:
        raise field_error(f"{name} is required")
    return value


def decimal_field(params: Params, name: str, default: str | None = None) -> Decimal | None:
    text = params.text(name) or default
    if text is None:
        return None
    try:
        return protocol.parse_decimal(text, field=name)
    except ValueError as exc:
        raise field_error(str(exc)) from None


def authenticate(sb: Sandbox, action: str, params: Params) -> None:
    cfg = sb.config
    if params.text("sbmId") != str(cfg["SPECTER_SBM_ID"]) or params.text("apiUserId") != str(
        cfg["SPECTER_API_USER_ID"]
    ):
        raise ApiError(protocol.ERR_UNKNOWN_ACCOUNT, "Unknown sbmId or apiUserId")
    key = params.text("key").lower()

    def signed(x: str) -> str:
        return protocol.sign(cfg["SPECTER_INTEGRATION_KEY"], cfg["SPECTER_USER_KEY"], str(cfg["SPECTER_SBM_ID"]), x)

    if action == protocol.CHECK_ACCOUNT_SETTINGS:
        today = dt.date.today()
        allowed = [(today + dt.timedelta(days=d)).isoformat() for d in (-1, 0, 1)]
        sent = params.text("date")
        candidates = allowed if not sent else [sent] if sent in allowed else []
        ok = any(signed(d) == key for d in candidates)
    else:
        ok = signed(protocol.key_input(action, params)) == key
    if not key or not ok:
        raise ApiError(protocol.ERR_INVALID_KEY, "Invalid key")


# -- feeds ------------------------------------------------------------------------------------------


def _fetch(feed: str) -> Handler:
    def handler(sb: Sandbox, params: Params, xml: bool) -> SandboxReply:
        batch_no = params.text("batchNo")
        limit = int(sb.config["SANDBOX_RESPONSE_MAX_LIMIT"])
        payload, more = feeds.fetch(sb.store, feed, batch_no, limit)
        count = len(payload["items"])
        reply = SandboxReply(id=batch_no, message=f"{count} changes in batch")
        if feed == "stock":
            if not xml:
                reply.text = feeds.stock_text(payload, batch_no)
                return reply
            reply.xml = feeds.stock_xml(payload, params.flag("getMultipleStocksites"))
        elif feed == "articles":
            reply.xml = feeds.articles_xml(payload)
        else:
            reply.xml = feeds.orders_xml(payload)
        if more:
            reply.xml += "<moreInfoToFetch>1</moreInfoToFetch>" if feed == "orders" else (
                f"<responseMaxLimit>{limit}</responseMaxLimit>"
            )
        return reply

    return handler


def _confirm(feed: str) -> Handler:
    def handler(sb: Sandbox, params: Params, xml: bool) -> SandboxReply:
        batch_no = params.text("batchNo")
        feeds.confirm(sb.store, feed, batch_no)
        return SandboxReply(id=batch_no, message="Batch confirmed")

    return handler


def clear_article_batch(sb: Sandbox, params: Params, xml: bool) -> SandboxReply:
    batch_no = params.text("batchNo")
    queued = feeds.clear_stock(sb.store, batch_no)
    return SandboxReply(id=batch_no, message=f"Stock batch cleared, {queued} articles queued")


def check_account_settings(sb: Sandbox, params: Params, xml: bool) -> SandboxReply:
    urls = {name: params.text(name) for name in protocol.CALLBACK_PARAMS}
    store = sb.store
    with store.tx() as c:
        store.set_meta(c, "callbacks", urls)
        if not store.get_meta("integration_started"):
            # A new integration: the whole catalogue is pending in the article-data feed (§4.8).
            store.set_meta(c, "integration_started", time.time())
            feeds.queue_all(store, c, "articles")
    active = sum(1 for url in urls.values() if url)
    return SandboxReply(id="Callbacks set", message=f"{active} callback URLs registered")


# -- writes -----------------------------------------------------------------------------------------


def new_customer(sb: Sandbox, params: Params, xml: bool) -> SandboxReply:
    form = (params.text("customerOrganizationalForm") or "P").upper()
    if form == "C":
        required(params, "name")
    else:
        required(params, "firstName")
        required(params, "surName")
    email = required(params, "emailAddress")
    if "@" not in email:
        raise field_error(f"emailAddress '{email}' is not an e-mail address")
    fields = {
        orders.canonical(k): v for k, v in params.original_items()
        if k.lower() not in orders.CONTROL and k.lower() not in orders.SPECTER_ONLY
    }
    fields["customerOrganizationalForm"] = form
    customer_id, matched = orders.submit_customer(
        sb.store, fields,
        force=params.flag("forceCustomerUpdate"),
        ignore_email=params.flag("ignoreControlEmail"),
        ignore_org=params.flag("ignoreControlOrgNo"),
    )
    return SandboxReply(id=str(customer_id), message="Customer matched" if matched else "Customer created")


def new_article(sb: Sandbox, params: Params, xml: bool) -> SandboxReply:
    indices = sorted(int(m.group(1)) for k in params if (m := _ARTICLE_ROW.match(k)))
    if not indices:
        raise field_error("articleNo_1 is required")
    if len(indices) > MAX_ARTICLE_ROWS:
        raise field_error(f"articleNo_n: at most {MAX_ARTICLE_ROWS} articles per call, got {len(indices)}")
    records, initial = [], {}
    for n in indices:
        no = (params.get(f"articleNo_{n}") or "").strip()
        problem = protocol.validate_article_no(no)
        if problem:
            raise field_error(f"articleNo_{n}: {problem}")
        record = {"article_no": no, "name": required(params, f"name_{n}")}
        for name, column in (("priceExclVAT", "price"), ("vatPercent", "vat"), ("buyPrice", "buy_price"),
                             ("productWeight", "weight")):
            value = decimal_field(params, f"{name}_{n}")
            if value is not None:
                record[column] = articles.decimal_text(value, name)
        for name, column in (("barCode", "bar_code"), ("articleGroupNo", "group_no"),
                             ("articleGroupName", "group_name")):
            if f"{name}_{n}" in params:
                record[column] = params.text(f"{name}_{n}")
        if params.text("addSupplier"):
            record["supplier"] = params.text("addSupplier")
        records.append(record)
        if params.flag(f"createArticleStock_{n}"):
            initial[no] = decimal_field(params, f"noItemsInStock_{n}", default="0")
    with sb.store.tx() as c:
        result = articles.save(c, records, overwrite=params.flag("forceArticleUpdate"), origin="shop")
        created = [(no, articles.DEFAULT_SITE_ID, initial[no]) for no in result["created"] if no in initial]
        articles.set_stock(c, created)
        feeds.mark_pending(sb.store, c, "stock", [no for no, _site, _qty in created])
        first = c.execute("SELECT id FROM articles WHERE article_no = ?", (records[0]["article_no"],)).fetchone()
    summary = ", ".join(f"{len(v)} {k}" for k, v in result.items())
    return SandboxReply(id=str(first["id"]), message=f"Articles saved ({summary})")


def delete_article(sb: Sandbox, params: Params, xml: bool) -> SandboxReply:
    no = required(params, "articleNo")
    with sb.store.tx() as c:
        row = c.execute("SELECT id FROM articles WHERE article_no = ? AND deleted = 0", (no,)).fetchone()
        if row is None:  # never existed, or already deleted
            raise ApiError(protocol.ERR_UNKNOWN_ARTICLE, f"Article '{no}' does not exist")
        c.execute("UPDATE articles SET deleted = 1, updated_at = ? WHERE article_no = ?", (time.time(), no))
    return SandboxReply(id=str(row["id"]), message="Article deleted")


def new_order(sb: Sandbox, params: Params, xml: bool) -> SandboxReply:
    header, rows = orders.split_rows(params.original_items())
    customer = required(params, "customerId")
    if not customer.isdigit():
        raise field_error(f"customerId '{customer}' is not a customer number")
    if not rows:
        raise field_error("articleNo_1 is required")
    site_text = params.text("stockSiteId") or str(articles.DEFAULT_SITE_ID)
    if not site_text.isdigit():
        raise field_error(f"stockSiteId '{site_text}' is not a stock site id")
    for n, row in rows.items():
        row["articleNo"] = required(params, f"articleNo_{n}")
        qty = decimal_field(params, f"noOfItems_{n}")
        if qty is None:
            raise field_error(f"noOfItems_{n} is required")
        decimal_field(params, f"priceExclVAT_{n}")
        decimal_field(params, f"vatPercent_{n}")
        row["_qty"] = articles.number(qty)
    external = params.text("externalOrderNo")
    with sb.store.tx() as c:
        # Duplicate first: a retry of a created order must get 23 even if something else changed since.
        if external and not params.flag("ignoreExternalOrderNoControl"):
            existing = orders.find_by_external(c, external)
            if existing is not None:
                raise ApiError(
                    protocol.ERR_DUPLICATE_ORDER,
                    f"Order with externalOrderNo '{external}' already exists as order '{existing}'",
                )
        if c.execute("SELECT 1 FROM customers WHERE id = ?", (int(customer),)).fetchone() is None:
            raise ApiError(protocol.ERR_UNKNOWN_CUSTOMER, f"Customer '{customer}' does not exist")
        known = articles.existing(c, [r["articleNo"] for r in rows.values()])
        for row in rows.values():
            found = known.get(row["articleNo"])
            if found is None or found["deleted"]:
                raise ApiError(protocol.ERR_UNKNOWN_ARTICLE, f"Article '{row['articleNo']}' does not exist")
        order_no = orders.create_order(c, sb.store, header, list(rows.values()), int(site_text))
    return SandboxReply(id=str(order_no), message="Order created")


def delete_order(sb: Sandbox, params: Params, xml: bool) -> SandboxReply:
    order_id = required(params, "orderId")
    try:
        removed = orders.delete_order(sb.store, order_id)
    except articles.NotFound:
        raise ApiError(protocol.ERR_UNKNOWN_ORDER, f"Order '{order_id}' does not exist") from None
    return SandboxReply(id=order_id, message="Order removed" if removed else "Order already removed")


ACTIONS: dict[str, Action] = {}
for _name, _feed in protocol.FEEDS.items():
    ACTIONS[_feed.fetch_action.lower()] = Action(_feed.fetch_action, _fetch(_name), always_xml=_name != "stock")
    ACTIONS[_feed.confirm_action.lower()] = Action(_feed.confirm_action, _confirm(_name))
for _action, _handler in (
    (protocol.CLEAR_ARTICLE_BATCH, clear_article_batch),
    (protocol.CHECK_ACCOUNT_SETTINGS, check_account_settings),
    (protocol.NEW_CUSTOMER, new_customer),
    (protocol.NEW_ARTICLE, new_article),
    (protocol.DELETE_ARTICLE, delete_article),
    (protocol.NEW_ORDER, new_order),
    (protocol.DELETE_ORDER, delete_order),
):
    ACTIONS[_action.lower()] = Action(_action, _handler)
