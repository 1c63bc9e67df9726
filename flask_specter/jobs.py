"""RQ entry points. Each job takes plain ids and runs inside the app context the worker pushes.

The work itself lives in the modules named below; these functions are the stable import paths the
queue stores, so a job enqueued by one release still runs on the next.
"""

from __future__ import annotations

from .extension import get_state

SWEEP_FLAG = "sweep-scheduled"


def pull_feed(feed: str) -> dict:
    from .pulls import run_pull

    return run_pull(feed)


def apply_stock_chunk() -> dict:
    from .stock_apply import run_apply_chunk

    return run_apply_chunk()


def apply_articles() -> dict:
    from .feed_apply import apply_article_rows

    return apply_article_rows()


def apply_order_events() -> dict:
    from .feed_apply import apply_order_events as run

    return run()


def order_removed(order_no: str) -> dict:
    from .feed_apply import cancel_order_from_specter

    return cancel_order_from_specter(order_no)


def invoice_created(order_no: str, invoice_id: str, invoice_source: str | None = None) -> dict:
    from .feed_apply import record_invoice

    return record_invoice(order_no, invoice_id, invoice_source)


def push_outbox(entry_id: int) -> dict:
    from .outbox import push_entry

    return push_entry(entry_id)


def run_export(run_id: int) -> dict:
    from .exports import run_export_page

    return run_export_page(run_id)


def sweep() -> dict:
    """The periodic job: frees its own slot, then sweeps and schedules the next round."""
    get_state().queue.clear_flag(SWEEP_FLAG)
    return start_sweeping()


def start_sweeping() -> dict:
    """Sweep now and keep one sweep scheduled every ``SPECTER_SWEEP_INTERVAL`` (at worker start).

    The flag makes it one schedule however many workers start; if Redis loses it, the next worker
    start (or the flag's expiry) begins a new one.
    """
    result = sweep_now()
    state = get_state()
    interval = float(state.config["SPECTER_SWEEP_INTERVAL"])
    if interval > 0 and state.queue.set_flag(SWEEP_FLAG, interval * 2):
        state.queue.enqueue("flask_specter.jobs.sweep", delay=interval)
    return result


def sweep_now() -> dict:
    """Resume stored stock rows, unconfirmed batches and unsent outbox rows; called at worker start."""
    from sqlalchemy import select

    from .models import Batch
    from .pulls import request_pull
    from .stock_apply import ensure_apply_chain

    state = get_state()
    result = {"stock_chain": ensure_apply_chain()}
    stored = state.db.session.execute(select(Batch.feed).where(Batch.state == "stored").distinct()).scalars().all()
    for feed in stored:
        request_pull(feed)
    result["unconfirmed_feeds"] = list(stored)
    from .outbox import sweep_outbox

    result["outbox"] = sweep_outbox()
    state.db.session.commit()
    return result
