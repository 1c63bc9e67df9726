"""Sync health: hour buckets counted by the database (SQLite and PostgreSQL), Specter's calls counted per
hour without touching the callback's path, and the chart drawn from them as inline SVG."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from flask_specter.models import Batch, CallbackCount, OutboxEntry, StockRow

from .conftest import wait_until

pytestmark = pytest.mark.timeout(120)

NOW = dt.datetime(2026, 3, 10, 14, 25, 0)  # a Tuesday
T = dt.datetime(2026, 3, 10, 12, 0, 0)


def _db(app):
    return app.extensions["sqlalchemy"]


def _seed(app):
    s = _db(app).session
    b1 = Batch(feed="stock", batch_no="a" * 32, state="confirmed", rows=3, fetched_at=T + dt.timedelta(seconds=1), requested_at=T)
    b2 = Batch(feed="stock", batch_no="b" * 32, state="confirmed", rows=1, fetched_at=T + dt.timedelta(minutes=59), requested_at=None)
    old = Batch(feed="stock", batch_no="c" * 32, state="confirmed", rows=1, fetched_at=NOW - dt.timedelta(days=8))
    s.add_all([b1, b2, old])
    s.flush()
    s.add_all(
        [
            StockRow(batch_id=b1.id, sku="A", available=1, state="applied", applied_at=T + dt.timedelta(seconds=5)),
            StockRow(batch_id=b1.id, sku="B", available=1, state="applied", applied_at=T + dt.timedelta(seconds=9, milliseconds=500)),
            StockRow(batch_id=b1.id, sku="C", available=1, state="pending"),
            # the first second of 13:00 belongs to 13:00, the last millisecond of 12:59 (SQLite keeps milliseconds) to 12:00
            StockRow(batch_id=b2.id, sku="D", available=1, state="applied", applied_at=dt.datetime(2026, 3, 10, 13, 0, 0)),
            StockRow(batch_id=b2.id, sku="E", available=1, state="applied", applied_at=dt.datetime(2026, 3, 10, 12, 59, 59, 999000)),
            StockRow(batch_id=old.id, sku="F", available=1, state="applied", applied_at=NOW - dt.timedelta(days=8)),
        ]
    )
    s.add_all(
        [
            OutboxEntry(kind="order", op="create", ref="1", state="sent", sent_at=dt.datetime(2026, 3, 9, 23, 30)),
            OutboxEntry(kind="order", op="create", ref="2", state="sent", sent_at=dt.datetime(2026, 3, 9, 23, 45)),
            OutboxEntry(kind="order", op="create", ref="3", state="failed", failed_at=dt.datetime(2026, 3, 10, 14, 1)),
            OutboxEntry(kind="order", op="create", ref="4", state="pending"),
            CallbackCount(hour=dt.datetime(2026, 3, 10, 14), route="stock", accepted=7, refused=0),
            CallbackCount(hour=dt.datetime(2026, 3, 10, 14), route="orders", accepted=2, refused=3),
            CallbackCount(hour=dt.datetime(2026, 3, 3, 14), route="stock", accepted=100, refused=100),  # 7 days ago: out
        ]
    )
    s.commit()


def test_measures_are_counted_per_hour_by_the_database(make_shop):
    from flask_specter.health import collect_health

    app = make_shop()
    with app.app_context():
        _seed(app)
        with freeze_time(NOW):
            health = collect_health()
    assert health.hours == 168 and health.start == dt.datetime(2026, 3, 3, 15) and health.hour(167) == dt.datetime(2026, 3, 10, 14)
    series = health.by_key()

    def at(key, hour):
        return series[key].values[int((hour - health.start).total_seconds()) // 3600]

    assert at("stock_applied", dt.datetime(2026, 3, 10, 12)) == 3  # A, B and E; C is pending, F too old
    assert at("stock_applied", dt.datetime(2026, 3, 10, 13)) == 1  # D
    assert series["stock_applied"].total == 4
    assert at("batches", dt.datetime(2026, 3, 10, 12)) == 2 and at("batches", dt.datetime(2026, 3, 10, 13)) == 0
    assert series["batches"].total == 2
    assert at("outbox_sent", dt.datetime(2026, 3, 9, 23)) == 2 and series["outbox_sent"].total == 2
    assert at("outbox_failed", dt.datetime(2026, 3, 10, 14)) == 1 and series["outbox_failed"].total == 1
    assert at("callbacks_accepted", dt.datetime(2026, 3, 10, 14)) == 9 and series["callbacks_accepted"].total == 9
    assert at("callbacks_refused", dt.datetime(2026, 3, 10, 14)) == 3 and series["callbacks_refused"].total == 3
    # batch 1: asked for at 12:00:00, its last row applied at 12:00:09.5; batch 2 has no request time: from its fetch
    assert at("lag", dt.datetime(2026, 3, 10, 12)) == pytest.approx(9.5, abs=0.01)
    assert at("lag", dt.datetime(2026, 3, 10, 13)) == pytest.approx(60.0, abs=0.01)
    assert at("lag", dt.datetime(2026, 3, 10, 11)) is None  # no batch applied: no bar, not zero


def test_the_chart_is_inline_svg_with_swedish_labels_and_a_value_per_bar(make_shop):
    from flask_specter.admin.chart import fmt_seconds, render_chart
    from flask_specter.health import collect_health

    app = make_shop()
    with app.app_context():
        _seed(app)
        with freeze_time(NOW):
            svg = str(render_chart(collect_health()))
    assert svg.startswith("<svg") and "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    for label in ("Lagerrader uppdaterade", "Anrop från Specter, godkända", "Anrop från Specter, nekade", "Batcher hämtade",
                  "Skickat till Specter", "Misslyckat till Specter", "Fördröjning till uppdaterat lager"):
        assert label in svg
    assert "tis 10/3" in svg and "ons 4/3" in svg  # midnights labelled with Swedish weekdays
    assert "2026-03-10 13:00–14:00: 3" in svg  # the bar's tooltip, in the shop's time zone (12 UTC is 13 in Stockholm in March)
    assert "Tid (Europe/Stockholm)" in svg
    assert re.search(r'data-key="stock_applied" data-total="4"', svg)
    assert fmt_seconds(9.5) == "9,5 s" and fmt_seconds(185) == "3 min 5 s" and fmt_seconds(7800) == "2 h 10 min"


def test_specters_calls_are_counted_per_hour_even_inside_the_throttle_window(make_shop):
    app = make_shop()
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    with app.test_client() as c:
        for _ in range(5):
            assert c.get("/specter/callback/stock?token=wrong").status_code == 403
        for _ in range(3):
            assert c.get(f"/specter/callback/orders?token={token}").status_code == 200
        assert c.get("/specter/no-such-route").status_code == 404

    def counts():
        with app.app_context():
            s = _db(app).session
            rows = s.execute(select(CallbackCount.route, func.sum(CallbackCount.accepted), func.sum(CallbackCount.refused)).group_by(CallbackCount.route)).all()
            s.remove()
            return {route: (int(a), int(r)) for route, a, r in rows}

    wait_until(lambda: counts() == {"stock": (0, 5), "orders": (3, 0), "unknown": (0, 1)}, timeout=10, message=f"the calls to be counted ({counts()})")
