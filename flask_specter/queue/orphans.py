"""A process forked by ``flask specter worker`` dies with the process that forked it.

The worker forks a work horse per job, the work horse of a drain job may fork the drain's second loop,
and the worker forks its scheduler. Each holds copies of its parent's database sockets: while one stays
open, PostgreSQL keeps a killed worker's transaction, and the row locks it took, alive; and a work horse
left running goes on claiming rows for a worker that is gone. So each asks Linux to signal it when its
parent ends: ``prctl(PR_SET_PDEATHSIG)``. The kernel sends the signal when the *thread* that forked the
process exits, so this is called in the child right after a fork made by the parent thread that lives as
long as the parent does (the worker's main thread, the drain job's thread). A parent that died before the
call cannot signal any more: the call then looks at ``getppid()`` and signals itself.

Elsewhere (macOS, or a kernel without ``prctl``) nothing is armed and the slower checks remain: the
scheduler looks at its parent every tick, the second loop before each batch.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

log = logging.getLogger("flask_specter.queue")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> bool:
    """Have ``sig`` sent to this (freshly forked) process when ``parent``'s forking thread ends; True
    when armed. ``parent`` is the pid the caller had before the fork: if it is already gone, the signal
    comes now."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process' own symbols, libc's among them (find_library would run ldconfig)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    except (OSError, AttributeError) as exc:
        log.warning("cannot tie process %d to its parent's life: %s", os.getpid(), exc)
        return False
    if os.getppid() != parent:  # the parent died between the fork and the prctl: no signal would come
        os.kill(os.getpid(), sig)
    return True
