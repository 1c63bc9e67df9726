"""RQ entry points. Each job takes plain ids and runs inside the app context the worker pushes.

The work itself lives in the modules named below; these functions are the stable import paths the
queue stores, so a job enqueued by one release still runs on the next.
"""

from __future__ import annotations

from .extension import get_state


def pull_feed(feed: str) -> dict:
    from .inbound.pulls import run_pull

    return run_pull(feed)


def apply_stock_chunk() -> dict:
    from .inbound.stock_apply import run_apply_chunk

    return run_apply_chunk()


def apply_articles() -> dict:
    from .inbound.feed_apply import ARTICLES_FLAG, apply_article_rows

    get_state().queue.clear_flag(ARTICLES_FLAG)  # a row stored from now on queues one more job
    return apply_article_rows()


def apply_order_events() -> dict:
    from .inbound.feed_apply import ORDERS_FLAG
    from .inbound.feed_apply import apply_order_events as run

    get_state().queue.clear_flag(ORDERS_FLAG)
    return run()


def order_removed(order_no: str) -> dict:
    from .inbound.feed_apply import cancel_order_from_specter

    return cancel_order_from_specter(order_no)


def invoice_created(order_no: str, invoice_id: str, invoice_source: str | None = None) -> dict:
    from .inbound.feed_apply import record_invoice

    return record_invoice(order_no, invoice_id, invoice_source)


def push_outbox(entry_id: int) -> dict:
    from .outbound.relay import push_entry

    return push_entry(entry_id)


def run_export(run_id: int) -> dict:
    from .outbound.bulk_exports import run_export_page

    return run_export_page(run_id)


def sweep() -> dict:
    """The periodic sweep (run every ``SPECTER_SWEEP_INTERVAL`` by the worker's scheduler)."""
    return sweep_now()


def poll_feeds() -> dict:
    """The catch-up pull (every ``SPECTER_POLL_INTERVAL``): changes whose callback never arrived.

    It goes through ``request_pull`` like a callback, so it coalesces with one and takes the feed's lock.
    """
    from .inbound.pulls import request_pull
    from .remote import protocol

    return {feed: request_pull(feed) for feed in protocol.FEEDS}


def sweep_now() -> dict:
    """Resume everything stored and not finished: stock, article and order rows, unconfirmed batches, the outbox.

    Run at worker start, by the periodic sweep, and when a worker takes over a dead one's scheduler.
    """
    from sqlalchemy import select

    from .inbound.feed_apply import ensure_article_apply, ensure_order_apply
    from .inbound.pulls import request_pull
    from .inbound.stock_apply import ensure_apply_chain
    from .models import Batch
    from .outbound.relay import sweep_outbox

    state = get_state()
    result = {"stock_chain": ensure_apply_chain(), "articles": ensure_article_apply(), "order_events": ensure_order_apply()}
    stored = state.db.session.execute(select(Batch.feed).where(Batch.state == "stored").distinct()).scalars().all()
    for feed in stored:
        request_pull(feed)
    result["unconfirmed_feeds"] = list(stored)
    result["outbox"] = sweep_outbox()
    state.db.session.commit()
    return result
