"""Claims whose sender is gone: given back at once, and the sweep that queues a drain for them.

Each claim's token is noted in Redis with the RQ job that took it (``note_holder``). A drain that
starts, and the sweep, look at the rows being sent under a lease that has not ended: when RQ knows the
job holding them runs nowhere (it failed on a database error, or its worker or work horse was killed:
``holders.holder_gone``), the rows are pending again now, not after ``SPECTER_LEASE_SECONDS``. A note
that is missing (Redis flushed) or a holder RQ cannot judge leaves the claim to its lease, as before:
a row is never taken from a sender that may still be sending it.
"""

from __future__ import annotations

import logging

from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select, update

from ..dbclock import db_epoch
from ..holders import holder_gone
from ..models import OutboxEntry
from ..state import get_state

log = logging.getLogger("flask_specter.outbox")


def _key(token: str) -> str:
    return f"claim-holder:{token}"


def note_holder(token: str) -> None:
    """Note which RQ job holds the claim ``token`` (for as long as the lease, and a minute more)."""
    job = get_current_job()
    if job is None:
        return  # claimed outside a job (a request, a CLI command): judged by its lease alone
    state = get_state()
    ttl = float(state.config["SPECTER_LEASE_SECONDS"]) + 60.0
    try:
        state.queue.connection.set(state.queue._key(_key(token)), job.id, px=max(1, int(ttl * 1000)))
    except Exception as exc:
        log.debug("claim holder not noted (%s): the claim ends with its lease", type(exc).__name__)


def _gone(token: str) -> bool:
    """The job that took ``token`` is known and runs nowhere (finished, failed, its worker or horse dead)."""
    queue = get_state().queue
    try:
        holder = queue.connection.get(queue._key(_key(token)))
        if holder is None:
            return False
        job_id = holder.decode() if isinstance(holder, bytes) else str(holder)
        try:
            Job.fetch(job_id, connection=queue.connection)
        except NoSuchJobError:
            return True  # its note outlived it: the job ended (results are not kept) without finishing the rows
    except Exception:
        return False
    return holder_gone(job_id)


def release_orphans() -> int:
    """Rows being sent by a job that no longer runs: pending again, at once; how many (committed)."""
    session = get_state().db.session
    tokens = session.execute(
        select(OutboxEntry.claim_token).where(OutboxEntry.state == "sending", OutboxEntry.claimed_until >= db_epoch()).distinct()
    ).scalars().all()
    session.commit()
    released = 0
    for token in tokens:
        if token is None or not _gone(token):
            continue
        result = session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.state == "sending", OutboxEntry.claim_token == token)
            .values(state="pending", claim_token=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        released += int(result.rowcount)
    if released:
        log.warning("outbox: %d row(s) whose sender no longer runs are pending again", released)
    return released
