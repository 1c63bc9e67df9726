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
