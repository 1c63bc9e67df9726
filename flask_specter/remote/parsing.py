"""Typed results of Specter calls, and the parsers that build them from text and XML answers.

The feed parsers read an answer as a stream (text chunks, or XML events): a batch of 100,000 rows is
never held whole, as text, as a tree or as a list, so a pull's memory does not grow with the batch.

A value of a row that cannot be read (``?`` as a stock figure, a price of 5,000 digits, ``1E+1000000``)
marks its row ``unreadable``: the row is refused when it is screened, the rest of the answer goes on. Only
an answer that is itself broken (not a row shape, not XML) fails the fetch. No unbounded text is ever
turned into a number: Python refuses to turn an integer of more than 4,300 digits into text, and an error
raised by the message about a bad row would stall the feed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from . import protocol
from .errors import SpecterProtocolError

FIGURE_MAX_CHARS = 40  # no figure Specter keeps is longer; a longer one is refused before it is converted
SHOWN_CHARS = 40  # how much of an unreadable value a refusal quotes
SMALL_INT_DIGITS = 9  # codes, status ids and limits: anything longer is not one


@dataclass(frozen=True)
class Unreadable:
    """A value of a row that could not be read, kept so the row is refused with it (not the answer)."""

    field: str  # its wire name: available, noItemsAv, priceExclVat, statusId...
    text: str  # as sent, cut to SHOWN_CHARS characters
    length: int  # its whole length in characters


class _BadValue(Exception):
    def __init__(self, field: str, value: str | None) -> None:
        super().__init__(field)
        text = value or ""
        self.unreadable = Unreadable(field, text[:SHOWN_CHARS], len(text))


def small_int(text: str | None) -> int | None:
    """``text`` as a small non-negative integer (ASCII digits only, at most SMALL_INT_DIGITS), else None:
    ``int()`` raises for ``²`` (a digit to ``str.isdigit``) and for more than 4,300 digits."""
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= SMALL_INT_DIGITS:
        return int(text)
    return None


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
    unreadable: Unreadable | None = None  # a figure that could not be read: the row is refused


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
    unreadable: Unreadable | None = None


@dataclass(frozen=True)
class OrderChange:
    order_no: str
    external_order_no: str | None
    status_id: int | None
    delivery_status: str | None
    tracking_nos: tuple[str, ...] = ()
    deliveries_updated: bool = False
    unreadable: Unreadable | None = None

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
    """A price, weight or VAT rate; raises ``_BadValue`` for one that is no plain number (or too long to be one)."""
    if value is None or value.strip() == "":
        return None
    if len(value) > FIGURE_MAX_CHARS:
        raise _BadValue(name, value)
    try:
        return protocol.parse_decimal(value, field=name)
    except ValueError:
        raise _BadValue(name, value) from None


def _qty(value: str | None, name: str) -> int:
    """A stock figure; raises ``_BadValue`` for one that is missing, no plain number or too long to be one."""
    if value is None or len(value) > FIGURE_MAX_CHARS:
        raise _BadValue(name, value)
    try:
        return protocol.parse_quantity(value, field=name)
    except ValueError:
        raise _BadValue(name, value) from None


def _stock_line(line: str) -> StockLine | None:
    if not line.strip():
        return None
    parts = line.split(";")
    if len(parts) < 3:
        raise SpecterProtocolError(f"Specter sent a stock row that is not 'id;articleNo;available': {line[:80]!r}")
    article_no = parts[1].strip()
    if not article_no:
        return None
    article_id = parts[0].strip() or None
    try:
        return StockLine(article_no=article_no, available=_qty(parts[2], "available"), article_id=article_id)
    except _BadValue as bad:
        return StockLine(article_no=article_no, available=0, article_id=article_id, unreadable=bad.unreadable)


def iter_stock_text(chunks: Iterable[str]) -> Iterator[StockLine]:
    """CR-separated ``specterArticleId;articleNo;available;batchNo`` rows, read chunk by chunk (a row may
    span two chunks); empty articleNos are skipped."""
    carry = ""
    for chunk in chunks:
        lines = (carry + chunk.replace("\n", "\r")).split("\r")
        carry = lines.pop()
        for line in lines:
            row = _stock_line(line)
            if row is not None:
                yield row
    row = _stock_line(carry)
    if row is not None:
        yield row


def parse_stock_text(body: str, batch_no: str) -> list[StockLine]:
    """The whole text stock answer at once (``iter_stock_text`` over one chunk)."""
    return list(iter_stock_text([body]))


@dataclass
class FeedMeta:
    """What an answer says besides its items, complete once every item has been read."""

    count: int = 0
    limit: int | None = None
    more_flag: bool = False
    duplicates: frozenset[str] = frozenset()

    @property
    def more(self) -> bool:
        """Paging: a full page (``responseMaxLimit`` reached) or ``moreInfoToFetch`` means fetch again."""
        return self.more_flag or (self.limit is not None and self.limit != 0 and self.count >= self.limit)


RECORD_PATH = {
    "stock": ("stockChanges", "stock", "articles", "article"),
    "articles": ("articles", "article"),
    "orders": ("orders", "order"),
}


def walk_xml(
    events: Iterable[tuple[str, Any]], record: tuple[str, ...], meta: FeedMeta, on_response: Callable[[Element], None]
) -> Iterator[tuple[Element, list[Element]]]:
    """Yield every element at ``record`` (a path below the root) with its ancestors, then drop it from the
    tree, so the tree never holds more than the record being read (and the empty containers above it). ``events`` are iterparse's
    ``start``/``end``; the root's ``APIresponse`` goes to ``on_response`` (which raises for an error
    answer), ``responseMaxLimit`` and ``moreInfoToFetch`` to ``meta``."""
    stack: list[Element] = []
    depth = len(record)
    in_record = False
    for event, elem in events:
        if event == "start":
            if not in_record and len(stack) == depth and elem.tag == record[-1] and _tags(stack[1:]) == record[:-1]:
                in_record = True
            stack.append(elem)
            continue
        stack.pop()
        if not stack:
            continue  # the root
        if in_record and len(stack) == depth:
            in_record = False
            yield elem, stack
        elif len(stack) == 1:
            _root_child(elem, meta, on_response)
        else:
            continue  # a field of a record, or of the root's child: kept until that one is read
        stack[-1].remove(elem)


def _tags(elements: list[Element]) -> tuple[str, ...]:
    return tuple(e.tag for e in elements)


def _root_child(elem: Element, meta: FeedMeta, on_response: Callable[[Element], None]) -> None:
    text = (elem.text or "").strip()
    if elem.tag == "APIresponse":
        on_response(elem)
    elif elem.tag == "responseMaxLimit":
        meta.limit = small_int(text)
    elif elem.tag == "moreInfoToFetch":
        meta.more_flag = text == "1"


def iter_stock_xml(records: Iterable[tuple[Element, list[Element]]], sites: set[str] | None, meta: FeedMeta) -> Iterator[StockLine]:
    """``stockChanges/stock/articles/article``, summing available over the wanted stock sites.

    The sums need every site's section, so the totals (two figures per article) are kept until the end;
    the article numbers that occur twice under one stock site go to ``meta.duplicates``: their sum would
    be wrong.
    """
    totals: dict[str, list[int]] = {}
    unreadable: dict[str, Unreadable] = {}  # an article with a figure that could not be read, at any site
    seen: set[tuple[str | None, str]] = set()
    doubled: set[str] = set()
    for article, ancestors in records:
        site = ancestors[2].get("stockSiteId")
        if sites and site is not None and site not in sites:
            continue
        article_no = _text(article, "articleNo")
        if not article_no:
            continue
        if (site, article_no) in seen:
            doubled.add(article_no)
        seen.add((site, article_no))
        acc = totals.setdefault(article_no, [0, 0])
        try:
            available = _qty(_text(article, "noItemsAv"), "noItemsAv")
            in_stock_text = _text(article, "noItemsInStock")
            in_stock = _qty(in_stock_text, "noItemsInStock") if in_stock_text is not None else 0
        except _BadValue as bad:
            unreadable.setdefault(article_no, bad.unreadable)
            continue
        acc[0] += available
        acc[1] += in_stock
    del seen
    meta.duplicates = frozenset(doubled)
    for no in list(totals):
        available, in_stock = totals.pop(no)
        bad_value = unreadable.get(no)
        yield StockLine(article_no=no, available=0 if bad_value else available, in_stock=0 if bad_value else in_stock, unreadable=bad_value)


def iter_articles_xml(records: Iterable[tuple[Element, list[Element]]]) -> Iterator[ArticleInfo]:
    for article, _ancestors in records:
        article_no = _text(article, "articleNo")
        if not article_no:
            continue
        try:
            price = _dec(article.get("priceExclVat"), "priceExclVat")
            buy_price = _dec(article.get("buyPrice"), "buyPrice")
            weight = _dec(article.get("productWeight"), "productWeight")
            vat_percent = _dec(article.get("vatPercent"), "vatPercent")
        except _BadValue as bad:
            yield ArticleInfo(article_no=article_no, unreadable=bad.unreadable)
            continue
        yield ArticleInfo(
            article_no=article_no,
            name=_text(article, "name"),
            price_excl_vat=price,
            buy_price=buy_price,
            bar_code=(article.get("barCode") or None),
            weight=weight,
            vat_percent=vat_percent,
            group_no=_text(article, "articleGroupNo"),
            group_name=_text(article, "articleGroupName"),
            deleted=article.get("deleted") == "1",
        )


def iter_orders_xml(records: Iterable[tuple[Element, list[Element]]]) -> Iterator[OrderChange]:
    for order, _ancestors in records:
        order_no = order.get("orderNo")
        if not order_no:
            continue
        status = order.find("orderstatus")
        deliveries = order.find("deliveries")
        status_text = status.get("statusId") if status is not None else None
        status_id = small_int(status_text)
        bad_status = Unreadable("statusId", status_text[:SHOWN_CHARS], len(status_text)) if status_text and status_id is None else None
        yield (
            OrderChange(
                order_no=order_no,
                external_order_no=order.get("externalOrderNo"),
                status_id=status_id,
                delivery_status=(status.get("deliveryStatus") or None) if status is not None else None,
                tracking_nos=tuple(
                    d.get("trackingNo", "") for d in (deliveries.findall("delivery") if deliveries is not None else []) if d.get("trackingNo")
                ),
                deliveries_updated=deliveries is not None and deliveries.get("updated") == "1",
                unreadable=bad_status,
            )
        )
