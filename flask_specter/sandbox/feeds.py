"""The three change feeds (stock, article data, orders) and their batch state machine (contract §4, §8).

Pending items are article numbers (stock, articles) or order numbers (orders). A fetch with a fresh
batchNo freezes up to responseMaxLimit pending items, with their values at that moment, into one open
batch; a change made afterwards queues the item again for the next batch.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from ..remote import protocol
from .store import Store
from .wire import ApiError, attr, fmt_decimal, fmt_number, x

OPEN, CONFIRMED, DISCARDED, EMPTY = "open", "confirmed", "discarded", "empty"
CALLBACK = {name: feed.callback_param for name, feed in protocol.FEEDS.items()}


def mark_pending(store: Store, conn: sqlite3.Connection, feed: str, items: Iterable[object], *, signal: bool = True) -> int:
    """Queue items on a feed (an item already pending keeps its place) and ask for the feed's callback."""
    rows = [(feed, str(item)) for item in items]
    if not rows:
        return 0
    conn.executemany("INSERT OR IGNORE INTO pending(feed, item) VALUES(?, ?)", rows)
    if signal:
        store.signal(CALLBACK[feed])
    return len(rows)


def check_batch_no(batch_no: str) -> None:
    if not protocol.BATCH_NO_RE.match(batch_no or ""):
        raise ApiError(protocol.ERR_INVALID_FIELD, f"batchNo '{batch_no}' must be 32 lower-case hex characters")


