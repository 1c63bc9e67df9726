"""Every row of a fetched batch is checked before it is stored, so one bad row never stops a feed.

A database refuses a row it cannot hold (an article number longer than its column, a figure beyond its
integer type, a NUL on PostgreSQL) and the whole batch's transaction with it: the batch would never be
confirmed and every later pull would fail on it again. So each row is checked against the columns it
will be written to (lengths and integer ranges read from the models, so a changed column changes the
check), Specter's own limit for an article number, and the control characters no text may carry.
A row that fails, and every row of a number sent twice in one batch, is refused: kept in
``specter_refused_rows`` with its reason for the admin, never stored. The rest of the batch goes on.
A value the parser could not read (``?``, 5,000 digits) refuses its row the same way, and a refusal's
reason never raises: a huge value is quoted cut short, a huge integer shown in powers of ten.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Integer, SmallInteger, func, insert, select
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.elements import ColumnElement

from ..models import ArticleRow, OrderEvent, RefusedRow, Reservation, StockHistory, StockLevel, StockRow, utcnow
from ..queue import Job
from ..remote import protocol
from ..remote.parsing import Unreadable
from ..state import get_state

log = logging.getLogger("flask_specter.pulls")

# Identifiers (article and order numbers) may hold no control character at all; free text may hold
# tab and line breaks, never NUL or the other C0 controls (PostgreSQL refuses NUL in text outright).
_FREE_TEXT_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# __table__ is typed as a plain FromClause, so its columns' types are plain TypeEngines without a length
REF_MAX: int = RefusedRow.__table__.c.ref.type.length  # type: ignore[attr-defined]
REASON_MAX: int = RefusedRow.__table__.c.reason.type.length  # type: ignore[attr-defined]
REREAD_PAUSE = dt.timedelta(hours=24)  # one automatic full stock re-read per duplicated SKU a day

_INT_BITS = ((SmallInteger, 16), (BigInteger, 64), (Integer, 32))  # subclasses before their base
_SHOWN_DIGITS = 30  # a larger integer is shown as 1.000E+4999: Python will not write out more than 4,300 digits
_FIELD_NAMES = {
    "available": "Disponibelt saldo",
    "noItemsAv": "Disponibelt saldo",
    "noItemsInStock": "Lagersaldo",
    "priceExclVat": "Priset",
    "buyPrice": "Inköpspriset",
    "productWeight": "Vikten",
    "vatPercent": "Momssatsen",
    "statusId": "Orderstatusen",
}


@dataclass(frozen=True)
class Refusal:
    ref: str
    kind: str  # invalid | duplicate
    reason: str


class Screening:
    """A batch being screened as it is read: ``pages`` yields the rows to store, refusing invalid ones on
    the way; a number sent twice is only known later, so every occurrence is stored and the caller removes
    ``duplicates`` once the batch is read (``refuse_duplicates`` records them). ``refused`` is complete then.

    Only the numbers seen are kept (a set: about 10 MB at 100,000 rows), never the rows.
    """

    def __init__(self, feed: str, fetched: Any) -> None:
        self.feed = feed
        self.fetched = fetched
        self.refused: list[Refusal] = []
        self.stored = 0
        self._seen: set[str] = set()
        self._twice: set[str] = set()
        self._invalid: Counter[str] = Counter()  # numbers of invalid rows: a second, valid row of one is a duplicate too

    def pages(self, size: int) -> Iterator[list[Any]]:
        limits = _limits(self.feed)
        problem_of = _PROBLEM[self.feed]
        dedupe = self.feed != "orders"  # orders may carry one order twice (two changes); article numbers may not
        page: list[Any] = []
        for item in self.fetched:
            key = _key(self.feed, item)
            problem = problem_of(item, limits)
            if problem:
                self.refused.append(Refusal(printable(key), "invalid", printable(problem, REASON_MAX) + ". Raden lagrades inte."))
                if dedupe and isinstance(key, str):
                    self._invalid[key] += 1
                    if key in self._seen:
                        self._twice.add(key)
                continue
            if dedupe:
                if key in self._seen or key in self._invalid:
                    self._twice.add(key)
                self._seen.add(key)
            page.append(item)
            if len(page) >= size:
                self.stored += len(page)
                yield page
                page = []
        if page:
            self.stored += len(page)
            yield page

    @property
    def duplicates(self) -> set[str]:
        """Numbers stored more than once, or summed from one stock site sent twice (stock XML)."""
        doubled = set(getattr(self.fetched, "duplicates", ()) or ()) & self._seen
        return self._twice | doubled

    def refuse_duplicates(self, figures: dict[str, list[Any]]) -> None:
        """Refuse every stored occurrence of a duplicated number (``figures``: its stored rows' figures)."""
        for key, occurrences in figures.items():
            total = len(occurrences) + self._invalid[key]
            count = total if total > 1 else 0
            for figure in occurrences:
                self.refused.append(Refusal(printable(key), "duplicate", _duplicate_reason(self.feed, figure, count)))
            self.stored -= len(occurrences)


def printable(text: object, limit: int = REF_MAX) -> str:
    """``text`` safe to store and show: control characters escaped (``\\x00``), cut to ``limit``. Only
    what can be shown is escaped, so a value of any length costs the same."""
    raw = text if isinstance(text, str) else shown_value(text)
    shown = _ANY_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", raw[: limit + 1])
    return shown if len(raw) <= limit and len(shown) <= limit else shown[: limit - 1] + "…"


def shown_value(value: object) -> str:
    """``value`` as text that never raises: an integer of more than _SHOWN_DIGITS digits in powers of ten."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_SHOWN_DIGITS:
        return f"{Decimal(value):.3E}"
    try:
        return str(value)
    except ValueError:  # a type whose text has a limit too
        return f"<{type(value).__name__}>"


def text_limit(*columns: ColumnElement[Any]) -> int | None:
    """The shortest declared length among ``columns`` (None when none has one)."""
    lengths: list[int] = [length for c in columns if (length := getattr(c.type, "length", None))]
    return min(lengths) if lengths else None


def int_range(*columns: ColumnElement[Any]) -> tuple[int, int]:
    """The range every one of ``columns`` can hold (32-bit for a plain Integer)."""
    bits = 64
    for column in columns:
        for kind, width in _INT_BITS:
            if isinstance(column.type, kind):
                bits = min(bits, width)
                break
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _identifier_problem(value: str | None, what: str, limit: int | None) -> str | None:
    if not value:
        return f"{what} saknas"
    if limit is not None and len(value) > limit:
        return f"{what} är {len(value)} tecken långt; högst {limit} får plats"
    if _ANY_CONTROL.search(value):
        return f"{what} innehåller styrtecken (t.ex. NUL, tab eller radbrytning)"
    return None


def _int_problem(value: int | None, what: str, bounds: tuple[int, int]) -> str | None:
    if value is None:
        return None
    low, high = bounds
    if not low <= value <= high:
        return f"{what} {shown_value(value)} ligger utanför det som kan lagras ({low} till {high})"
    return None


def _unreadable_problem(item: Any) -> str | None:
    """The reason for a row with a value the parser could not read, quoting it cut short."""
    bad: Unreadable | None = getattr(item, "unreadable", None)
    if bad is None:
        return None
    what = _FIELD_NAMES.get(bad.field, bad.field)
    if not bad.length:
        return f"{what} saknas"
    quoted = printable(bad.text, 40)
    if bad.length > len(bad.text):
        return f"{what} '{quoted}…' ({bad.length} tecken) är inget tal som kan läsas"
    return f"{what} '{quoted}' är inget tal som kan läsas"


def _text_problem(values: Iterable[tuple[str, str | None]]) -> str | None:
    for what, value in values:
        if value and _FREE_TEXT_FORBIDDEN.search(value):
            return f"{what} innehåller styrtecken (t.ex. NUL)"
    return None


def _stock_limits() -> dict[str, Any]:
    state = get_state()
    targets = [StockRow.__table__.c.available, StockLevel.__table__.c.available, StockHistory.__table__.c.new, StockHistory.__table__.c.old]
    try:
        targets.append(state.adapter.stock_target()[2])  # the shop's own stock column
    except (AttributeError, NotImplementedError, TypeError):
        pass
    sku_cols = (StockRow.__table__.c.sku, StockLevel.__table__.c.sku, StockHistory.__table__.c.sku, Reservation.__table__.c.sku)
    return {
        "sku": min(protocol.ARTICLE_NO_MAX, text_limit(*sku_cols) or protocol.ARTICLE_NO_MAX),
        "available": int_range(*targets),
        "in_stock": int_range(StockRow.__table__.c.in_stock, StockLevel.__table__.c.in_stock),
    }


def _stock_problem(row: Any, limits: dict[str, Any]) -> str | None:
    return (
        _identifier_problem(row.article_no, "Artikelnumret", limits["sku"])
        or _unreadable_problem(row)
        or _int_problem(row.available, "Disponibelt saldo", limits["available"])
        or _int_problem(row.in_stock, "Lagersaldo", limits["in_stock"])
    )


def _article_problem(item: Any, limits: dict[str, Any]) -> str | None:
    return _identifier_problem(item.article_no, "Artikelnumret", limits["sku"]) or _unreadable_problem(item) or _text_problem(
        (("Namnet", item.name), ("Streckkoden", item.bar_code), ("Artikelgruppen", item.group_no), ("Artikelgruppens namn", item.group_name))
    )


def _order_problem(item: Any, limits: dict[str, Any]) -> str | None:
    problem = _identifier_problem(item.order_no, "Ordernumret", limits["order_no"])
    if problem is None and item.external_order_no:
        problem = _identifier_problem(item.external_order_no, "Butikens ordernummer", limits["external_order_no"])
    return problem or _unreadable_problem(item) or _text_problem([("Leveransstatus", item.delivery_status), *(("Spårningsnumret", t) for t in item.tracking_nos)])


def _limits(feed: str) -> dict[str, Any]:
    if feed == "stock":
        return _stock_limits()
    if feed == "articles":
        return {"sku": min(protocol.ARTICLE_NO_MAX, text_limit(ArticleRow.__table__.c.sku) or protocol.ARTICLE_NO_MAX)}
    return {
        "order_no": text_limit(OrderEvent.__table__.c.order_no),
        "external_order_no": text_limit(OrderEvent.__table__.c.external_order_no),
    }


_PROBLEM = {"stock": _stock_problem, "articles": _article_problem, "orders": _order_problem}


def _key(feed: str, item: Any) -> str:
    key: str = item.order_no if feed == "orders" else item.article_no
    return key


def _duplicate_reason(feed: str, available: Any, count: int) -> str:
    if feed == "stock":
        figure = f"disponibelt {available}" if count else "summerat över lagerställen"
        return (
            f"Artikelnumret kom {count or 'flera'} gånger i samma batch ({figure}); inget av värdena används. "
            "Lagersaldot läses om från Specter."
        )
    return f"Artikelnumret kom {count} gånger i samma batch; ingen av raderna används. Ändra artikeln i Specter så skickas den igen."


def screen(feed: str, fetched: Any) -> Screening:
    """Screen a fetched batch (a ``FeedStream`` or anything iterable with the batch's items) as it is read.

    Orders may legitimately carry one order twice (two changes); article numbers may not: which of two
    figures is Specter's? Neither is used.
    """
    return Screening(feed, fetched)


def record_refusals(session: Session | scoped_session[Any], feed: str, batch_no: str, refused: list[Refusal]) -> None:
    """Keep the refused rows (in the caller's transaction) and say so in the log, without their values."""
    if not refused:
        return
    now = utcnow()
    session.execute(
        insert(RefusedRow),
        [{"feed": feed, "batch_no": batch_no, "ref": r.ref, "kind": r.kind, "reason": r.reason, "created_at": now} for r in refused],
    )
    kinds = Counter(r.kind for r in refused)
    log.warning("%s feed: batch %s: %s row(s) refused", feed, batch_no, ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))


def summary_text(refused: list[Refusal]) -> str | None:
    """One line for the batch's row on the status page."""
    if not refused:
        return None
    kinds = Counter(r.kind for r in refused)
    parts = []
    if kinds.get("invalid"):
        parts.append(f"{kinds['invalid']} ogiltiga")
    if kinds.get("duplicate"):
        parts.append(f"{kinds['duplicate']} dubbletter")
    return f"{len(refused)} rader vägrades ({', '.join(parts)}); se Vägrade rader."


def reread_duplicated_stock() -> bool:
    """Ask Specter for every article's stock again when SKUs came twice in a batch; True when asked.

    Called by a stock pull once the feed is drained (no batch is open then). Specter has no read of
    one article's stock: ``clearArticleBatch`` queues every article in the stock feed, and the pull
    goes on to fetch them, the duplicated SKU with them. One re-read per SKU a day: a SKU Specter sends
    twice again after its re-read is only noted on its refused rows, so nothing loops. A re-read that
    failed (Specter unreachable) is asked for again by the next pull.
    """
    state = get_state()
    session = state.db.session
    since = utcnow() - REREAD_PAUSE
    unasked = list(
        session.execute(
            select(RefusedRow).where(
                RefusedRow.feed == "stock", RefusedRow.kind == "duplicate", RefusedRow.reread_at.is_(None), RefusedRow.created_at > since
            )
        ).scalars()
    )
    if not unasked:
        return False
    refs = {r.ref for r in unasked}
    recent = dict(
        session.execute(
            select(RefusedRow.ref, func.max(RefusedRow.reread_at))
            .where(RefusedRow.feed == "stock", RefusedRow.kind == "duplicate", RefusedRow.ref.in_(refs), RefusedRow.reread_at > since)
            .group_by(RefusedRow.ref)
        ).all()
    )
    asked = bool(refs - set(recent))
    if asked:
        state.client.clear_article_batch()
        log.warning("stock feed: %d SKU(s) came twice in a batch; asked Specter to send every article's stock again", len(refs - set(recent)))
    now = utcnow()
    for row in unasked:
        if row.ref in recent:
            row.reread_at = recent[row.ref]
            row.reason = printable(row.reason + " Kom dubbelt även efter omläsningen: rätta artikeln i Specter.", REASON_MAX)
        else:
            row.reread_at = now
    session.commit()
    return asked


def has_pending_rows(model: Any) -> bool:
    """Is any stored row of ``model`` (article rows, order events) waiting? An index lookup, never a count."""
    return get_state().db.session.execute(select(model.id).where(model.state == "pending").limit(1)).first() is not None


def enqueue_apply(model: Any, flag: str, apply_job: Job[[], Any]) -> bool:
    """Queue ``apply_job`` if ``model`` has pending rows and none is queued yet; True when this call queued it."""
    state = get_state()
    return has_pending_rows(model) and apply_job.enqueue_once(flag, ttl=float(state.config["SPECTER_LEASE_SECONDS"]), queue=state.queue)
