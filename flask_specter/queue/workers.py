"""The workers ``flask specter worker`` runs: RQ's, with every job inside a fresh app context.

Each worker also runs a scheduler (``scheduler.py``): the one holding RQ's lock moves delayed jobs and
runs the periodic ones; the others stand by to take over. A work horse dies with its worker
(``orphans.py``): killed, the worker takes its job's processes along at once, as RQ's cold stop does.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.worker import BaseWorker

from .orphans import die_with_parent
from .scheduler import SpecterScheduler

log = logging.getLogger("flask_specter.queue")


class AppWorkerMixin(BaseWorker):
    """Runs every job inside a new app context of the worker's Flask app (mixed in before ``Worker`` or
    ``SimpleWorker``; it derives from their common base, so the other one decides how a job runs)."""

    flask_app: Flask
    scheduler_in_thread = False
    scheduler: SpecterScheduler | None  # ours, not RQ's

    def _start_scheduler(self, burst: bool = False, logging_level: Any = None, date_format: Any = None, log_format: Any = None) -> None:
        """Always start a scheduler: it schedules if it gets RQ's lock and stands by otherwise."""
        scheduler: SpecterScheduler = self.flask_app.extensions["specter"].queue.make_scheduler(in_thread=self.scheduler_in_thread)
        self.scheduler = scheduler
        if not burst:
            scheduler.start()
            return
        scheduler.acquire_locks()
        if scheduler.acquired_locks:
            try:
                scheduler.enqueue_scheduled_jobs()
            finally:
                scheduler.release_locks()

    def run_maintenance_tasks(self) -> None:
        """RQ restarts a dead scheduler only when it gets the lock; a stand-by one is restarted too."""
        scheduler = self.scheduler
        if self.last_cleaned_at and scheduler is not None and not self.stopping and not (scheduler._process and scheduler._process.is_alive()):
            scheduler.start()
        self.clean_registries()
        self.clean_group_registries()

    def unsubscribe(self) -> None:
        """RQ's own can hold the worker's exit for a minute: redis-py 8's ``stop()`` joins the listener
        thread, which may have just begun a 60 s wait for a subscription. Stop it, waiting at most a
        second (a daemon thread: nothing is lost if it is still asleep when the process ends)."""
        thread = self.pubsub_thread
        if thread is None or self.pubsub is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        try:
            self.pubsub.unsubscribe()
        except Exception as exc:  # Redis gone: the listener ends with the process
            log.warning("worker could not unsubscribe: %s", exc)
        try:
            thread.stop(timeout=1.0)
        except TypeError:  # redis-py before 8: stop() only clears the flag
            thread.stop()
        thread.join(timeout=1)

    def teardown(self) -> None:
        try:
            super().teardown()
        except Exception as exc:  # Redis gone while stopping: nothing to deregister from
            log.warning("worker stopped without deregistering: %s", exc)

    @property
    def stopping(self) -> bool:
        """Was a stop asked for (a signal), as opposed to RQ's loop ending on an error?"""
        return bool(self._stop_requested or getattr(self, "_shutdown_requested_date", None))

    def perform_job(self, job: Job, queue: Queue, execution: Any = None) -> bool:
        app = self.flask_app
        state = app.extensions["specter"]
        if state.pid != os.getpid():  # a forked work horse must not reuse the parent's sockets
            state.after_fork()
        with app.app_context():
            done: bool = super().perform_job(job, queue, execution)
            return done


class SpecterWorker(AppWorkerMixin, Worker):
    """The production worker (``flask specter worker``): a work horse per job, as RQ intends."""

    _forked_by = 0

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        self._forked_by = os.getpid()  # the horse checks it is still its parent once it is tied to it
        super().fork_work_horse(job, queue)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """The horse is killed when its worker is (forked by the worker's main thread, which lives as long
        as the worker): the same SIGKILL RQ's cold stop sends it. The job's rows are then as after any
        killed job: released by their transaction, or claimed until another worker takes them over."""
        die_with_parent(self._forked_by)
        super().main_work_horse(job, queue)


class SpecterSimpleWorker(AppWorkerMixin, SimpleWorker):
    """A worker without fork, for ``flask specter worker --no-fork``."""
