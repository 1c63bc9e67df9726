"""Articles and stock inside the simulated Specter: writes from the shop and changes made in Specter.

Rule of the contract (§8): what the shop writes is never echoed back in the article-data feed; only
its stock effects (initial stock) go to the stock feed. Changes made inside Specter (the hooks) queue
both feeds as they affect them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from ..remote import protocol
from .feeds import mark_pending
from .store import Store

COLUMNS = ("name", "price", "vat", "buy_price", "bar_code", "weight", "group_no", "group_name", "supplier")
ARTICLE_DEFAULTS = {
    "name": "", "price": "0", "vat": "25", "buy_price": "0", "bar_code": "", "weight": "0",
    "group_no": "", "group_name": "", "supplier": "",
}
# JSON names of the hooks -> column, and whether the value is a decimal.
JSON_FIELDS = {
    "name": ("name", False),
    "priceExclVat": ("price", True),
    "vatPercent": ("vat", True),
    "buyPrice": ("buy_price", True),
    "barCode": ("bar_code", False),
    "productWeight": ("weight", True),
    "articleGroupNo": ("group_no", False),
    "articleGroupName": ("group_name", False),
}
DEFAULT_SITE_ID = 1


class NotFound(LookupError):
    """An article, order or customer named by a hook does not exist."""


def number(value: object) -> int | float:
    """A figure SQLite can store: int when whole, else float."""
    dec = value if isinstance(value, Decimal) else protocol.parse_decimal(str(value))
    return int(dec) if dec == dec.to_integral_value() else float(dec)


def decimal_text(value: object, field: str) -> str:
    """A decimal kept as canonical text (no float rounding): '199.5', '25'."""
    dec = value if isinstance(value, Decimal) else protocol.parse_decimal(str(value), field=field)
    return format(dec, "f")


def from_json(item: dict[str, Any]) -> dict[str, Any]:
    """Hook JSON for one article -> column values (only the keys given)."""
    no = str(item.get("articleNo") or "").strip()
    problem = protocol.validate_article_no(no)
    if problem:
        raise ValueError(problem)
    record: dict[str, Any] = {"article_no": no}
    for name, (column, is_decimal) in JSON_FIELDS.items():
        if item.get(name) is not None:
            record[column] = decimal_text(item[name], name) if is_decimal else str(item[name])
    return record


def existing(c: sqlite3.Connection, article_nos: list[str]) -> dict[str, sqlite3.Row]:
    found: dict[str, sqlite3.Row] = {}
    unique = list(dict.fromkeys(article_nos))
    for start in range(0, len(unique), 900):
        chunk = unique[start:start + 900]
        marks = ",".join("?" * len(chunk))
        for row in c.execute(f"SELECT * FROM articles WHERE article_no IN ({marks})", chunk):  # noqa: S608
            found[row["article_no"]] = row
    return found


def save(c: sqlite3.Connection, records: list[dict[str, Any]], *, overwrite: bool, origin: str) -> dict[str, list[str]]:
    """Create or update articles in one executemany; returns article numbers created/updated/skipped."""
    by_no = {r["article_no"]: r for r in records}
    old_rows = existing(c, list(by_no))
    result: dict[str, list[str]] = {"created": [], "updated": [], "skipped": []}
    rows = []
    now = time.time()
    for no, record in by_no.items():
        old = old_rows.get(no)
        if old is not None and not old["deleted"] and not overwrite:
            result["skipped"].append(no)
            continue
        values = dict(ARTICLE_DEFAULTS) if old is None else {k: old[k] for k in COLUMNS}
        values.update({k: v for k, v in record.items() if k in COLUMNS})
        rows.append((no, *(values[k] for k in COLUMNS), origin if old is None else old["origin"], now))
        result["created" if old is None else "updated"].append(no)
    cols = ", ".join(COLUMNS)
    updates = ", ".join(f"{k} = excluded.{k}" for k in COLUMNS)
    c.executemany(
        f"INSERT INTO articles(article_no, {cols}, origin, updated_at) VALUES(?, {', '.join('?' * len(COLUMNS))}, ?, ?) "  # noqa: S608
        f"ON CONFLICT(article_no) DO UPDATE SET {updates}, deleted = 0, updated_at = excluded.updated_at",
        rows,
    )
    return result


def set_stock(c: sqlite3.Connection, items: Iterable[tuple[str, int, object]]) -> None:
    """Set the physical stock of (articleNo, siteId, inStock) triples."""
    c.executemany(
        "INSERT INTO stock(article_no, site_id, in_stock) VALUES(?, ?, ?) "
        "ON CONFLICT(article_no, site_id) DO UPDATE SET in_stock = excluded.in_stock",
        [(no, site, number(qty)) for no, site, qty in items],
    )


def add_stock(c: sqlite3.Connection, article_no: str, site_id: int, *, in_stock: float | Decimal = 0, reserved: float | Decimal = 0) -> None:
    """Move in-stock and reserved figures by a delta (negative to lower)."""
    c.execute(
        "INSERT INTO stock(article_no, site_id, in_stock, reserved) VALUES(?, ?, ?, ?) "
        "ON CONFLICT(article_no, site_id) DO UPDATE SET in_stock = in_stock + excluded.in_stock, "
        "reserved = reserved + excluded.reserved",
        (article_no, site_id, number(in_stock), number(reserved)),
    )


def require(c: sqlite3.Connection, article_nos: Iterable[str]) -> None:
    nos = list(article_nos)
    found = existing(c, nos)
    missing = [no for no in nos if no not in found or found[no]["deleted"]]
    if missing:
        raise NotFound(f"unknown article {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))


# -- changes made inside Specter (hooks) -----------------------------------------------------------


def specter_upsert(store: Store, items: list[dict[str, Any]]) -> dict[str, int]:
    """Articles created or edited in Specter: both feeds, plus stock where ``inStock`` is given."""
    records = [from_json(item) for item in items]
    stock = []
    sites = set()
    for item, record in zip(items, records, strict=True):
        if item.get("inStock") is not None:
            site = int(item.get("stockSiteId") or DEFAULT_SITE_ID)
            sites.add(site)
            stock.append((record["article_no"], site, protocol.parse_decimal(str(item["inStock"]), field="inStock")))
    with store.tx() as c:
        for site in sites:
            store.ensure_site(c, site)
        result = save(c, records, overwrite=True, origin="specter")
        set_stock(c, stock)
        nos = [r["article_no"] for r in records]
        mark_pending(store, c, "stock", nos)
        mark_pending(store, c, "articles", nos)
    return {"created": len(result["created"]), "updated": len(result["updated"])}


def specter_stock(store: Store, items: Sequence[tuple[str, int, float | Decimal]], *, relative: bool = False) -> None:
    """A stock adjustment, sale or goods receipt made in Specter: the stock feed and its callback."""
    with store.tx() as c:
        require(c, [no for no, _site, _qty in items])
        for site in {site for _no, site, _qty in items}:
            store.ensure_site(c, site)
        if relative:
            for no, site, qty in items:
                add_stock(c, no, site, in_stock=qty)
        else:
            set_stock(c, items)
        mark_pending(store, c, "stock", [no for no, _site, _qty in items])


def specter_edit(store: Store, item: dict[str, Any]) -> None:
    """A price or data change made in Specter: the article-data feed."""
    record = from_json(item)
    with store.tx() as c:
        require(c, [record["article_no"]])
        save(c, [record], overwrite=True, origin="specter")
        mark_pending(store, c, "articles", [record["article_no"]])


def specter_remove(store: Store, article_no: str) -> None:
    """An article removed in Specter: the article-data feed reports it with deleted="1"."""
    with store.tx() as c:
        require(c, [article_no])
        c.execute("UPDATE articles SET deleted = 1, updated_at = ? WHERE article_no = ?", (time.time(), article_no))
        mark_pending(store, c, "articles", [article_no])


# -- reads ------------------------------------------------------------------------------------------


def describe(store: Store, article_no: str | None = None) -> list[dict[str, Any]]:
    """Articles with per-site in stock / reserved / available, for the state hooks."""
    where, args = ("WHERE a.article_no = ?", (article_no,)) if article_no else ("", ())
    rows = store.query(
        "SELECT a.*, s.site_id, s.in_stock, s.reserved FROM articles a "
        f"LEFT JOIN stock s ON s.article_no = a.article_no {where} ORDER BY a.id, s.site_id",  # noqa: S608
        args,
    )
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        art = out.get(r["article_no"])
        if art is None:
            art = out[r["article_no"]] = {
                "articleNo": r["article_no"], "specterArticleId": r["id"], "name": r["name"],
                "priceExclVat": r["price"], "vatPercent": r["vat"], "buyPrice": r["buy_price"],
                "barCode": r["bar_code"], "productWeight": r["weight"], "articleGroupNo": r["group_no"],
                "articleGroupName": r["group_name"], "deleted": bool(r["deleted"]), "origin": r["origin"],
                "inStock": 0, "reserved": 0, "available": 0, "sites": {},
            }
        if r["site_id"] is not None:
            in_stock, reserved = r["in_stock"], r["reserved"]
            art["sites"][str(r["site_id"])] = {
                "inStock": in_stock, "reserved": reserved, "available": in_stock - reserved,
            }
            art["inStock"] += in_stock
            art["reserved"] += reserved
            art["available"] += in_stock - reserved
    return list(out.values())
