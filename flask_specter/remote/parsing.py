"""Typed results of Specter calls, and the parsers that build them from text and XML answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from . import protocol
from .errors import SpecterProtocolError


@dataclass(frozen=True)
class Reply:
    """A ``1;<id>;<message>`` answer (or its XML twin)."""

    id: str
    message: str


@dataclass(frozen=True)
class StockLine:
    """One article's stock figure as Specter sent it (stored as a ``models.StockRow``)."""

    article_no: str
    available: int
    in_stock: int | None = None
    article_id: str | None = None
    site_id: str | None = None


@dataclass(frozen=True)
class ArticleInfo:
    article_no: str
    name: str | None = None
    price_excl_vat: Decimal | None = None
    buy_price: Decimal | None = None
    bar_code: str | None = None
    weight: Decimal | None = None
    vat_percent: Decimal | None = None
    group_no: str | None = None
    group_name: str | None = None
    deleted: bool = False


@dataclass(frozen=True)
class OrderChange:
    order_no: str
    external_order_no: str | None
    status_id: int | None
    delivery_status: str | None
    tracking_nos: tuple[str, ...] = ()
    deliveries_updated: bool = False

    @property
    def removed(self) -> bool:
        return self.status_id == protocol.ORDER_STATUS_REMOVED

    @property
    def delivered(self) -> bool:
        return self.delivery_status == protocol.DELIVERY_STATUS_DELIVERED


@dataclass(frozen=True)
class FeedBatch:
    """What one fetch of a feed returned: the batch it is frozen in and whether more is pending."""

    feed: str
    batch_no: str
    items: list[Any] = field(default_factory=list)
    more: bool = False
    limit: int | None = None
    duplicates: frozenset[str] = frozenset()  # numbers sent more than once where the format sums (stock XML)


def _text(el: Element | None, name: str) -> str | None:
    if el is None:
        return None
    child = el.find(name)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _dec(value: str | None, name: str) -> Decimal | None:
    if value is None or value.strip() == "":
        return None
    try:
        return protocol.parse_decimal(value, field=name)
    except ValueError as exc:
        raise SpecterProtocolError(f"Specter sent an unreadable number: {exc}") from exc


def _qty(value: str | None, name: str) -> int:
    try:
        return protocol.parse_quantity(value, field=name)
    except ValueError as exc:
        raise SpecterProtocolError(f"Specter sent an unreadable stock figure: {exc}") from exc


def parse_stock_text(body: str, batch_no: str) -> list[StockLine]:
    """CR-separated ``specterArticleId;articleNo;available;batchNo`` rows; empty articleNos are skipped."""
    rows = []
    for line in body.replace("\n", "\r").split("\r"):
        if not line.strip():
            continue
        parts = line.split(";")
        if len(parts) < 3:
            raise SpecterProtocolError(f"Specter sent a stock row that is not 'id;articleNo;available': {line[:80]!r}")
        article_no = parts[1].strip()
        if not article_no:
            continue
        rows.append(StockLine(article_no=article_no, available=_qty(parts[2], article_no), article_id=parts[0].strip() or None))
    return rows


def parse_stock_xml(root: Element, sites: set[str] | None) -> tuple[list[StockLine], int | None, frozenset[str]]:
    """``stockChanges/stock/articles/article``, summing available over the wanted stock sites.

    Also returns the article numbers that occur twice under one stock site: their sum would be wrong.
    """
    totals: dict[str, list[int]] = {}
    seen: set[tuple[str | None, str]] = set()
    doubled: set[str] = set()
    changes = root.find("stockChanges")
    if changes is None:
        return [], _limit(root), frozenset()
    for stock in changes.findall("stock"):
        site = stock.get("stockSiteId")
        if sites and site is not None and site not in sites:
            continue
        for article in stock.findall("articles/article"):
            article_no = _text(article, "articleNo")
            if not article_no:
                continue
            if (site, article_no) in seen:
                doubled.add(article_no)
            seen.add((site, article_no))
            available = _qty(_text(article, "noItemsAv"), article_no)
            in_stock_text = _text(article, "noItemsInStock")
            in_stock = _qty(in_stock_text, article_no) if in_stock_text is not None else 0
            acc = totals.setdefault(article_no, [0, 0])
            acc[0] += available
            acc[1] += in_stock
    rows = [StockLine(article_no=no, available=a, in_stock=s) for no, (a, s) in totals.items()]
    return rows, _limit(root), frozenset(doubled)


def parse_articles_xml(root: Element) -> list[ArticleInfo]:
    items = []
    for article in root.findall("articles/article"):
        article_no = _text(article, "articleNo")
        if not article_no:
            continue
        items.append(
            ArticleInfo(
                article_no=article_no,
                name=_text(article, "name"),
                price_excl_vat=_dec(article.get("priceExclVat"), "priceExclVat"),
                buy_price=_dec(article.get("buyPrice"), "buyPrice"),
                bar_code=(article.get("barCode") or None),
                weight=_dec(article.get("productWeight"), "productWeight"),
                vat_percent=_dec(article.get("vatPercent"), "vatPercent"),
                group_no=_text(article, "articleGroupNo"),
                group_name=_text(article, "articleGroupName"),
                deleted=article.get("deleted") == "1",
            )
        )
    return items


def parse_orders_xml(root: Element) -> list[OrderChange]:
    items = []
    for order in root.findall("orders/order"):
        order_no = order.get("orderNo")
        if not order_no:
            continue
        status = order.find("orderstatus")
        deliveries = order.find("deliveries")
        status_id = status.get("statusId") if status is not None else None
        items.append(
            OrderChange(
                order_no=order_no,
                external_order_no=order.get("externalOrderNo"),
                status_id=int(status_id) if status_id and status_id.isdigit() else None,
                delivery_status=(status.get("deliveryStatus") or None) if status is not None else None,
                tracking_nos=tuple(
                    d.get("trackingNo", "") for d in (deliveries.findall("delivery") if deliveries is not None else []) if d.get("trackingNo")
                ),
                deliveries_updated=deliveries is not None and deliveries.get("updated") == "1",
            )
        )
    return items


def _limit(root: Element) -> int | None:
    text = _text(root, "responseMaxLimit")
    return int(text) if text and text.isdigit() else None


def more_pending(root: Element, count: int) -> bool:
    """Paging: a full page (``responseMaxLimit`` reached) or ``moreInfoToFetch`` means fetch again."""
    if _text(root, "moreInfoToFetch") == "1":
        return True
    limit = _limit(root)
    return limit is not None and limit != 0 and count >= limit
