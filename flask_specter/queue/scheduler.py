"""The worker's scheduler: RQ's own, plus stand-by, take-over from a dead holder, and periodic jobs.

RQ lets one scheduler per queue hold a lock in Redis; only the holder moves delayed jobs (chunk chain,
retries) into the queue. Here every worker runs a scheduler: the one holding the lock schedules, the
others stand by and take the lock over as soon as its holder is dead (its process gone on this host,
or no heartbeat for ``TAKEOVER_AFTER`` seconds), instead of RQ's wait of up to seven minutes. A forked
scheduler stops within a tick when its own worker is gone: Linux sends it SIGTERM when the worker dies
(``orphans.py``), and elsewhere it sees its parent changed (``_orphaned``); either way it frees the lock.

The periodic jobs (the sweep, the catch-up pull) are RQ ``CronJob``\\ s run by the lock holder: one
schedule however many workers run, and their timing lives in this process, not in Redis, so an emptied
Redis costs at most one interval. Every step is retried on the next tick, so the scheduler lives
through a Redis restart.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing import Process
from typing import Any

from redis import Redis
from rq import Queue
from rq.cron import CronScheduler
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.scripts import release_lock
from rq.utils import as_text, decode_redis_hash, now, utcparse

from .orphans import die_with_parent

log = logging.getLogger("flask_specter.scheduler")

TAKEOVER_AFTER = 15.0  # seconds without a heartbeat after which a lock holder counts as dead anywhere
JOB_FAILURE_TTL = 7 * 24 * 3600
PAUSE_SLICE = 0.05  # seconds: how soon a stop ends the tick's pause


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class SpecterScheduler(RQScheduler):
    """One per worker; schedules while it holds RQ's lock, stands by otherwise.

    ``periodic`` is a list of (job function, interval in seconds); ``on_takeover`` names a job run once
    when the lock is taken from a dead holder (to resume what died with it).
    """

    def __init__(self, queues: Sequence[Queue], *, connection: Redis, periodic: Sequence[tuple[Callable[[], Any], float]] = (),
                 on_takeover: Callable[[], Any] | None = None, tick: float = 1.0, in_thread: bool = False, **kwargs: Any):
        super().__init__(queues, connection=connection, interval=1, **kwargs)  # ``interval`` is in Redis TTLs: whole
        self.tick = tick
        self.periodic = [(func, float(every)) for func, every in periodic if every and float(every) > 0]
        self.on_takeover = on_takeover
        self.in_thread = in_thread
        self._cron: CronScheduler | None = None
        self._process: threading.Thread | Process | None = None  # type: ignore[assignment]  # RQ keeps a Process here; ours may be a thread
        self._worker_pid = os.getpid()  # the worker that starts it (a forked scheduler watches it)

    # running ---------------------------------------------------------------------------------------
    def start(self) -> threading.Thread | Process:
        """A forked process (RQ's way), or a thread for the embedded queue (a fork cannot share fakeredis)."""
        if not self.in_thread:
            self._worker_pid = os.getpid()
            process: Process = super().start()
            return process
        self._status = self.Status.STARTED
        self._stop_requested = False
        thread = threading.Thread(target=self.run_loop, name="specter-scheduler", daemon=True)
        self._process = thread
        thread.start()
        return thread

    def work(self) -> None:  # the forked process' entry point (rq.scheduler.run)
        self._install_signal_handlers()
        die_with_parent(self._worker_pid, signal.SIGTERM)  # a stop asked for: the lock is released
        self.run_loop()

    def run_loop(self) -> None:
        self.pid = os.getpid()
        while not self._stop_requested and not self._orphaned():
            self.step()
            self._pause()
        self._shutdown()

    def _pause(self) -> None:
        """One tick, cut short by a stop (a signal handler only sets a flag; a sleep would run on). Counted
        in slices, not read from a clock: a test's frozen clock must not hold a scheduler thread."""
        slices = max(1, round(self.tick / PAUSE_SLICE))
        for _ in range(slices):
            if self._stop_requested:
                return
            time.sleep(self.tick / slices)

    def _orphaned(self) -> bool:
        """A forked scheduler whose worker died (killed, out of memory) stops and frees the lock for a
        live worker's scheduler. It must not outlive it: it holds copies of the worker's database sockets,
        and while one stays open the server keeps the dead worker's transaction, and its row locks, alive."""
        if self.in_thread or os.getppid() == self._worker_pid:
            return False
        log.warning("scheduler %s: its worker %s is gone; stopping", self.pid, self._worker_pid)
        return True

    def step(self) -> None:
        """One tick: beat, keep or take the lock, then (holding it) move due jobs and run periodic ones."""
        try:
            self._beat()
            if self._acquired_locks:
                self.heartbeat()  # refreshes the lock; one taken over by another scheduler is dropped
            if not self._acquired_locks:
                self._cron = None
                self._claim()
            if self._acquired_locks:
                self.enqueue_scheduled_jobs()
                self._run_periodic()
        except Exception as exc:  # Redis away or restarting: try again next tick
            log.warning("scheduler tick failed: %s", exc)

    def _shutdown(self) -> None:
        try:
            self.release_locks()
            self.register_death()
        except Exception as exc:
            log.warning("scheduler could not release its lock: %s", exc)
        self._status = self.Status.STOPPED

    def _beat(self) -> None:
        """Write the whole record each tick (RQ writes only the time), so it is complete again after a flush."""
        self.last_heartbeat = now()
        self.save()

    # the lock --------------------------------------------------------------------------------------
    def _claim(self) -> None:
        took_over = self._free_dead_locks()
        self.acquire_locks()
        if not self._acquired_locks:
            return
        self._start_periodic()
        if took_over and self.on_takeover is not None:
            self._enqueue_now(self.on_takeover)

    def _free_dead_locks(self) -> bool:
        freed = False
        for name in self._queue_names:
            key = self.get_locking_key(name)
            holder = self.connection.get(key)
            if holder is None or as_text(holder) == self.name:
                continue
            why = self.holder_is_dead(as_text(holder))
            if why and release_lock(self.connection, key, as_text(holder)):
                log.warning("scheduler lock of queue %s taken over from %s (%s)", name, as_text(holder), why)
                freed = True
        return freed

    def holder_is_dead(self, holder: str) -> str | None:
        """Why the scheduler named ``holder`` is dead, or None while it may be alive."""
        raw = self.connection.hgetall(SCHEDULER_KEY_TEMPLATE % holder)
        if not raw:
            return "no record: no heartbeat for a minute"
        record = decode_redis_hash(raw, decode_values=True)
        beat = utcparse(record["last_heartbeat"]) if record.get("last_heartbeat") else None
        if beat is None or (now() - beat).total_seconds() > TAKEOVER_AFTER:
            return f"no heartbeat for {TAKEOVER_AFTER:.0f} s"
        pid = int(record.get("pid") or 0)
        if record.get("hostname") == socket.gethostname() and pid and not pid_alive(pid):
            return f"process {pid} is gone"
        return None

    # periodic jobs ---------------------------------------------------------------------------------
    def _start_periodic(self) -> None:
        """A fresh schedule from now: the first round comes one interval after the lock is taken."""
        if not self.periodic:
            return
        cron = CronScheduler(connection=self.connection, logging_level=logging.WARNING)
        queue = next(iter(self._queue_names))
        for func, every in self.periodic:
            # RQ's CronJob counts fractional seconds too (tests use them); its annotation says int
            job = cron.register(func, queue, interval=every, result_ttl=0, failure_ttl=JOB_FAILURE_TTL, name=f"{queue}:{func.__name__}")  # type: ignore[arg-type]
            job.set_enqueue_time(now())
        self._cron = cron

    def _run_periodic(self) -> None:
        if self._cron is None:
            self._start_periodic()
        if self._cron is not None:
            self._cron.enqueue_jobs()

    def _enqueue_now(self, func: Callable[[], Any]) -> None:
        for name in self._acquired_locks:
            Queue(name, connection=self.connection).enqueue(func, result_ttl=0, failure_ttl=JOB_FAILURE_TTL)
