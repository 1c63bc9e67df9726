"""Article data and order status flow back from Specter: get_specter_articles with the import toggles,
the orders feed (status, delivery, tracking, removal) and the order-removed and invoice callbacks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from .conftest import api_client, wait_until
from .test_stock_sync import _db, activate_served, add_products

pytestmark = pytest.mark.timeout(90)


def _product(app, sku):
    model = app.extensions["specter"].adapter.product_model
    with app.app_context():
        _db(app).session.remove()
        return _db(app).session.execute(select(model).where(model.sku == sku)).scalar_one_or_none()


def _set(app, **toggles):
    with app.app_context():
        app.extensions["specter"].settings.update(toggles)


def _import(app, client):
    client.check_account_settings({})  # a new integration: the whole catalogue is pending in the article feed
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    with app.test_client() as c:
        assert c.get(f"/specter/get_specter_articles?token={token}").data == b"1;Done"


def test_import_is_off_by_default_and_leaves_specter_flagged(make_shop, sandbox, live_worker, client):
    app = make_shop()
    sandbox.hooks.create_articles([{"articleNo": "IMP-1", "name": "Kaffekopp Åsa", "priceExclVat": "99.50", "vatPercent": 25}])
    live_worker(app)
    _import(app, client)
    wait_until(lambda: sandbox.hooks.state()["feeds"]["articles"]["pending"] >= 1, message="article feed pending")
    assert _product(app, "IMP-1") is None
    assert not sandbox.hooks.calls(action="getArticleInfoExternalNeedUpdate")  # nothing pulled, nothing lost


def test_import_creates_products_with_decimal_comma_prices_and_group_categories(make_shop, sandbox, live_worker, client):
    app = make_shop()
    _set(app, import_products=True, article_group_creates_category=True, article_group_category_active=False)
    sandbox.hooks.create_articles([
        {"articleNo": "IMP-1", "name": "Kaffekopp Åsa", "priceExclVat": "99.50", "vatPercent": 25, "articleGroupNo": "7", "articleGroupName": "Köksartiklar"},
    ])
    live_worker(app)
    _import(app, client)
    product = wait_until(lambda: _product(app, "IMP-1"), message="the product to be imported")
    assert product.name == "Kaffekopp Åsa" and product.price_excl_vat == Decimal("99.50")
    category_model = app.extensions["specter"].adapter.category_model
    with app.app_context():
        category = _db(app).session.execute(select(category_model).where(category_model.name == "Köksartiklar")).scalar_one()
        assert category.active is False
    assert _product(app, "IMP-1").category_id == category.id
    with app.app_context():
        from flask_specter.models import OutboxEntry

        echoed = _db(app).session.execute(select(OutboxEntry).where(OutboxEntry.kind == "product")).scalars().all()
        assert echoed == []  # what came from Specter is not sent back to it
    assert not sandbox.hooks.state()["feeds"]["articles"]["openBatch"]


def test_import_price_only_changes_nothing_but_the_price(make_shop, sandbox, live_worker, client):
    app = make_shop()
    add_products(app, ["IMP-2"], stock=4)
    _set(app, import_products=True, import_price_only=True)
    sandbox.hooks.create_articles([{"articleNo": "IMP-2", "name": "Nytt namn från Specter", "priceExclVat": "150.00", "vatPercent": 25},
                                   {"articleNo": "IMP-NEW", "name": "Finns bara i Specter", "priceExclVat": "10.00", "vatPercent": 25}])
    live_worker(app)
    _import(app, client)
    wait_until(lambda: _product(app, "IMP-2").price_excl_vat == Decimal("150.00"), message="the new price")
    assert _product(app, "IMP-2").name == "Produkt IMP-2"
    assert _product(app, "IMP-NEW") is None
    assert _product(app, "IMP-2").stock == 4  # article data never touches stock


def _order_in_both(app, sandbox):
    add_products(app, ["ORD-1"], stock=10)
    sandbox.hooks.create_articles([{"articleNo": "ORD-1", "name": "x", "priceExclVat": "10.00", "vatPercent": 25, "inStock": 10}])
    with api_client(app) as c:
        customer = c.post("/api/customers", json={"email": "asa@example.se", "first_name": "Åsa", "last_name": "Öberg"}).get_json()
        order = c.post("/api/orders", json={"customer_id": customer["id"], "lines": [{"sku": "ORD-1", "qty": 1}]}).get_json()
    return order


def _order(app, order_id):
    with api_client(app) as c:
        return c.get(f"/api/orders/{order_id}").get_json()


def test_order_status_delivery_and_tracking_come_back(make_shop, sandbox, live_worker, serve):
    app = make_shop()
    activate_served(app, serve)
    live_worker(app)
    order = _order_in_both(app, sandbox)
    specter_no = wait_until(lambda: _order(app, order["id"])["specter_order_no"], message="the order to reach Specter")
    sandbox.hooks.set_order_status(specter_no, 2)
    wait_until(lambda: _order(app, order["id"])["status"] == "confirmed", message="status confirmed")
    sandbox.hooks.deliver_order(specter_no, "00370712345678901234")
    wait_until(lambda: _order(app, order["id"])["tracking_no"] == "00370712345678901234", message="tracking number")
    assert _order(app, order["id"])["status"] == "shipped"
    sandbox.hooks.invoice_order(specter_no, "50001")
    wait_until(lambda: _order(app, order["id"])["invoice_id"] == "50001", message="invoice recorded")


def test_removal_in_specter_cancels_the_shop_order_once(make_shop, sandbox, live_worker, serve):
    app = make_shop()
    activate_served(app, serve)
    live_worker(app)
    order = _order_in_both(app, sandbox)
    specter_no = wait_until(lambda: _order(app, order["id"])["specter_order_no"], message="the order to reach Specter")
    sandbox.hooks.remove_order(specter_no)  # both the orders feed (status 5) and actionRemoveOrder
    wait_until(lambda: _order(app, order["id"])["status"] == "cancelled", message="the order to be cancelled")
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    with app.test_client() as c:  # the same removal announced again changes nothing
        assert c.get(f"/specter/callback/order-removed?token={token}&orderNo={specter_no}").data == b"1;Done"
    assert _order(app, order["id"])["status"] == "cancelled"


def test_order_callbacks_need_their_parameters_and_the_token(make_shop, sandbox):
    app = make_shop()
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    with app.test_client() as c:
        assert c.get("/specter/callback/order-removed?orderNo=1").status_code == 403
        assert c.get(f"/specter/callback/order-removed?token={token}").status_code == 400
        assert c.get(f"/specter/callback/order-removed?token={token}&orderNo=$orderNo").status_code == 400
        assert c.get(f"/specter/callback/invoice?token={token}&orderId=1").status_code == 400
