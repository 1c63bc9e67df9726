"""One retry policy for every job: exponential back-off from ``SPECTER_RETRY_BACKOFF`` seconds, doubling per
attempt, capped at ``SPECTER_RETRY_BACKOFF_MAX``. Pulls, pushes, exports and the stock chain all wait by it,
so one pair of settings tunes how hard the shop knocks on a Specter (or a database) that is away.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from rq import Retry


def backoff_delay(attempt: int, config: Mapping[str, Any], *, jitter: bool = False) -> float:
    """Seconds to wait before retry number ``attempt`` (1 waits the base); ``jitter`` adds up to 10 %
    so rows that failed together do not all come back in the same second."""
    base, cap = float(config["SPECTER_RETRY_BACKOFF"]), float(config["SPECTER_RETRY_BACKOFF_MAX"])
    delay: float = base * 2 ** min(max(0, attempt - 1), 30)
    if jitter:
        delay *= random.uniform(1.0, 1.1)
    return min(cap, delay)


def rq_retry(config: Mapping[str, Any], retries: int) -> Retry | None:
    """RQ's ``Retry`` for ``retries`` attempts spaced by the policy; None when retries are off."""
    if retries <= 0:
        return None
    # rq annotates the intervals as int, but it takes (and stores as JSON) float seconds; a sub-second
    # SPECTER_RETRY_BACKOFF must not be rounded to 0 (no wait).
    intervals = [backoff_delay(n, config) for n in range(1, retries + 1)]
    return Retry(max=retries, interval=intervals)  # type: ignore[arg-type]


def retry_while_database_away(exc: BaseException) -> None:
    """The running job failed because the database did not answer (a connection refused or cut, not a
    wrong statement): its RQ retry is not used up, and comes again at the policy's first interval.

    A ten-second database restart must not spend a pull's whole retry budget (at the test's short
    back-off, five retries in five seconds) and leave the feed waiting for the next callback; nor should
    the retry after it wait the doubled minutes meant for a Specter that is away. The database coming
    back is what the retry waits for, so it looks every ``SPECTER_RETRY_BACKOFF`` seconds until then.
    """
    from rq import get_current_job
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if not isinstance(exc, (OperationalError, InterfaceError)) and not (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return
    job = get_current_job()
    if job is None or not job.retries_left or not job.retry_intervals:
        return
    job.retries_left += 1  # this failure does not count
    job.retry_intervals = [job.retry_intervals[0]] * job.retries_left  # the next retry comes at the first interval
