"""Who holds a lease, and whether RQ knows that holder is gone: then the lease is taken over at once.

A lease (a feed's pull lock) names the RQ job that took it. When that job is not running any more (it
failed, or waits for its retry after the database went away, so its own release could not be written)
or the worker running it is dead (its process gone on this host, its key expired in Redis, or it runs
another job: its work horse was killed), nobody
will ever renew or release the lease: the next pull takes it over instead of waiting out
``SPECTER_LEASE_SECONDS``. What RQ cannot tell (Redis does not answer, the job is unknown after a
flush) counts as alive: the lease then ends by its time, as before.
"""

from __future__ import annotations

import logging
import socket
import uuid

from rq import Worker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from .queue.scheduler import pid_alive
from .state import get_state

log = logging.getLogger("flask_specter.holders")


def lease_owner() -> str:
    """The name a lease is taken under: the running RQ job's id (its retry takes its own lease back), else a fresh one."""
    job = get_current_job()
    return job.id if job is not None else f"x-{uuid.uuid4().hex}"


def holder_gone(owner: str | None) -> bool:
    """True only when RQ knows the job named ``owner`` runs nowhere: not started, or its worker is dead."""
    if not owner or owner.startswith("x-"):
        return False
    connection = get_state().queue.connection
    try:
        job = Job.fetch(owner, connection=connection)
        if job.get_status(refresh=False) != JobStatus.STARTED:
            return True
        name = job.worker_name
        if not name:
            return False
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)
    except NoSuchJobError:
        return False
    except Exception as exc:  # Redis does not answer: let the lease run out
        log.debug("lease holder %s not looked up: %s", owner, type(exc).__name__)
        return False
    if worker is None:
        return True  # its key expired: RQ has forgotten the worker
    if worker.hostname == socket.gethostname() and worker.pid and not pid_alive(worker.pid):
        return True  # its process is gone (killed): on this host we know at once
    return worker.get_current_job_id() != owner  # the worker lives but runs another job (or none): its horse died
