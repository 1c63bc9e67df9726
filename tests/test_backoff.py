"""The one retry policy every job waits by: doubling from the base, capped, jitter within 10 %."""

from __future__ import annotations

from flask_specter.backoff import backoff_delay, rq_retry

CONFIG = {"SPECTER_RETRY_BACKOFF": 2.0, "SPECTER_RETRY_BACKOFF_MAX": 30.0}


def test_the_delay_doubles_from_the_base_and_stops_at_the_cap():
    assert [backoff_delay(n, CONFIG) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff_delay(0, CONFIG) == 2.0
    assert backoff_delay(10_000, CONFIG) == 30.0  # no overflow for a feed failing for days


def test_jitter_adds_at_most_ten_percent_and_never_passes_the_cap():
    delays = [backoff_delay(3, CONFIG, jitter=True) for _ in range(200)]
    assert all(8.0 <= d <= 8.8 for d in delays) and len(set(delays)) > 1
    assert all(backoff_delay(9, CONFIG, jitter=True) == 30.0 for _ in range(50))


def test_rqs_retry_is_spaced_by_the_same_policy():
    retry = rq_retry(CONFIG, 4)
    assert retry.max == 4 and retry.intervals == [2.0, 4.0, 8.0, 16.0]
    assert rq_retry(CONFIG, 0) is None
