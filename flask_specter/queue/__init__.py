"""RQ wiring: a real Redis from ``SPECTER_REDIS_URL``/``REDIS_URL``, or the embedded default.

The embedded default is an in-process fakeredis server with a worker thread that also runs the
scheduler, so the demo exercises the very same RQ jobs, delays and retries that production runs on a
real Redis with ``flask specter worker``. Workers push a fresh app context around every job, so each job
gets its own database session.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry, Worker
from rq.job import Job as RQJob

from .scheduler import JOB_FAILURE_TTL, SpecterScheduler, pid_alive
from .thread_worker import ThreadWorker
from .workers import AppWorkerMixin, SpecterSimpleWorker, SpecterWorker

log = logging.getLogger("flask_specter.queue")

P = ParamSpec("P")
R = TypeVar("R")
W = TypeVar("W", bound=AppWorkerMixin)

WORKER_WATCH_INTERVAL = 60.0  # seconds between two looks for a live worker from an enqueueing process

__all__ = ["Job", "SpecterQueue", "SpecterSimpleWorker", "SpecterWorker", "ThreadWorker", "current_queue", "job", "redis_connection"]


def current_queue() -> SpecterQueue:
    """The current app's queue (the queue knows no job and no state: it is the bottom layer)."""
    try:
        queue: SpecterQueue = current_app.extensions["specter"].queue
    except KeyError:
        raise RuntimeError(f"flask_specter is not set up on the app {current_app.name!r}") from None
    return queue


class Job(Generic[P, R]):
    """A function the queue runs, declared once where it lives (``@job``) and enqueued by reference.

    Calling it runs it here and now; ``.enqueue()`` and ``.enqueue_once()`` hand it to the app's queue.
    RQ stores the function's import path, so a job's name is where its code is.
    """

    def __init__(self, func: Callable[P, R]):
        self.func = func
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    @property
    def name(self) -> str:
        """The import path RQ stores (``job.func_name``)."""
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def enqueue(self, *args: Any, delay: float = 0, retry: Retry | None = None, job_id: str | None = None, queue: SpecterQueue | None = None) -> RQJob:
        """Run it on a worker now, or ``delay`` seconds from now."""
        return (queue or current_queue()).enqueue(self.func, *args, delay=delay, retry=retry, job_id=job_id)

    def enqueue_once(self, flag: str, *args: Any, ttl: float, delay: float = 0, retry: Retry | None = None, queue: SpecterQueue | None = None) -> bool:
        """Like ``enqueue`` unless a job behind ``flag`` is already waiting (see ``SpecterQueue.enqueue_once``)."""
        return (queue or current_queue()).enqueue_once(flag, self.func, *args, ttl=ttl, delay=delay, retry=retry)


def job(func: Callable[P, R]) -> Job[P, R]:
    """Declare ``func`` a queue job (in the spirit of Flask-RQ's ``@job``)."""
    return Job(func)


def redis_connection(url: str | None) -> Redis:
    """A Redis client for ``url``; None gives a fresh in-process fakeredis server."""
    if url:
        return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
    try:
        import fakeredis
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("Without REDIS_URL the embedded queue needs fakeredis[lua]: pip install 'Flask-Specter[embedded]'") from exc
    fake: Redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return fake


