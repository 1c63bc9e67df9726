"""RQ wiring: a real Redis from ``SPECTER_REDIS_URL``/``REDIS_URL``, or the embedded default.

The embedded default is an in-process fakeredis server with a worker thread that also runs the
scheduler, so the demo exercises the very same RQ jobs, delays and retries that production runs on a
real Redis with ``flask specter worker``. Workers push a fresh app context around every job, so each job
gets its own database session.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import signal
import threading
import time
from typing import Any

from rq import Queue, Retry, SimpleWorker, Worker
from rq.timeouts import TimerDeathPenalty

from .scheduler import JOB_FAILURE_TTL, SpecterScheduler

log = logging.getLogger("flask_specter.queue")


class AppWorkerMixin:
    """Runs every job inside a new app context of the worker's Flask app."""

    flask_app: Any = None
    scheduler_in_thread = False

    def _start_scheduler(self, burst=False, logging_level=None, date_format=None, log_format=None):
        """Always start a scheduler: it schedules if it gets RQ's lock and stands by otherwise."""
        self.scheduler = self.flask_app.extensions["specter"].queue.make_scheduler(in_thread=self.scheduler_in_thread)
        if not burst:
            self.scheduler.start()
            return
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            try:
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()

    def run_maintenance_tasks(self):
        """RQ restarts a dead scheduler only when it gets the lock; a stand-by one is restarted too."""
        scheduler = self.scheduler
        if self.last_cleaned_at and scheduler is not None and not self.stopping and not (scheduler._process and scheduler._process.is_alive()):
            scheduler.start()
        self.clean_registries()
        self.clean_group_registries()

    def teardown(self):
        try:
            super().teardown()
        except Exception as exc:  # Redis gone while stopping: nothing to deregister from
            log.warning("worker stopped without deregistering: %s", exc)

    @property
    def stopping(self) -> bool:
        """Was a stop asked for (a signal), as opposed to RQ's loop ending on an error?"""
        return bool(self._stop_requested or getattr(self, "_shutdown_requested_date", None))

    def perform_job(self, job, queue, execution):  # type: ignore[override]
        app = self.flask_app
        state = app.extensions["specter"]
        if state.pid != os.getpid():  # a forked work horse must not reuse the parent's DB sockets
            state.db.engine.dispose(close=False)
            state.pid = os.getpid()
        with app.app_context():
            return super().perform_job(job, queue, execution)


class SpecterWorker(AppWorkerMixin, Worker):
    """The production worker (``flask specter worker``): a work horse per job, as RQ intends."""


class SpecterSimpleWorker(AppWorkerMixin, SimpleWorker):
    """A worker without fork, for ``flask specter worker --no-fork``."""


class ThreadWorker(AppWorkerMixin, SimpleWorker):
    """A worker that runs in a thread of the app process, with the scheduler in another thread.

    Used for the embedded default and by tests that need a live worker against real Redis.
    """

    death_penalty_class = TimerDeathPenalty
    scheduler_in_thread = True

    def _install_signal_handlers(self):
        pass

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        # Wait in one-second slices so a stop request is seen promptly (RQ's loop only sees signals).
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(1, max_idle_time=1)
            if result is not None:
                return result
        return None

    def stop_scheduler(self):
        if self.scheduler is not None:
            self.scheduler.request_stop()
            if self.scheduler._process is not None:
                self.scheduler._process.join(5)

    def stop(self):
        self._stop_requested = True
        if getattr(self, "scheduler", None) is not None:
            self.scheduler.request_stop()


def redis_connection(url: str | None):
    """A Redis client for ``url``; None gives a fresh in-process fakeredis server."""
    if url:
        from redis import Redis

        return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
    try:
        import fakeredis
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("Without REDIS_URL the embedded queue needs fakeredis[lua]: pip install 'Flask-Specter[embedded]'") from exc
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


