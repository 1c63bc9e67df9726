"""The embedded worker: RQ's loop in a thread of the shop process (no Redis server, no second process).

RQ's worker is written for a process of its own; the overrides below are what running it in a thread
needs: no signal handlers, a timer instead of SIGALRM for job timeouts, a stop flag polled every second,
and the scheduler in a thread too. Used by the embedded default and by tests that need a live worker.
"""

from __future__ import annotations

from rq import Queue, SimpleWorker
from rq.job import Job
from rq.timeouts import TimerDeathPenalty

from .workers import AppWorkerMixin


class ThreadWorker(AppWorkerMixin, SimpleWorker):
    """A worker that runs in a thread of the app process, with the scheduler in another thread.

    Used for the embedded default and by tests that need a live worker against real Redis.
    """

    death_penalty_class = TimerDeathPenalty
    scheduler_in_thread = True

    def _install_signal_handlers(self) -> None:
        pass

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> tuple[Job, Queue] | None:
        # Wait in one-second slices so a stop request is seen promptly (RQ's loop only sees signals).
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(1, max_idle_time=1)
            if result is not None:
                return result
        return None

    def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.request_stop()
            if self.scheduler._process is not None:
                self.scheduler._process.join(5)

    def stop(self) -> None:
        self._stop_requested = True
        scheduler = getattr(self, "scheduler", None)  # none before the worker's loop started
        if scheduler is not None:
            scheduler.request_stop()