class SpecterQueue:
    """One app's queue. Jobs are ``@job`` functions with plain arguments (ids, never personal data).

    What to run at worker start and periodically is given by the extension (``maintain``), so the
    queue imports no job.
    """

    def __init__(self, app: Flask, *, url: str | None, name: str, embedded_worker: bool):
        self.app = app
        self.url = url
        self.name = name
        self.connection = redis_connection(url)
        self.queue = Queue(name, connection=self.connection)
        self.embedded = url is None
        self._embedded_worker_wanted = self.embedded and embedded_worker
        self._in_command = False  # a CLI command: no embedded worker here, whatever the config says
        self._worker: ThreadWorker | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._on_start: Callable[[], Any] | None = None
        self._on_takeover: Callable[[], Any] | None = None
        self._periodic: list[tuple[Callable[[], Any], float]] = []
        # A worker-less shop says so in its log (``_watch_workers``): when a worker was last seen, last looked for.
        self.worker_watch_interval = WORKER_WATCH_INTERVAL
        self._worker_seen_at = time.monotonic()  # the grace of a shop started just before its worker
        self._workers_looked_at = -math.inf

    def maintain(self, *, on_start: Callable[[], Any], on_takeover: Job[[], Any], periodic: Sequence[tuple[Job[[], Any], float]]) -> None:
        """What keeps stored work moving, given by the extension so that the queue imports no job.

        ``on_start`` runs in a worker as it starts; ``on_takeover`` is enqueued when its scheduler takes
        the lock of a dead one; ``periodic`` are (job, seconds) pairs the lock holder runs (0 seconds: off).
        """
        self._on_start = on_start
        self._on_takeover = on_takeover.func
        self._periodic = [(periodic_job.func, every) for periodic_job, every in periodic]

    def _start_sweep(self) -> None:
        if self._on_start is not None:
            self._on_start()

    # enqueueing ----------------------------------------------------------------------------------
    def enqueue(self, func: Callable[..., Any], *args: Any, delay: float = 0, retry: Retry | None = None, job_id: str | None = None, **kwargs: Any) -> RQJob:
        """Enqueue ``func`` now, or ``delay`` seconds from now through RQ's scheduler."""
        self.ensure_worker()
        # Results are not read (the database holds the outcome): drop them at once, keep failures a week.
        opts: dict[str, Any] = {"failure_ttl": JOB_FAILURE_TTL, "result_ttl": 0, "retry": retry, "job_id": job_id}
        if delay and delay > 0:
            # RQ keeps scheduled times in whole seconds, cut down: round the due time up, so a job
            # (an outbox retry checks its row's next_attempt_at) never runs before it is due.
            due = dt.datetime.fromtimestamp(math.ceil(time.time() + delay), dt.UTC)
            scheduled: RQJob = self.queue.enqueue_at(due, func, *args, **opts, **kwargs)
            self._watch_workers()
            return scheduled
        queued = self.queue.enqueue(func, *args, **opts, **kwargs)
        self._watch_workers()
        return queued

    def _watch_workers(self) -> None:
        """After an enqueue on Redis: log an error when no worker has been seen for ``worker_watch_interval``
        seconds. Looks at most once per interval (one Redis round trip), so the alarm is loud but throttled."""
        if self.embedded:
            return
        now = time.monotonic()
        if now - self._workers_looked_at < self.worker_watch_interval:
            return
        self._workers_looked_at = now
        try:
            alive = bool(self.live_workers())
        except Exception:  # Redis trouble: the enqueue itself has said so, or will
            return
        if alive:
            self._worker_seen_at = now
        elif now - self._worker_seen_at >= self.worker_watch_interval:
            log.error(
                "NO WORKER: jobs are queued on the Redis queue %r but no worker has listened for %d s; nothing is sent to "
                "or taken from Specter until one runs. Start `flask specter worker` with the same SPECTER_REDIS_URL/REDIS_URL "
                "and SPECTER_QUEUE_NAME, or set SPECTER_REDIS_URL = \"embedded\" for the in-process queue.",
                self.name, now - self._worker_seen_at,
            )

    def enqueue_once(self, flag: str, func: Callable[..., Any], *args: Any, ttl: float, delay: float = 0, **kwargs: Any) -> bool:
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
        return SpecterScheduler([self.queue], connection=self.connection, periodic=self._periodic, on_takeover=self._on_takeover, in_thread=in_thread)

    def make_worker(self, cls: type[W] = SpecterWorker, **kwargs: Any) -> W:  # type: ignore[assignment]  # a default for a TypeVar (mypy #3737)
        kwargs.setdefault("maintenance_interval", 30)  # also how soon a crashed scheduler is restarted
        worker = cls([self.queue], connection=self.connection, **kwargs)
        worker.flask_app = self.app
        return worker

    def run_worker(self, cls: type[SpecterWorker | SpecterSimpleWorker] = SpecterWorker, *, burst: bool = False) -> None:
        """``flask specter worker``: RQ's loop, started again in the same process when it ends because
        Redis went away (RQ quits then), once Redis answers, with a sweep for what the gap left behind."""
        stop = threading.Event()
        while True:
            try:
                self._start_sweep()  # resume what a dead worker or an emptied Redis left behind
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
        self._in_command = True

    def embedded_worker_alive(self) -> bool | None:
        """The embedded worker thread runs (started now if due); None in a CLI command, which never runs one."""
        if self._in_command:
            return None
        self.ensure_worker()
        return bool(self._thread and self._thread.is_alive())

    def live_workers(self) -> list[str]:
        """Names of the RQ workers listening on this queue (raises when Redis does not answer).

        RQ forgets a dead worker when its key expires; one on this host whose process is gone is left out now.
        """
        host = socket.gethostname()
        names = []
        for worker in Worker.all(queue=self.queue):
            if worker.hostname == host and worker.pid and not pid_alive(worker.pid):
                continue
            names.append(f"{worker.name} ({worker.hostname})")
        return sorted(names)

    def waiting_jobs(self) -> int:
        """Jobs on this queue that wait for a worker: queued now or scheduled for later (raises when Redis
        does not answer)."""
        return int(self.queue.count) + int(self.queue.scheduled_job_registry.get_job_count(cleanup=False))

    def ensure_worker(self) -> None:
        """Start the embedded worker thread once, on first use (never at import or in a CLI command)."""
        if not self._embedded_worker_wanted or (self._thread and self._thread.is_alive()):
            return
        with self._lock:
            if self._thread and self._thread.is_alive():
                return
            worker = self._worker = self.make_worker(ThreadWorker)
            self._thread = threading.Thread(target=self._run_embedded, args=(worker,), name="specter-worker", daemon=True)
            self._thread.start()

    def _run_embedded(self, worker: ThreadWorker) -> None:
        with self.app.app_context():
            try:
                self._start_sweep()  # resume stored work now; the scheduler sweeps every SPECTER_SWEEP_INTERVAL seconds
            except Exception:
                log.exception("startup sweep failed")
        worker.work(with_scheduler=True, logging_level="WARNING")

    def stop_worker(self, timeout: float = 5.0) -> None:
        if self._worker is not None:
            self._worker.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self._worker = None
