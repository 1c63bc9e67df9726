"""Reservations are released only by a stock figure that includes the order (issue 7.5).

The exact interleavings, step by step against the sandbox over HTTP: a figure fetched before Specter
acknowledged an order but applied after it must not release the order's quantity; a figure fetched
while the acknowledgement was lost holds it until a complete pull shows Specter's newest figure.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from flask_specter.models import Reservation, ReservationAck

from ._push_fixtures import add_customer, ctx, db, entries, place, set_toggles
from .conftest import wait_until
from .test_stock_sync import add_products, callback, pull_and_apply, shop_stock, specter_available

pytestmark = pytest.mark.timeout(120)


def _push(app, kind):
    from flask_specter.outbound.relay import push_entry

    with ctx(app):
        return [push_entry(e["id"], force=True) for e in entries(app, kind) if e["state"] != "sent"]


def _reserved(app) -> list[tuple[str, int]]:
    with ctx(app):
        return [(r.sku, r.qty) for r in db(app).session.execute(select(Reservation)).scalars()]


def _apply_stored(app):
    with ctx(app):
        from flask_specter.inbound.stock_apply import run_apply_chunk

        while run_apply_chunk()["remaining"]:
            pass


def _stock_pull_only(app):
    with ctx(app):
        from flask_specter.inbound.pulls import run_pull

        return run_pull("stock")


def _shop_with_kaffe(make_shop, sandbox, in_stock=10):
    app = make_shop()
    set_toggles(app, product_sync=False)
    sandbox.hooks.create_articles([{"articleNo": "KAFFE-1", "name": "Kaffe", "inStock": in_stock}])
    add_products(app, ["KAFFE-1"])
    pull_and_apply(app)
    assert shop_stock(app) == {"KAFFE-1": in_stock}
    cid = add_customer(app, "k@example.se")
    _push(app, "customer")
    return app, cid


def test_a_figure_fetched_before_the_acknowledgement_keeps_the_order_held_back(make_shop, sandbox):
    app, cid = _shop_with_kaffe(make_shop, sandbox)
    sandbox.hooks.pos_sale("KAFFE-1", 1)  # Specter: 9
    assert _stock_pull_only(app)["rows"] == 1  # figure 9 stored, not applied yet
    place(app, cid, [("KAFFE-1", 3)])  # shop: 10 - 3 = 7
    assert [r["state"] for r in _push(app, "order")] == ["sent"]  # Specter acknowledged: 9 - 3 = 6
    assert specter_available(sandbox)["KAFFE-1"] == 6
    _apply_stored(app)  # the figure 9 does not include the order: 9 - 3
    assert shop_stock(app)["KAFFE-1"] == 6
    assert _reserved(app) == [("KAFFE-1", 3)]
    pull_and_apply(app)  # the next pull's figure (6) was fetched after the acknowledgement
    assert shop_stock(app)["KAFFE-1"] == 6 and _reserved(app) == []
    with ctx(app):
        assert db(app).session.execute(select(ReservationAck)).first() is None  # nothing left behind


def test_a_figure_fetched_while_the_acknowledgement_was_lost_converges_without_a_new_change(make_shop, sandbox):
    app, cid = _shop_with_kaffe(make_shop, sandbox)
    sandbox.hooks.fault("newOrderSubmit", "after")  # Specter creates the order; its answer is lost
    place(app, cid, [("KAFFE-1", 3)])
    assert [r["state"] for r in _push(app, "order")] == ["pending"]
    assert specter_available(sandbox)["KAFFE-1"] == 7
    pull_and_apply(app)  # figure 7 already includes the order, but nothing says so yet: errs low
    assert shop_stock(app)["KAFFE-1"] == 4
    assert [r["state"] for r in _push(app, "order")] == ["sent"]  # code 23: acknowledged now
    assert sandbox.hooks.state()["feeds"]["stock"]["pending"] == 0  # Specter will not send KAFFE-1 again
    pull_and_apply(app)  # a complete pull after the acknowledgement: the newest figure includes the order
    assert shop_stock(app)["KAFFE-1"] == 7 == specter_available(sandbox)["KAFFE-1"]
    assert _reserved(app) == []


def test_on_real_workers_the_shop_follows_specter_through_an_order(make_shop, sandbox, shop_worker):
    app, cid = _shop_with_kaffe(make_shop, sandbox)
    shop_worker(app)
    place(app, cid, [("KAFFE-1", 4)])
    wait_until(lambda: _reserved(app) == [] and shop_stock(app) == specter_available(sandbox), timeout=60, message="the order's figure")
    assert shop_stock(app)["KAFFE-1"] == 6
    sandbox.hooks.goods_received("KAFFE-1", 5)
    callback(app)
    wait_until(lambda: shop_stock(app)["KAFFE-1"] == 11, message="the next change")
