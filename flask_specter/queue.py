"""RQ wiring: a real Redis from ``SPECTER_REDIS_URL``/``REDIS_URL``, or the embedded default.

The embedded default is an in-process fakeredis server with a worker thread that also runs the
scheduler, so the demo exercises the very same RQ jobs, delays and retries that production runs on a
real Redis with ``flask specter worker``. Workers push a fresh app context around every job, so each job
gets its own database session.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from typing import Any

from rq import Queue, Retry, SimpleWorker, Worker
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger("flask_specter.queue")

JOB_FAILURE_TTL = 7 * 24 * 3600  # failed jobs carry ids only, but keep them a week, not RQ's year


class AppWorkerMixin:
    """Runs every job inside a new app context of the worker's Flask app."""

    flask_app: Any = None

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


class _ThreadScheduler(RQScheduler):
    """RQ's scheduler in a thread instead of a forked process (a fork cannot share an in-memory Redis)."""

    def __init__(self, *args, tick: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)  # ``interval`` stays whole: RQ puts it in Redis TTLs
        self.tick = tick

    def start(self):
        self._status = self.Status.STARTED
        thread = threading.Thread(target=self._loop, name="specter-scheduler", daemon=True)
        thread.start()
        return thread

    def _loop(self):
        born = False
        while not self._stop_requested:
            try:  # keep scheduling through a Redis restart; every step is retried on the next tick
                if not born:
                    self.register_birth()
                    born = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
            except Exception as exc:
                log.warning("embedded scheduler tick failed: %s", exc)
            time.sleep(self.interval)
        try:
            self.release_locks()
        except Exception as exc:
            log.warning("embedded scheduler could not release its lock: %s", exc)


class ThreadWorker(AppWorkerMixin, SimpleWorker):
    """A worker that runs in a thread of the app process, with the scheduler in another thread.

    Used for the embedded default and by tests that need a live worker against real Redis.
    """

    death_penalty_class = TimerDeathPenalty
    scheduler_interval = 1  # RQ keeps its scheduler keys for interval + 60 s, which Redis wants whole

    def _install_signal_handlers(self):
        pass

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        # Wait in one-second slices so a stop request is seen promptly (RQ's loop only sees signals).
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(1, max_idle_time=1)
            if result is not None:
                return result
        return None

    def _start_scheduler(self, burst=False, logging_level=None, date_format=None, log_format=None):
        self.scheduler = _ThreadScheduler(
            self.queues, connection=self.connection, interval=1, tick=self.scheduler_interval, serializer=self.serializer
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
            else:
                self.scheduler.start()

    def teardown(self):
        try:
            super().teardown()
        except Exception as exc:  # Redis gone while stopping: nothing to deregister from
            log.warning("worker stopped without deregistering: %s", exc)

    def stop(self):
        self._stop_requested = True
        if getattr(self, "scheduler", None) is not None:
            self.scheduler._stop_requested = True


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
            return self.queue.enqueue_in(dt.timedelta(seconds=delay), func, *args, **opts, **kwargs)
        return self.queue.enqueue(func, *args, **opts, **kwargs)

    def set_flag(self, key: str, ttl: float) -> bool:
        """SET NX with a TTL: True when this caller set it. Fails open (True) if Redis is down."""
        try:
            return bool(self.connection.set(self._key(key), b"1", nx=True, px=max(1, int(ttl * 1000))))
        except Exception:
            log.warning("redis unavailable while coalescing %s; enqueueing anyway", key)
            return True

    def clear_flag(self, key: str) -> None:
        try:
            self.connection.delete(self._key(key))
        except Exception:
            log.warning("redis unavailable while clearing %s", key)

    def _key(self, key: str) -> str:
        return f"specter:{self.name}:{key}"

    # workers -------------------------------------------------------------------------------------
    def make_worker(self, cls=SpecterWorker, **kwargs):
        # RQ retries a dead worker's scheduler lock only in maintenance: make that minutes, not ten.
        kwargs.setdefault("maintenance_interval", 30)
        worker = cls([self.queue], connection=self.connection, **kwargs)
        worker.flask_app = self.app
        return worker

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
        from .jobs import start_sweeping

        with self.app.app_context():
            try:
                start_sweeping()  # resume stored work now, and again every SPECTER_SWEEP_INTERVAL seconds
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
