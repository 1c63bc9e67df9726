"""What keeps stored work moving when no callback or commit does: the sweep and the catch-up pull.

``sweep_now`` runs when a worker starts; the scheduler holding the lock runs ``sweep`` every
``SPECTER_SWEEP_INTERVAL`` and ``poll_feeds`` every ``SPECTER_POLL_INTERVAL`` seconds (the extension
hands them to the queue: ``SpecterQueue.maintain``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .inbound.articles import ensure_article_apply
from .inbound.order_events import ensure_order_apply
from .inbound.pulls import request_pull
from .inbound.stock_apply import ensure_apply_chain
from .models import Batch
from .outbound.orphans import release_orphans
from .outbound.relay import sweep_outbox
from .queue import job
from .remote import protocol
from .state import get_state


def sweep_now() -> dict[str, Any]:
    """Resume everything stored and not finished: stock, article and order rows, unconfirmed batches, the outbox.

    Run at worker start, by the periodic sweep, and when a worker takes over a dead one's scheduler.
    """
    state = get_state()
    result: dict[str, Any] = {"stock_chain": ensure_apply_chain(), "articles": ensure_article_apply(), "order_events": ensure_order_apply()}
    stored = state.db.session.execute(select(Batch.feed).where(Batch.state == "stored").distinct()).scalars().all()
    for feed in stored:
        request_pull(feed)
    result["unconfirmed_feeds"] = list(stored)
    result["orphaned_claims"] = release_orphans()  # a dead sender's rows: now, not when its lease ends
    result["outbox"] = sweep_outbox()
    state.db.session.commit()
    return result


@job
def sweep() -> dict[str, Any]:
    """The periodic sweep (every ``SPECTER_SWEEP_INTERVAL``, and once when a scheduler takes over)."""
    return sweep_now()


@job
def poll_feeds() -> dict[str, bool]:
    """The catch-up pull (every ``SPECTER_POLL_INTERVAL``): changes whose callback never arrived.

    It goes through ``request_pull`` like a callback, so it coalesces with one and takes the feed's lock.
    """
    return {feed: request_pull(feed) for feed in protocol.FEEDS}
