"""A drain job's second drain loop in a process of its own, where forking is safe: ``flask specter worker``.

The drain's two loops in threads share one interpreter lock: each loop's sender waits for it whenever
an answer comes back while the other loop reads or records rows. In two processes, one worker drained
1,000 orders in 1.11x the time of a bare loop of the same calls on PostgreSQL where threads took 1.31x
(SQLite: 0.97x, was 1.21x; two cores). So a job that starts with more than ``FORK_BACKLOG`` rows due
forks its second loop:

- only in a ``flask specter worker`` process (``allow_forked_loops``), never inside the shop's own
  process (the embedded worker) or a test's, and only while no other thread runs but those that hold
  nothing the child needs (``can_fork``): a fork copies no thread, so a lock another thread held would
  stay held in the child;
- the child opens its own database connections and Specter session (sockets are never shared across
  a fork) and claims its own rows, as a second worker would: the claims keep any row from going twice;
- it ignores SIGTERM and SIGINT (the parent decides: a warm stop waits for the job, which waits for the
  child) and is killed the moment its parent process ends (``queue/orphans.py``; the fork is made by the
  job's thread, which outlives it), as it is with the work horse's process group when RQ kills that;
  where that cannot be armed it stops after its current batch once its parent is gone;
- its counts come back through a pipe, so the job's result includes the rows it sent.

A backlog that builds up while the job runs still gets its second loop as a thread (``drain_threads``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from redis.client import PubSubWorkerThread

from ..queue.orphans import die_with_parent
from ..remote.deadline import WATCH_THREAD
from ..state import SpecterState, get_state
from .claims import due_rows

log = logging.getLogger("flask_specter.outbox")

FORK_BACKLOG = 40  # rows due when a drain job starts, above which its second loop is a process
_ALLOWED = [False]  # set by ``flask specter worker``

HARMLESS_THREADS = (threading.Timer, PubSubWorkerThread)
LoopDrain = Callable[..., dict[str, int]]  # ``relay._drain(state, role, alive=...)``


def allow_forked_loops() -> None:
    """Called by ``flask specter worker``: its processes run only jobs, so a drain job may fork."""
    _ALLOWED[0] = True


def can_fork() -> bool:
    """Allowed here, and no other thread runs but those that hold nothing the child needs: the deadline
    watch (the child starts its own), RQ's job timer (``--no-fork``: it waits on an event) and RQ's
    listener for worker commands (blocked on its own Redis connection, which the child never uses)."""
    if not (_ALLOWED[0] and hasattr(os, "fork")):
        return False
    me = threading.current_thread()
    return all(thread is me or thread.name == WATCH_THREAD or isinstance(thread, HARMLESS_THREADS) for thread in threading.enumerate())


def fork_on_backlog(state: SpecterState, drain: LoopDrain) -> Child | None:
    """The second drain loop as a process, when this one may fork and more than ``FORK_BACKLOG`` rows are due."""
    if not can_fork():
        return None
    due = due_rows(FORK_BACKLOG + 1)  # committed: no connection of this process is in use at the fork
    return start_loop(state, drain) if due > FORK_BACKLOG else None


@dataclass
class Child:
    pid: int
    counts_fd: int


def start_loop(state: SpecterState, drain: LoopDrain) -> Child | None:
    """Fork a process running ``drain`` (role "thread"); None when forking failed (the caller goes on alone).

    The caller has committed: no connection of its session is in use at the fork."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        log.warning("outbox drain: no second loop (%s)", exc)
        return None
    if pid == 0:  # pragma: no cover - the child; its work is seen through the rows and the parent's counts
        die_with_parent(parent)
        os.close(read_fd)
        _run_child(state, drain, parent, write_fd)
    os.close(write_fd)
    log.info("outbox drain: second loop in process %d", pid)
    return Child(pid, read_fd)


def _run_child(state: SpecterState, drain: LoopDrain, parent: int, write_fd: int) -> None:  # pragma: no cover
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        state.after_fork()
        with state.app.app_context():
            inner = get_state()
            try:
                with inner.settings.snapshot():
                    counts = drain(inner, "thread", alive=lambda: os.getppid() == parent)
            finally:
                inner.db.session.remove()
        code = 0
        try:
            os.write(write_fd, json.dumps(counts).encode())
        except BrokenPipeError:  # the parent is gone: no one to tell; the rows themselves say what was sent
            log.info("outbox drain: the second loop ended after its parent")
    except BaseException:
        log.exception("outbox drain: the second loop's process failed")
    finally:
        for handler in logging.getLogger().handlers + log.handlers:
            handler.flush()
        os._exit(code)


def join_loop(child: Child) -> dict[str, int]:
    """Wait for the child; its counts (empty if it failed: its rows are pending or sent, never lost)."""
    chunks = []
    while chunk := os.read(child.counts_fd, 65536):
        chunks.append(chunk)
    os.close(child.counts_fd)
    try:
        os.waitpid(child.pid, 0)
    except ChildProcessError:  # reaped already (a SIGCHLD handler of the host's): it has ended either way
        pass
    try:
        counts: dict[str, int] = json.loads(b"".join(chunks)) if chunks else {}
    except ValueError:
        counts = {}
    return counts
