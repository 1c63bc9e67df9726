"""What a person does inside Specter, one function per action: the ``/_sandbox/`` JSON hooks and the
sandbox page's forms both call these (one implementation, the same field names).

Each action takes the hook's JSON body (or the form, whose fields carry the same names; empty form
fields are left out) and returns a ``Done``: a Swedish sentence for the page and what the hook answers
with. ``HOOKS`` documents every body; the page shows it under each form.

The bodies (``POST /_sandbox/<path>``, JSON object; ``stockSiteId`` defaults to 1, "Huvudlager"):

- ``pos-sale`` — sold in the store (Butikskassa): ``{"articleNo": "KAFFE-1", "qty": 2, "stockSiteId": 1}``;
  in stock drops by ``qty``, the stock feed and ``actionStockChange`` follow.
- ``goods-received`` — goods received (inleverans): ``{"articleNo": "KAFFE-1", "qty": 10, "stockSiteId": 1}``.
- ``stock-adjustment`` — a stock count: ``{"articleNo": "KAFFE-1", "inStock": 7}`` sets the figure,
  ``{"articleNo": "KAFFE-1", "change": -2}`` moves it (breakage, a find); ``{"items": [{"articleNo": ...,
  "inStock": ..., "stockSiteId": ...}, ...]}`` sets many at once.
- ``price-change`` — price or data: ``{"articleNo": "KAFFE-1", "priceExclVat": "89.00", "name": "Kaffe mörk"}``;
  also ``vatPercent``, ``buyPrice``, ``barCode``, ``productWeight``, ``articleGroupNo``, ``articleGroupName``.
  The article-data feed follows.
- ``article-removal`` — ``{"articleNo": "KAFFE-1"}``: the article-data feed reports it deleted.
- ``order-status`` — ``{"orderNo": 10001, "statusId": 2, "deliveryStatus": ""}``; statusId 1 registrerad,
  2 bekräftad, 3 dellevererad, 4 levererad, 5 borttagen (the same as ``order-removal``). The orders feed follows.
- ``order-delivery`` — ``{"orderNo": 10001, "trackingNo": "JJSE123456789"}``: delivered (reserved quantities
  leave stock, deliveryStatus D, the tracking number in the orders feed).
- ``order-removal`` — ``{"orderNo": 10001}``: removed, reservation released, ``actionRemoveOrder`` called.
- ``invoice`` — ``{"orderNo": 10001, "invoiceId": "50001", "invoiceSource": "SBM"}`` (both optional):
  ``actionNewInvoice`` called with the order and invoice ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..remote import protocol
from . import articles, orders
from .articles import DEFAULT_SITE_ID, NotFound
from .store import Store

ORDER_STATUS_NAMES = {1: "Registrerad", 2: "Bekräftad", 3: "Dellevererad", 4: "Levererad", 5: "Borttagen"}


@dataclass(frozen=True)
class Done:
    """The outcome of one action: a sentence for the page, and the article or order the hook answers with."""

    message: str
    article_no: str | None = None
    order_no: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None or str(value).strip() == "":
        raise KeyError(name)
    return str(value).strip()


def _number(data: Mapping[str, Any], name: str) -> Decimal:
    return protocol.parse_decimal(_text(data, name), field=name)


def _site(data: Mapping[str, Any]) -> int:
    value = data.get("stockSiteId")
    return int(value) if value not in (None, "") else DEFAULT_SITE_ID


def _figure(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")


def _stock_after(store: Store, article_no: str, site: int) -> str:
    found = articles.describe(store, article_no)
    figures = found[0]["sites"].get(str(site), {}) if found else {}
    return f"{figures.get('inStock', 0)} i lager, {figures.get('available', 0)} disponibelt"


# -- articles and stock ---------------------------------------------------------------------------


def pos_sale(store: Store, data: Mapping[str, Any]) -> Done:
    no, site, qty = _text(data, "articleNo"), _site(data), _number(data, "qty")
    articles.specter_stock(store, [(no, site, -qty)], relative=True)
    return Done(f"Sålde {_figure(qty)} st {no} i butikskassan: {_stock_after(store, no, site)}.", article_no=no)


def goods_received(store: Store, data: Mapping[str, Any]) -> Done:
    no, site, qty = _text(data, "articleNo"), _site(data), _number(data, "qty")
    articles.specter_stock(store, [(no, site, qty)], relative=True)
    return Done(f"Inleverans av {_figure(qty)} st {no}: {_stock_after(store, no, site)}.", article_no=no)


def stock_adjustment(store: Store, data: Mapping[str, Any]) -> Done:
    if "items" in data:
        items = [(_text(i, "articleNo"), _site(i), _number(i, "inStock")) for i in data["items"]]
        articles.specter_stock(store, items)
        return Done(f"Lagerjustering av {len(items)} artiklar.", extra={"adjusted": len(items)})
    no, site = _text(data, "articleNo"), _site(data)
    has_set, has_change = data.get("inStock") not in (None, ""), data.get("change") not in (None, "")
    if has_set == has_change:
        raise ValueError("give either inStock (the new figure) or change (+/- quantity), not both")
    if has_set:
        articles.specter_stock(store, [(no, site, _number(data, "inStock"))])
    else:
        articles.specter_stock(store, [(no, site, _number(data, "change"))], relative=True)
    return Done(f"Lagerjustering av {no}: {_stock_after(store, no, site)}.", article_no=no)


def price_change(store: Store, data: Mapping[str, Any]) -> Done:
    no = _text(data, "articleNo")
    changes = {k: v for k, v in data.items() if k in articles.JSON_FIELDS and v not in (None, "")}
    if not changes:
        raise ValueError(f"nothing to change: give one of {', '.join(articles.JSON_FIELDS)}")
    articles.specter_edit(store, {"articleNo": no, **changes})
    return Done(f"Ändrade {', '.join(changes)} på {no}.", article_no=no)


def article_removal(store: Store, data: Mapping[str, Any]) -> Done:
    no = _text(data, "articleNo")
    articles.specter_remove(store, no)
    return Done(f"Tog bort artikeln {no}.", article_no=no)


# -- orders ---------------------------------------------------------------------------------------


def order_status(store: Store, data: Mapping[str, Any]) -> Done:
    order_no, status_id = _text(data, "orderNo"), int(_text(data, "statusId"))
    if status_id not in ORDER_STATUS_NAMES:
        raise ValueError(f"statusId {status_id} is unknown; use one of {', '.join(map(str, ORDER_STATUS_NAMES))}")
    delivery_status = data.get("deliveryStatus")
    orders.specter_status(store, order_no, status_id, None if delivery_status is None else str(delivery_status))
    return Done(f"Order {order_no} har status {ORDER_STATUS_NAMES[status_id]}.", order_no=order_no)


def order_delivery(store: Store, data: Mapping[str, Any]) -> Done:
    order_no, tracking_no = _text(data, "orderNo"), str(data.get("trackingNo") or "").strip()
    orders.specter_deliver(store, order_no, tracking_no)
    tracking = f" med kollinummer {tracking_no}" if tracking_no else ""
    return Done(f"Order {order_no} levererad{tracking}.", order_no=order_no)


def order_removal(store: Store, data: Mapping[str, Any]) -> Done:
    order_no = _text(data, "orderNo")
    orders.specter_remove(store, order_no)
    return Done(f"Order {order_no} borttagen.", order_no=order_no)


def invoice(store: Store, data: Mapping[str, Any]) -> Done:
    order_no = _text(data, "orderNo")
    invoice_id = orders.specter_invoice(
        store, order_no, str(data["invoiceId"]) if data.get("invoiceId") else None, str(data.get("invoiceSource") or "SBM")
    )
    return Done(f"Faktura {invoice_id} skapad för order {order_no}.", order_no=order_no, extra={"invoiceId": invoice_id})


# -- the catalogue: what the page shows, what the hooks route ----------------------------------------


@dataclass(frozen=True)
class Hook:
    """One action: its ``/_sandbox/`` path, Swedish title, body fields (name, meaning) and an example body."""

    path: str
    title: str
    fields: tuple[tuple[str, str], ...]
    example: dict[str, Any]
    run: Callable[[Store, Mapping[str, Any]], Done]


SITE = ("stockSiteId", "lagerställe, valfritt (1 = Huvudlager)")
HOOKS: dict[str, Hook] = {h.path: h for h in (
    Hook("pos-sale", "Sälj i butikskassan", (("articleNo", "artikelnummer"), ("qty", "antal sålda"), SITE),
         {"articleNo": "KAFFE-1", "qty": 2}, pos_sale),
    Hook("goods-received", "Inleverans", (("articleNo", "artikelnummer"), ("qty", "antal mottagna"), SITE),
         {"articleNo": "KAFFE-1", "qty": 10}, goods_received),
    Hook("stock-adjustment", "Lagerjustering",
         (("articleNo", "artikelnummer"), ("inStock", "nytt saldo, eller"), ("change", "ändring +/- (t.ex. -2 för kross)"), SITE),
         {"articleNo": "KAFFE-1", "inStock": 7}, stock_adjustment),
    Hook("price-change", "Pris- och namnändring",
         (("articleNo", "artikelnummer"), ("priceExclVat", "nytt pris exkl. moms, valfritt"), ("name", "nytt namn, valfritt"),
          ("vatPercent", "moms %, valfritt")),
         {"articleNo": "KAFFE-1", "priceExclVat": "89.00", "name": "Kaffe mörkrost"}, price_change),
    Hook("article-removal", "Ta bort artikel", (("articleNo", "artikelnummer"),), {"articleNo": "KAFFE-1"}, article_removal),
    Hook("order-status", "Ändra orderstatus",
         (("orderNo", "Specters ordernummer"), ("statusId", "1-5: registrerad, bekräftad, dellevererad, levererad, borttagen"),
          ("deliveryStatus", "leveransstatus, valfri")),
         {"orderNo": 10001, "statusId": 2}, order_status),
    Hook("order-delivery", "Leverera order", (("orderNo", "Specters ordernummer"), ("trackingNo", "kollinummer, valfritt")),
         {"orderNo": 10001, "trackingNo": "JJSE123456789"}, order_delivery),
    Hook("order-removal", "Ta bort order", (("orderNo", "Specters ordernummer"),), {"orderNo": 10001}, order_removal),
    Hook("invoice", "Skapa faktura",
         (("orderNo", "Specters ordernummer"), ("invoiceId", "fakturanummer, valfritt (annars nästa lediga)"),
          ("invoiceSource", "källa, valfri (SBM)")),
         {"orderNo": 10001}, invoice),
)}


def run(store: Store, path: str, data: Mapping[str, Any]) -> Done:
    """Run the action behind ``/_sandbox/<path>`` with ``data`` (a hook body or a form)."""
    hook = HOOKS.get(path)
    if hook is None:
        raise NotFound(f"unknown action {path!r}")
    return hook.run(store, data)