def _open_batch(conn: sqlite3.Connection, feed: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM batches WHERE feed = ? AND state = ?", (feed, OPEN)).fetchone()
    return row


def open_batch_error(open_no: str) -> ApiError:
    return ApiError(
        protocol.ERR_OPEN_BATCH,
        f"Batch '{open_no}' is still open: fetch it again with that batchNo and confirm it",
    )


def fetch(store: Store, feed: str, batch_no: str, limit: int) -> tuple[dict[str, Any], bool]:
    """The content of ``batch_no`` (frozen now if new) and whether more is pending after it."""
    check_batch_no(batch_no)
    with store.tx() as c:
        current = _open_batch(c, feed)
        if current is not None:
            if current["batch_no"] != batch_no:
                raise open_batch_error(current["batch_no"])
            payload = json.loads(current["payload"])
        else:
            known = c.execute(
                "SELECT state FROM batches WHERE feed = ? AND batch_no = ?", (feed, batch_no)
            ).fetchone()
            if known is not None and known["state"] in (CONFIRMED, DISCARDED):
                payload = {"items": [], "sites": _sites(c)}  # a closed batch is never reopened
            else:
                payload = _freeze(c, feed, batch_no, limit)
        more = c.execute("SELECT 1 FROM pending WHERE feed = ? LIMIT 1", (feed,)).fetchone() is not None
    return payload, more


def _freeze(c: sqlite3.Connection, feed: str, batch_no: str, limit: int) -> dict[str, Any]:
    head = c.execute(
        "SELECT seq, item FROM pending WHERE feed = ? ORDER BY seq LIMIT ?", (feed, limit)
    ).fetchall()
    if not head:
        c.execute(
            "INSERT OR IGNORE INTO batches(feed, batch_no, state, created_at) VALUES(?, ?, ?, ?)",
            (feed, batch_no, EMPTY, time.time()),
        )
        return {"items": [], "sites": _sites(c)}
    payload = SNAPSHOT[feed](c, head[-1]["seq"])
    c.execute("DELETE FROM pending WHERE feed = ? AND seq <= ?", (feed, head[-1]["seq"]))
    # Items that vanished meanwhile (a removed article's stock) can leave nothing to deliver.
    state = OPEN if payload["items"] else EMPTY
    c.execute(
        "INSERT OR REPLACE INTO batches(feed, batch_no, state, size, payload, created_at) VALUES(?, ?, ?, ?, ?, ?)",
        (feed, batch_no, state, len(payload["items"]), json.dumps(payload) if payload["items"] else None, time.time()),
    )
    return payload


def _sites(c: sqlite3.Connection) -> list[tuple[int, str]]:
    return [(r["id"], r["name"]) for r in c.execute("SELECT id, name FROM sites ORDER BY id")]


def _stock_snapshot(c: sqlite3.Connection, last_seq: int) -> dict[str, Any]:
    sites = _sites(c)
    index = {site_id: i for i, (site_id, _name) in enumerate(sites)}
    items: dict[str, list[Any]] = {}
    rows = c.execute(
        "SELECT a.id, a.article_no, s.site_id, s.in_stock, s.reserved FROM pending p "
        "JOIN articles a ON a.article_no = p.item AND a.deleted = 0 "
        "LEFT JOIN stock s ON s.article_no = a.article_no "
        "WHERE p.feed = 'stock' AND p.seq <= ? ORDER BY p.seq",
        (last_seq,),
    )
    for r in rows:
        entry = items.get(r["article_no"])
        if entry is None:
            entry = items[r["article_no"]] = [r["id"], r["article_no"], [[0, 0] for _ in sites]]
        if r["site_id"] in index:
            entry[2][index[r["site_id"]]] = [r["in_stock"], r["reserved"]]
    return {"sites": sites, "items": list(items.values())}


def _article_snapshot(c: sqlite3.Connection, last_seq: int) -> dict[str, Any]:
    rows = c.execute(
        "SELECT a.* FROM pending p JOIN articles a ON a.article_no = p.item "
        "WHERE p.feed = 'articles' AND p.seq <= ? ORDER BY p.seq",
        (last_seq,),
    )
    keys = ("article_no", "name", "price", "buy_price", "bar_code", "weight", "vat", "group_no", "group_name", "deleted")
    return {"items": [[r[k] for k in keys] for r in rows]}


def _order_snapshot(c: sqlite3.Connection, last_seq: int) -> dict[str, Any]:
    rows = c.execute(
        "SELECT o.* FROM pending p JOIN orders o ON o.order_no = CAST(p.item AS INTEGER) "
        "WHERE p.feed = 'orders' AND p.seq <= ? ORDER BY p.seq",
        (last_seq,),
    )
    return {
        "items": [
            [r["order_no"], r["external_order_no"], r["status_id"], r["delivery_status"],
             r["deliveries_updated"], json.loads(r["deliveries"])]
            for r in rows
        ]
    }


SNAPSHOT = {"stock": _stock_snapshot, "articles": _article_snapshot, "orders": _order_snapshot}


def confirm(store: Store, feed: str, batch_no: str) -> None:
    """Close the open batch; confirming a closed or empty batch again succeeds (idempotent)."""
    check_batch_no(batch_no)
    with store.tx() as c:
        row = c.execute("SELECT state FROM batches WHERE feed = ? AND batch_no = ?", (feed, batch_no)).fetchone()
        if row is not None:
            if row["state"] == OPEN:
                c.execute(
                    "UPDATE batches SET state = ?, payload = NULL, closed_at = ? WHERE feed = ? AND batch_no = ?",
                    (CONFIRMED, time.time(), feed, batch_no),
                )
            return
        current = _open_batch(c, feed)
        if current is not None:
            raise open_batch_error(current["batch_no"])
        raise ApiError(protocol.ERR_INVALID_FIELD, f"batchNo '{batch_no}' is not an open batch")


def clear_stock(store: Store, batch_no: str) -> int:
    """clearArticleBatch: discard the open stock batch and queue every article's stock again."""
    check_batch_no(batch_no)
    with store.tx() as c:
        c.execute(
            "UPDATE batches SET state = ?, payload = NULL, closed_at = ? WHERE feed = 'stock' AND state = ?",
            (DISCARDED, time.time(), OPEN),
        )
        return queue_all(store, c, "stock")


def queue_all(store: Store, c: sqlite3.Connection, feed: str) -> int:
    """Queue every live article on ``feed`` (full refresh); returns the pending count."""
    c.execute(
        "INSERT OR IGNORE INTO pending(feed, item) SELECT ?, article_no FROM articles WHERE deleted = 0 ORDER BY id",
        (feed,),
    )
    store.signal(CALLBACK[feed])
    count: int = c.execute("SELECT COUNT(*) FROM pending WHERE feed = ?", (feed,)).fetchone()[0]
    return count


def status(store: Store) -> dict[str, Any]:
    """Per feed: pending count, open batch and the batches closed so far (for /_sandbox/state)."""
    out: dict[str, Any] = {}
    for feed in protocol.FEEDS:
        pending = store.query("SELECT COUNT(*) AS n FROM pending WHERE feed = ?", (feed,))[0]["n"]
        batches = store.query(
            "SELECT batch_no, state, size FROM batches WHERE feed = ? ORDER BY created_at", (feed,)
        )
        open_rows = [b for b in batches if b["state"] == OPEN]
        out[feed] = {
            "pending": pending,
            "openBatch": open_rows[0]["batch_no"] if open_rows else None,
            "openBatchSize": open_rows[0]["size"] if open_rows else 0,
            "confirmed": [b["batch_no"] for b in batches if b["state"] == CONFIRMED],
            "discarded": [b["batch_no"] for b in batches if b["state"] == DISCARDED],
            "empty": [b["batch_no"] for b in batches if b["state"] == EMPTY],
        }
    return out


# -- rendering ------------------------------------------------------------------------------------


def _available(in_stock: float, reserved: float) -> float:
    return in_stock - reserved


def stock_text(payload: dict[str, Any], batch_no: str) -> str:
    """Text rows ``specterArticleId;articleNo;available;batchNo`` separated by CR."""
    rows = []
    for art_id, article_no, per_site in payload["items"]:
        available = sum(_available(i, r) for i, r in per_site)
        figure = fmt_number(available) if available > 0 else protocol.NO_ITEMS_AVAILABLE
        rows.append(f"{art_id};{article_no};{figure};{batch_no}")
    return "\r".join(rows)


def _stock_article(article_no: str, in_stock: float, reserved: float) -> str:
    return (
        f"<article><articleNo>{x(article_no)}</articleNo>"
        f"<noItemsAv>{fmt_number(_available(in_stock, reserved))}</noItemsAv>"
        f"<noItemsInStock>{fmt_number(in_stock)}</noItemsInStock></article>"
    )


def stock_xml(payload: dict[str, Any], multiple_sites: bool) -> str:
    items = payload["items"]
    if not multiple_sites:
        body = "".join(
            _stock_article(no, sum(i for i, _r in per), sum(r for _i, r in per)) for _id, no, per in items
        )
        return f"<stockChanges><stock><articles>{body}</articles></stock></stockChanges>"
    parts = []
    for idx, (site_id, name) in enumerate(payload.get("sites", [])):
        body = "".join(_stock_article(no, *per[idx]) for _id, no, per in items)
        parts.append(f"<stock stockSiteId={attr(site_id)} name={attr(name)}><articles>{body}</articles></stock>")
    return f"<stockChanges>{''.join(parts)}</stockChanges>"


def articles_xml(payload: dict[str, Any]) -> str:
    out = []
    for no, name, price, buy, bar, weight, vat, group_no, group_name, deleted in payload["items"]:
        flag = ' deleted="1"' if deleted else ""
        out.append(
            f"<article priceExclVat={attr(fmt_decimal(price))} buyPrice={attr(fmt_decimal(buy))} "
            f"barCode={attr(bar)} productWeight={attr(fmt_decimal(weight, 3))} vatPercent={attr(fmt_number(vat))}"
            f"{flag}>"
            f"<articleNo>{x(no)}</articleNo><name>{x(name)}</name>"
            f"<articleGroupNo>{x(group_no)}</articleGroupNo><articleGroupName>{x(group_name)}</articleGroupName>"
            "</article>"
        )
    return f"<articles>{''.join(out)}</articles>"


def orders_xml(payload: dict[str, Any]) -> str:
    out = []
    for order_no, external, status_id, delivery_status, updated, deliveries in payload["items"]:
        tracking = "".join(f"<delivery trackingNo={attr(d)}/>" for d in deliveries)
        out.append(
            f"<order orderNo={attr(order_no)} externalOrderNo={attr(external)}>"
            f"<orderstatus statusId={attr(status_id)} deliveryStatus={attr(delivery_status)}/>"
            f"<deliveries updated={attr(1 if updated else 0)}>{tracking}</deliveries></order>"
        )
    return f"<orders>{''.join(out)}</orders>"
