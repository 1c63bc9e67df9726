"""Issue 23 on the real variant shop (examples/variant_shop): its payment notification landing while the
first attempt to send the order runs (section 3), and a stock change of its own that no order explains
(section 1.3). The shop's code is as it is; the sandbox answers over HTTP.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from sqlalchemy import select

from flask_specter.models import OutboxEntry, Reservation, UnexplainedStock

from ._push_fixtures import sandbox_orders
from .conftest import wait_until
from .test_variant_shop import checkout, drain, edit, make_vshop, pay, pull, variant, vshop  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(90)


def test_a_payment_that_lands_while_the_first_attempt_runs_sends_the_order_at_once(vshop, sandbox, live_worker, monkeypatch):  # noqa: F811
    from flask_specter.outbound.relay import push_entry
    from flask_specter.sqlite import reading_only

    drain(vshop)
    reference = checkout(vshop, [("MUGG-ROD", 2)])["order"]
    adapter = vshop.extensions["specter"].adapter
    read_ready = adapter.order_ready
    landed: list[bool] = []

    def ready(order):  # the shop's own rule (paid), read by the attempt; then the payment lands and commits
        answer = read_ready(order)
        if not landed:
            payment = threading.Thread(target=lambda: (pay(vshop, reference), landed.append(True)))
            payment.start()
            payment.join(timeout=30)
        return answer

    monkeypatch.setattr(adapter, "order_ready", ready)
    with vshop.app_context():
        entry_id = vshop.extensions["specter"].db.session.execute(select(OutboxEntry.id).where(OutboxEntry.kind == "order")).scalar_one()
    # On SQLite a job's transaction holds the one write lock from its start: the attempt reads in a
    # deferred transaction here so that the payment can land inside it, as it can on PostgreSQL.
    sqlite = vshop.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    with vshop.app_context(), (reading_only() if sqlite else contextlib.nullcontext()):
        assert push_entry(entry_id).get("not_ready")
    assert landed == [True]
    monkeypatch.setattr(adapter, "order_ready", read_ready)
    with vshop.app_context():
        row = vshop.extensions["specter"].db.session.get(OutboxEntry, entry_id)
        assert (row.state, row.next_attempt_at) == ("pending", None)  # due at once, not after the minute's recheck

    started = time.monotonic()
    live_worker(vshop)
    wait_until(lambda: sandbox_orders(sandbox, reference), timeout=15, message="the paid order in Specter")
    assert time.monotonic() - started < 3
    assert variant(vshop, "MUGG-ROD")["stock"] == 8
    pull(vshop, "stock")  # Specter holds the order: its figure counts the two units once
    assert variant(vshop, "MUGG-ROD")["stock"] == 8 == sandbox.hooks.article("MUGG-ROD")["available"]


def test_a_stock_change_of_the_shops_own_is_let_through_and_recorded(vshop, sandbox):  # noqa: F811
    drain(vshop)  # the variants reach Specter: it manages their stock from now on
    from examples.variant_shop.models import Variant

    def stock_take(session):
        session.execute(select(Variant).where(Variant.sku == "TALLRIK")).scalar_one().stock = 1

    edit(vshop, stock_take)  # before the extension's fix: StockManagedBySpecter out of the host's commit
    assert variant(vshop, "TALLRIK")["stock"] == 1
    with vshop.app_context():
        session = vshop.extensions["specter"].db.session
        rows = session.execute(select(UnexplainedStock.sku, UnexplainedStock.old, UnexplainedStock.new, UnexplainedStock.unexplained)).all()
        assert [tuple(r) for r in rows] == [("TALLRIK", 3, 1, -2)]
        assert session.execute(select(Reservation)).first() is None
