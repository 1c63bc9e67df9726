"""Apply what the article-data feed stored ("Importera produkter från Specter", "Importera endast pris").

Rows are applied inside ``suppress_outbox()``: article data from Specter is never sent back to it.
Service articles (shipping, discount) are skipped: they are never products for sale. After each round's
commit, ``signals.products_imported`` names the products it changed (SKUs, primary keys, outcomes).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, select

from .. import signals
from ..models import ArticleRow
from ..origin import suppress_outbox
from ..queue import job
from ..remote.parsing import ArticleInfo
from ..service_articles import forget_service_article, service_article_nos
from ..state import get_state
from ..stock import connector_stock_write
from .feed_rows import enqueue_apply, has_pending_rows

log = logging.getLogger("flask_specter.feeds")

ARTICLES_FLAG = "apply-articles-queued"
CHANGED = frozenset({"created", "updated", "price", "deactivated"})  # outcomes of apply_article that changed a product


@job
def apply_articles() -> dict[str, int]:
    """The job: apply stored article rows (a row stored from its start on queues one more job)."""
    get_state().queue.clear_flag(ARTICLES_FLAG)
    return apply_article_rows()


def ensure_article_apply() -> bool:
    """Queue an apply of stored article rows (the sweep and the follow-up of a full round)."""
    return enqueue_apply(ArticleRow, ARTICLES_FLAG, apply_articles)


def has_pending_articles() -> bool:
    return has_pending_rows(ArticleRow)


def _info(sku: str, data: dict[str, Any]) -> ArticleInfo:
    def dec(key: str) -> Decimal | None:
        return None if data.get(key) is None else Decimal(data[key])

    return ArticleInfo(
        article_no=sku,
        name=data.get("name"),
        price_excl_vat=dec("price_excl_vat"),
        buy_price=dec("buy_price"),
        bar_code=data.get("bar_code"),
        weight=dec("weight"),
        vat_percent=dec("vat_percent"),
        group_no=data.get("group_no"),
        group_name=data.get("group_name"),
        deleted=bool(data.get("deleted")),
    )


def apply_article_rows(limit: int = 500, *, follow_up: bool = True) -> dict[str, Any]:
    """Apply stored article rows; with importing off they are kept as 'skipped' for the record.

    At most ``limit`` rows; with more waiting, a follow-up job is queued (unless ``follow_up`` is off:
    a CLI command loops itself). Rows another worker is applying are skipped (PostgreSQL).
    """
    state = get_state()
    session = state.db.session
    options = state.settings.all()
    counts: dict[str, int] = {}
    changed: dict[str, tuple[str, Any]] = {}  # sku -> (outcome, product id): sent with ``products_imported``
    service = service_article_nos()
    pending = select(ArticleRow).where(ArticleRow.state == "pending").order_by(ArticleRow.id).limit(limit)
    rows = session.execute(pending.with_for_update(skip_locked=True)).scalars().all()
    for row in rows:
        if row.sku in service:
            _skip_service_article(row, service[row.sku])
        elif not options["import_products"]:
            row.state, row.detail = "skipped", "Importera produkter från Specter is off"
        else:
            try:
                # Marked as Specter's own data (no echo back to Specter); the savepoint ends, and flushes,
                # while the marks are still being made, so no flush ever sees these changes unmarked.
                with suppress_outbox(), connector_stock_write(), session.begin_nested():
                    outcome = state.adapter.apply_article(_info(row.sku, row.data), options)
                row.state, row.detail = "applied", outcome
                if outcome in CHANGED:
                    changed[row.sku] = (outcome, _product_id(state.adapter.get_product(row.sku)))
            except Exception as exc:  # one bad article must not block the others
                log.warning("article %s could not be applied: %s", row.sku, exc)
                row.state, row.detail = "failed", str(exc)[:255]
        counts[row.detail if row.state == "applied" else row.state] = counts.get(row.detail if row.state == "applied" else row.state, 0) + 1
    session.commit()
    if changed:
        signals.notify(
            signals.products_imported, state.app,
            skus=list(changed), product_ids=[pid for _, pid in changed.values()], outcomes={sku: outcome for sku, (outcome, _) in changed.items()},
        )
    if follow_up and len(rows) == limit:
        ensure_article_apply()
    return counts


def _product_id(product: Any) -> Any:
    """The primary key of a mapped product (one value, or a tuple for a composite key); None otherwise."""
    mapped = inspect(product, raiseerr=False) if product is not None else None
    identity = getattr(mapped, "identity", None)
    if not identity:
        return None
    return identity[0] if len(identity) == 1 else identity


def _skip_service_article(row: ArticleRow, label: str) -> None:
    """Shipping and discount articles exist in Specter for order rows only: never a product for sale."""
    row.state, row.detail = "skipped", f"serviceartikel ({label.lower()}): används bara på orderrader, blir ingen produkt"
    if (row.data or {}).get("deleted"):
        forget_service_article(row.sku)
