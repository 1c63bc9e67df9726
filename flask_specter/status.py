"""One read of the connector's health, for ``flask specter status`` and the admin's sync page."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from .inbound.callback_log import refused_warnings
from .models import Batch, FeedState, OutboxEntry, RefusedRow, StockRow, UnexplainedStock
from .state import get_state


@dataclass
class Status:
    feeds: list[FeedState] = field(default_factory=list)
    stock_rows: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)
    last_batches: list[Batch] = field(default_factory=list)
    queue: str = ""
    refused: int = 0  # rows from Specter that could not be stored (see the admin's status page)
    unexplained_stock: int = 0  # the shop's stock changes no order explained (see the admin's status page)
    refused_calls: list[Any] = field(default_factory=list)  # callback_log.CallbackView, latest call refused
    embedded: bool = True
    workers: list[str] = field(default_factory=list)  # live RQ workers on the Redis queue
    waiting_jobs: int = 0  # jobs queued or scheduled on the Redis queue
    redis_error: str = ""  # Redis did not answer (the exception's name)

    @property
    def no_worker(self) -> bool:
        """On Redis, and no live worker listens (or Redis does not answer): nothing queued runs."""
        return not self.embedded and (bool(self.redis_error) or not self.workers)

    @property
    def worker_alarm(self) -> str:
        """The loud warning of a Redis queue without a worker, in English ("" when a worker runs)."""
        if self.embedded:
            return ""
        if self.redis_error:
            return f"Redis does not answer ({self.redis_error}): callbacks from Specter cannot be queued and no job runs."
        if self.workers:
            return ""
        start = "start `flask specter worker` with the same Redis URL and SPECTER_QUEUE_NAME."
        if self.waiting_jobs:
            return f"{self.waiting_jobs} job(s) wait on the Redis queue and NO WORKER is alive to run them: {start}"
        return f"no worker is alive on the Redis queue: jobs queued from now on wait; {start}"

    @property
    def stock_remaining(self) -> int:
        return self.stock_rows.get("pending", 0)

    def lines(self) -> list[str]:
        out = [f"queue: {self.queue}"]
        if not self.embedded and not self.redis_error:
            out[0] += f" ({len(self.workers)} worker(s){': ' + ', '.join(self.workers) if self.workers else ''}; {self.waiting_jobs} job(s) waiting)"
        if self.worker_alarm:
            out.append(f"WARNING: {self.worker_alarm}")
        for f in self.feeds:
            locked = f.locked_until and f.locked_until > time.time()
            out.append(
                f"feed {f.feed}: last success {f.last_success_at or 'never'}"
                + (" (pull running)" if locked else "")
                + (f"; last error: {f.last_error}" if f.last_error else "")
            )
        out.append("stock rows: " + (", ".join(f"{k} {v}" for k, v in sorted(self.stock_rows.items())) or "none"))
        out.append("outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(self.outbox.items())) or "empty"))
        if self.refused:
            out.append(f"refused rows from Specter: {self.refused} (listed on the admin's Synkstatus page)")
        if self.unexplained_stock:
            out.append(f"stock changes in the shop that no order explains: {self.unexplained_stock} (listed on the admin's Synkstatus page)")
        for view in self.refused_calls:
            out.append(f"WARNING: Specter's call to {view.route} refused at {view.refused_at:%Y-%m-%d %H:%M:%S} UTC: {view.reason}")
        return out


def collect_status() -> Status:
    state = get_state()
    session = state.db.session
    st = Status()
    st.feeds = list(session.execute(select(FeedState).order_by(FeedState.feed)).scalars())
    st.stock_rows = dict(session.execute(select(StockRow.state, func.count()).group_by(StockRow.state)).all())
    st.outbox = dict(session.execute(select(OutboxEntry.state, func.count()).group_by(OutboxEntry.state)).all())
    st.last_batches = list(session.execute(select(Batch).order_by(Batch.id.desc()).limit(20)).scalars())
    st.refused = session.execute(select(func.count(RefusedRow.id))).scalar() or 0
    st.unexplained_stock = session.execute(select(func.count(UnexplainedStock.id))).scalar() or 0
    st.queue = "embedded (in-process)" if state.queue.embedded else f"redis queue {state.queue.name!r}"
    st.refused_calls = refused_warnings(session)
    st.embedded = state.queue.embedded
    if not st.embedded:
        try:
            st.workers = state.queue.live_workers()
            st.waiting_jobs = state.queue.waiting_jobs()
        except Exception as exc:  # the status must show, Redis or not
            st.redis_error = type(exc).__name__
    return st