class SpecterQueue:
    """One app's queue. Jobs are import paths with plain arguments (ids, never personal data)."""

    def __init__(self, app, *, url: str | None, name: str, embedded_worker: bool):
        self.app = app
        self.url = url
        self.name = name
        self.connection = redis_connection(url)
        self.queue = Queue(name, connection=self.connection)
        self.embedded = url is None
        self._embedded_worker_wanted = self.embedded and embedded_worker
        self._worker: ThreadWorker | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # enqueueing ----------------------------------------------------------------------------------
    def enqueue(self, func: str, *args: Any, delay: float = 0, retry: Retry | None = None, job_id: str | None = None, **kwargs: Any):
        """Enqueue ``func`` now, or ``delay`` seconds from now through RQ's scheduler."""
        self.ensure_worker()
        # Results are not read (the database holds the outcome): drop them at once, keep failures a week.
        opts: dict[str, Any] = {"failure_ttl": JOB_FAILURE_TTL, "result_ttl": 0, "retry": retry, "job_id": job_id}
        if delay and delay > 0:
            # RQ keeps scheduled times in whole seconds, cut down: round the due time up, so a job
            # (an outbox retry checks its row's next_attempt_at) never runs before it is due.
            due = dt.datetime.fromtimestamp(math.ceil(time.time() + delay), dt.UTC)
            return self.queue.enqueue_at(due, func, *args, **opts, **kwargs)
        return self.queue.enqueue(func, *args, **opts, **kwargs)

    def enqueue_once(self, flag: str, func: str, *args: Any, ttl: float, delay: float = 0, **kwargs: Any) -> bool:
        """Enqueue ``func`` unless a job behind ``flag`` is already waiting; True when this call enqueued it.

        The flag is a SET NX that lives ``ttl`` seconds past the job's due time; the job clears it when it
        starts, so work stored from then on queues one more job. A failed enqueue clears it again, so the
        next caller (Specter calling again, the sweep) is not turned away by a job that never was.
        """
        if not self.set_flag(flag, ttl + delay):
            return False
        try:
            self.enqueue(func, *args, delay=delay, **kwargs)
        except Exception:
            self.clear_flag(flag)
            raise
        return True

    def set_flag(self, key: str, ttl: float) -> bool:
        """SET NX with a TTL: True when this caller set it. Fails open (True) if Redis is down."""
        try:
            return bool(self.connection.set(self._key(key), b"1", nx=True, px=max(1, int(ttl * 1000))))
        except Exception:
            log.warning("redis unavailable while coalescing %s; enqueueing anyway", key)
            return True

    def count(self, key: str, ttl: float) -> int:
        """INCR with a TTL: how many times this was counted since the key expired or was cleared.
        1 if Redis is down (the caller then backs off the least)."""
        try:
            pipe = self.connection.pipeline()
            pipe.incr(self._key(key))
            pipe.pexpire(self._key(key), max(1, int(ttl * 1000)))
            return int(pipe.execute()[0])
        except Exception:
            log.warning("redis unavailable while counting %s", key)
            return 1

    def clear_flag(self, key: str) -> None:
        try:
            self.connection.delete(self._key(key))
        except Exception:
            log.warning("redis unavailable while clearing %s", key)

    def _key(self, key: str) -> str:
        return f"specter:{self.name}:{key}"

    # workers -------------------------------------------------------------------------------------
    def make_scheduler(self, *, in_thread: bool) -> SpecterScheduler:
        """The worker's scheduler, with the periodic sweep and catch-up pull this app is configured for."""
        from .. import jobs

        config = self.app.config
        periodic = [(jobs.sweep, float(config["SPECTER_SWEEP_INTERVAL"] or 0)), (jobs.poll_feeds, float(config["SPECTER_POLL_INTERVAL"] or 0))]
        return SpecterScheduler([self.queue], connection=self.connection, periodic=periodic, on_takeover=jobs.sweep, in_thread=in_thread)

    def make_worker(self, cls=SpecterWorker, **kwargs):
        kwargs.setdefault("maintenance_interval", 30)  # also how soon a crashed scheduler is restarted
        worker = cls([self.queue], connection=self.connection, **kwargs)
        worker.flask_app = self.app
        return worker

    def run_worker(self, cls=SpecterWorker, *, burst: bool = False) -> None:
        """``flask specter worker``: RQ's loop, started again in the same process when it ends because
        Redis went away (RQ quits then), once Redis answers, with a sweep for what the gap left behind."""
        from ..jobs import sweep_now

        stop = threading.Event()
        while True:
            try:
                sweep_now()  # resume what a dead worker or an emptied Redis left behind
            except Exception:
                log.exception("start-up sweep failed; the periodic sweep tries again")
            self.app.extensions["specter"].db.session.remove()
            worker = self.make_worker(cls)
            try:
                worker.work(burst=burst, with_scheduler=True)
            except Exception as exc:  # RQ's own teardown fails while Redis is away
                log.warning("worker loop ended: %s", exc)
            if burst or worker.stopping:
                return
            log.warning("worker loop ended without a stop request (Redis away?); starting it again once Redis answers")
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            while not stop.wait(1.0) and not self._answers():
                pass
            if stop.is_set():
                return

    def _answers(self) -> bool:
        try:
            return bool(self.connection.ping())
        except Exception:
            return False

    def disable_embedded_worker(self) -> None:
        self._embedded_worker_wanted = False

    def ensure_worker(self) -> None:
        """Start the embedded worker thread once, on first use (never at import or in a CLI command)."""
        if not self._embedded_worker_wanted or (self._thread and self._thread.is_alive()):
            return
        with self._lock:
            if self._thread and self._thread.is_alive():
                return
            self._worker = self.make_worker(ThreadWorker)
            self._thread = threading.Thread(target=self._run_embedded, name="specter-worker", daemon=True)
            self._thread.start()

    def _run_embedded(self) -> None:
        from ..jobs import sweep_now

        with self.app.app_context():
            try:
                sweep_now()  # resume stored work now; the scheduler sweeps every SPECTER_SWEEP_INTERVAL seconds
            except Exception:
                log.exception("startup sweep failed")
        self._worker.work(with_scheduler=True, logging_level="WARNING")

    def stop_worker(self, timeout: float = 5.0) -> None:
        if self._worker is not None:
            self._worker.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self._worker = None
