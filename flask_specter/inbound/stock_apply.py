"""Apply stored stock rows to the shop in chunks: at most SPECTER_STOCK_BATCH_SIZE rows a chunk, and
SPECTER_STOCK_BATCH_DELAY seconds between two chunks, as the seed describes.

With a delay of 0 one job goes on with the next chunk itself (a job per 100 rows cost more than the rows:
RQ's fetch, and a forked work horse per job with ``flask specter worker``), until no row waits, stock sync
is switched off, or ``CHAIN_BUDGET`` seconds are spent: then a fresh job takes over, so no job holds a
worker near its timeout. With a delay, the next chunk is a job scheduled after it (no worker sleeps).

Each chunk is one transaction (``stock_chunk.ChunkWriter``); after its commit ``signals.stock_changed``
carries each changed SKU's (old, new) stock: the UPDATE bypasses the ORM, so the host's attribute and
mapper events never see these writes and the signal is how a host clears its caches. Two workers never
apply the same chunk, and a worker killed inside a chunk leaves nothing half done: its transaction rolls
back and the rows are pending again for the next job. The shop publishes Specter's available figure minus
the quantities of its own orders that the figure does not include yet (``stock.settle_reservations``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .. import signals
from ..backoff import backoff_delay
from ..queue import job
from ..sqlite import is_tuned, redoable_writes
from ..state import get_state
from .stock_chunk import AnyRow, ChunkWriter, has_pending
from .stock_sqlite import ReadFirstChunks

log = logging.getLogger("flask_specter.stock")

CHAIN_FLAG = "apply-chain"
FAILURES_KEY = "apply-chain-failures"  # chunks failed in a row: the back-off before the next try
CHAIN_BUDGET = 20.0  # seconds one job applies chunks back to back before a fresh job takes over (RQ's timeout: 180 s)
LOCKED_PAUSE = 1.0  # seconds before looking again when every waiting row is in another worker's open chunk


def ensure_apply_chain(*, delay: float = 0) -> bool:
    """Start the chunk chain unless one is already scheduled; True when this call started it."""
    state = get_state()
    if not has_pending():
        return False
    ttl = float(state.config["SPECTER_STOCK_BATCH_DELAY"]) + float(state.config["SPECTER_LEASE_SECONDS"])
    return run_apply_chunk.enqueue_once(CHAIN_FLAG, ttl=ttl, delay=delay, queue=state.queue)


def claim_chunk(size: int) -> list[AnyRow]:
    """Claim the next ``size`` pending rows inside the current transaction (``ChunkWriter.claim``; the caller commits)."""
    return ChunkWriter().claim(size)


@job
def run_apply_chunk() -> dict[str, Any]:
    """The apply job: chunks back to back while the delay is 0 (see ``_apply_next_chunk``), else one chunk
    and the next job scheduled after the delay.

    A chunk that fails (the database restarted, its connection was cut) wrote nothing: its transaction
    rolled back (the chunks before it stay applied). The chain is then started again after a back-off,
    so its rows are applied as soon as the database answers, not only at the next pull or sweep; the
    error still fails the job (RQ keeps it).
    """
    state = get_state()
    state.queue.clear_flag(CHAIN_FLAG)  # rows stored from now on queue one more job: this one may have looked already
    try:
        with redoable_writes():  # SQLite: no fsync per chunk; a chunk a power cut undoes is pending again
            result = _apply_next_chunk(state)
    except Exception:
        _resume_after_failure(state)
        raise
    state.queue.clear_flag(FAILURES_KEY)
    return result


def _resume_after_failure(state: Any) -> None:
    """Schedule the chain again, later each time it fails in a row (up to SPECTER_RETRY_BACKOFF_MAX)."""
    session = state.db.session
    failures = state.queue.count(FAILURES_KEY, ttl=float(state.config["SPECTER_LEASE_SECONDS"]) * 10)
    delay = max(float(state.config["SPECTER_STOCK_BATCH_DELAY"]), backoff_delay(failures, state.config))
    try:
        session.rollback()  # the failed transaction; a dead connection is replaced on the next use
        ensure_apply_chain(delay=delay)
    except Exception as exc:  # the database is still away: the sweep resumes the rows once it is back
        session.rollback()
        log.warning("stock chunk failed and could not be rescheduled (%s); the sweep resumes it", type(exc).__name__)


def _apply_next_chunk(state: Any) -> dict[str, Any]:
    """Apply the next chunk, and the ones after it until no row waits; hand over to a new job when the
    delay is set or the budget is spent.

    Each chunk is its own transaction; stock sync switched off between two chunks stops the chain.
    Returns the job's totals and whether rows remain.
    """
    delay = float(state.config["SPECTER_STOCK_BATCH_DELAY"])
    size = max(1, int(state.config["SPECTER_STOCK_BATCH_SIZE"]))
    ends_at = time.monotonic() + CHAIN_BUDGET
    writer = open_writer()  # the chunk statements, built once for the whole job
    totals: dict[str, Any] = {"rows": 0, "changed": 0, "unknown": 0, "chunks": 0}
    try:
        while True:
            chunk = _one_chunk(state, size, writer)
            if chunk is None:
                return {**totals, "skipped": "stock sync is off"}
            totals["chunks"] += 1 if chunk["rows"] else 0
            for key in ("rows", "changed", "unknown"):
                totals[key] += chunk[key]
            totals["remaining"] = chunk["remaining"]
            if not chunk["remaining"]:
                if totals["rows"]:  # this job applied the last of the waiting rows
                    signals.stock_batch_applied.send(state.app)
                return totals
            if not chunk["rows"]:  # every waiting row is in another worker's open chunk: look again shortly
                ensure_apply_chain(delay=max(delay, LOCKED_PAUSE))
                return totals
            if delay > 0 or time.monotonic() >= ends_at:
                ensure_apply_chain(delay=delay)
                return totals
    finally:
        writer.close()


def open_writer() -> ChunkWriter:
    """The job's chunk writer: on PostgreSQL (psycopg) its statements pipelined over a connection of its
    own; on SQLite (with ``sqlite.tune_sqlite``'s transactions) each chunk read before its write lock."""
    engine = get_state().db.session.get_bind()
    if engine.dialect.driver == "psycopg":
        from .stock_pipeline import PipelinedChunks  # psycopg is installed only with PostgreSQL

        return PipelinedChunks()
    if is_tuned(engine):
        return ReadFirstChunks()
    return ChunkWriter()


def _one_chunk(state: Any, size: int, writer: ChunkWriter) -> dict[str, Any] | None:
    """Claim and apply one chunk (its own transaction); None when stock sync is off.
    ``signals.stock_chunk_applied`` when it had rows."""
    on, rows = writer.take(size)
    if not on:
        writer.release()
        return None
    pause = float(state.config.get("SPECTER_DEBUG_PAUSE_IN_CHUNK") or 0)
    if rows and pause:  # fault tests: hold a chunk open, say so, so a worker can be killed inside it
        state.queue.set_flag("debug-in-chunk", pause)
        time.sleep(pause)
    if rows:
        counts = writer.write(rows)
    else:
        writer.release()
        counts = {"rows": 0, "changed": 0, "unknown": 0}
    # A full chunk: the next claim will tell whether more wait (a look per chunk cost a round trip).
    result: dict[str, Any] = {**counts, "remaining": len(rows) >= size or writer.more_waiting()}
    if rows:
        signals.stock_chunk_applied.send(state.app, **result)
    return result
