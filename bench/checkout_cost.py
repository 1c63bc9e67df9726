"""Benchmark (not a test): what the outbox adds to one checkout, median and p95, with and without it.

    python bench/checkout_cost.py [--checkouts 4000] [--databases sqlite,postgresql] [--quick] [--profile]

The same example-shop checkout (``place_order``: order, line, stock decrement, commit) runs in
alternating blocks of 10 with the extension's outbox listeners on and off (the stock guard stays on
both sides), in one process, on Redis, with no worker running: "without" is the shop alone, "with" adds
the listener's work, the outbox row and the nudge after commit. Short blocks, so that the machine's
drift over a run falls on both sides alike. ``--profile`` prints a cProfile of the "with" checkouts'
hottest functions.

BENCH_DATABASE_URL / BENCH_REDIS_URL: another PostgreSQL database or Redis db than the defaults (its
schema is dropped).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from common import REDIS_URL, database_url
from sqlalchemy import event, select

SKU = "BENCH-1"
BLOCK = 10  # checkouts per block; blocks alternate with and without the outbox


def _hooks() -> list[tuple[str, Callable[..., Any]]]:
    from flask_specter.origin import remember_specter_object
    from flask_specter.outbound import listeners

    return [
        ("before_flush", listeners._before_flush),
        ("after_flush", listeners._after_flush),
        ("after_commit", listeners._after_commit),
        ("after_rollback", listeners._after_rollback),
        ("before_attach", remember_specter_object),
    ]


@contextmanager
def outbox_off(session: object) -> Iterator[None]:
    """The outbox's session listeners taken off for the block (the stock guard stays)."""
    present = [(name, fn) for name, fn in _hooks() if event.contains(session, name, fn)]
    for name, fn in present:
        event.remove(session, name, fn)
    try:
        yield
    finally:
        for name, fn in present:
            event.listen(session, name, fn)


@contextmanager
def outbox_timed(session: object, spent: list[float]) -> Iterator[None]:
    """The outbox's listeners, each call timed: ``spent[-1]`` sums the time inside them (the nudge after
    commit included) for the checkout under way. A figure that the machine's load moves far less than the
    difference of two medians. On SQLite it includes the outbox row's INSERT; on PostgreSQL that INSERT
    goes with the COMMIT (``held_rows``), and what it adds is in the difference of the medians only."""
    present = [(name, fn) for name, fn in _hooks() if event.contains(session, name, fn)]
    wrappers = []
    for name, fn in present:

        def timed(*args: Any, _fn: Callable[..., Any] = fn) -> Any:
            started = time.perf_counter()
            try:
                return _fn(*args)
            finally:
                spent[-1] += time.perf_counter() - started

        event.remove(session, name, fn)
        event.listen(session, name, timed)
        wrappers.append((name, timed))
    try:
        yield
    finally:
        for (name, timed), (_name, fn) in zip(wrappers, present, strict=True):
            event.remove(session, name, timed)
            event.listen(session, name, fn)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(kind: str, checkouts: int, profile: bool) -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="bench-checkout-")
    from flask_specter.sandbox.testing import SandboxServer

    with SandboxServer(db_path=os.path.join(tmp, "sandbox.sqlite3")) as sandbox:
        config = {
            "SQLALCHEMY_DATABASE_URI": database_url(kind, tmp),
            "SECRET_KEY": "bench",
            "SPECTER_CALLBACK_TOKEN": "bench-token-0123456789",
            "SPECTER_PUBLIC_URL": "http://127.0.0.1:1",
            "SPECTER_QUEUE_NAME": f"bench-{uuid.uuid4().hex[:8]}",
            "SPECTER_EMBEDDED_WORKER": False,
            "SPECTER_SWEEP_INTERVAL": 0,
            "REDIS_URL": REDIS_URL,
            "SPECTER_REDIS_URL": REDIS_URL,
            **sandbox.credentials,
        }
        from example_shop import create_app
        from example_shop.models import Customer, Product, db
        from example_shop.orders import LineRequest, place_order

        app = create_app(config)
        timings: dict[bool, list[float]] = {True: [], False: []}
        spent: list[float] = []
        profiler = cProfile.Profile()
        with app.app_context():
            app.extensions["specter"].settings.set("product_sync", False)
            db.session.add(Product(sku=SKU, name="Bänk", stock=10 * checkouts + 10, price_excl_vat=100, vat_percent=25))
            db.session.add(Customer(email="bench@example.se", first_name="Bänk", last_name="Märk"))
            db.session.commit()
            customer_id = db.session.execute(select(Customer.id)).scalar_one()
            db.session.remove()
            queue = app.extensions["specter"].queue
            for _ in range(20):  # warm up both paths (connections, caches)
                place_order(db.session.get(Customer, customer_id), [LineRequest(SKU, 1)])
                db.session.remove()
            blocks = max(2, checkouts // BLOCK)
            for block in range(blocks):
                with_outbox = block % 2 == 0
                with (outbox_timed(db.session, spent) if with_outbox else outbox_off(db.session)):
                    for _ in range(BLOCK):
                        if profile and with_outbox:
                            profiler.enable()
                        if with_outbox:
                            spent.append(0.0)
                        started = time.perf_counter()
                        place_order(db.session.get(Customer, customer_id), [LineRequest(SKU, 1)])
                        db.session.remove()
                        timings[with_outbox].append(time.perf_counter() - started)
                        if profile and with_outbox:
                            profiler.disable()
            queue.queue.empty()
            for key in queue.connection.scan_iter(f"*{queue.name}*"):
                queue.connection.delete(key)
            db.session.remove()
            db.engine.dispose()
    if profile:
        print(f"--- cProfile of the checkouts with the outbox ({kind}) ---")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"flask_specter|/rq/|redis/client|example_shop", 40)
    ms = {side: [t * 1000 for t in values] for side, values in timings.items()}
    inside = [t * 1000 for t in spent]
    return {
        "inside_p50": statistics.median(inside),
        "inside_p95": percentile(inside, 0.95),
        "n": len(ms[True]),
        "without_p50": statistics.median(ms[False]),
        "without_p95": percentile(ms[False], 0.95),
        "with_p50": statistics.median(ms[True]),
        "with_p95": percentile(ms[True], 0.95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=4000, help="checkouts in all, half with the outbox")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="200 checkouts")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    checkouts = 200 if args.quick else args.checkouts
    print(f"Redis {REDIS_URL}; {checkouts} checkouts per database in blocks of {BLOCK}, alternating")
    print("| db | checkouts | without outbox p50 ms | with outbox p50 ms | added p50 ms | inside the outbox p50 ms | without p95 ms | with p95 ms | inside p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in args.databases.split(","):
        r = run(kind.strip(), checkouts, args.profile)
        name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(kind.strip(), kind)
        print(
            f"| {name} | {r['n']:.0f} + {r['n']:.0f} | {r['without_p50']:.2f} | {r['with_p50']:.2f} | "
            f"**{r['with_p50'] - r['without_p50']:+.2f}** | **{r['inside_p50']:.2f}** | {r['without_p95']:.2f} | {r['with_p95']:.2f} | {r['inside_p95']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
