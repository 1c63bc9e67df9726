"""SKU lengths agree from the shop's product to Specter's articleNo (issue 8.5).

A SKU is Specter's article number: at most 50 characters. Every column of the extension that holds one
takes 50. A host keeps working whatever its SKUs (issue 23, 2.10): its Flask-Admin form refuses one that
Specter cannot take with a Swedish form error; any other save goes through, and the product is recorded as
not sent (a failed outbox row with the Swedish reason). The example shop's API refuses it with a 400.
Never a 500, never a row Specter refuses later. A host with slugs longer than 50: tests/test_sku_host.py.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from flask_specter.remote import protocol

from .conftest import wait_until
from .test_stock_sync import _db, activate_served

pytestmark = pytest.mark.timeout(120)

SKU_50 = "S" + "0123456789" * 4 + "-ABCDEFGH"  # 50 characters
SKU_51 = SKU_50 + "X"
API_TOKEN = "sku-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def _shop(make_shop):
    return make_shop(SHOP_API_TOKEN=API_TOKEN, SHOP_ADMIN_USER="boss", SHOP_ADMIN_PASSWORD="hemligt-lösen", SHOP_DEMO=False)


def _rows(app, model):
    with app.app_context():
        _db(app).session.remove()
        return _db(app).session.execute(select(model)).scalars().all()


def _csrf(html: bytes) -> str:
    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        rb'id="csrf_token" name="csrf_token"[^>]*value="([^"]+)"', html
    )
    assert match, "no csrf token in the form"
    return match.group(1).decode()


def test_every_sku_column_holds_exactly_what_specter_takes():
    from example_shop.models import OrderLine, Product
    from flask_specter import models

    assert len(SKU_50) == protocol.ARTICLE_NO_MAX == 50
    exact = [Product.__table__.c.sku, OrderLine.__table__.c.sku, models.StockRow.__table__.c.sku,
             models.StockLevel.__table__.c.sku, models.StockHistory.__table__.c.sku,
             models.Reservation.__table__.c.sku, models.ArticleRow.__table__.c.sku]
    assert {f"{c.table.name}.{c.name}": c.type.length for c in exact} == {f"{c.table.name}.{c.name}": 50 for c in exact}
    holding = [models.OutboxEntry.__table__.c.ref, models.Link.__table__.c.local_id, models.ExportFailure.__table__.c.ref,
               models.ExportRun.__table__.c.cursor]
    assert all(c.type.length >= protocol.ARTICLE_NO_MAX for c in holding)


def test_api_refuses_a_51_character_sku_with_400(make_shop, sandbox):
    from flask_specter.models import OutboxEntry

    app = _shop(make_shop)
    with app.test_client() as c:
        resp = c.post("/api/products", json={"sku": SKU_51, "name": "För långt", "price_excl_vat": "10.00"}, headers=AUTH)
        assert resp.status_code == 400, resp.data
        body = resp.get_json()
        assert "at most 50" in body["error"] and "högst 50 tecken" in body["error_sv"]
        assert c.get(f"/api/products/{SKU_51}").status_code == 404
    assert _rows(app, OutboxEntry) == []


def test_admin_form_refuses_a_51_character_sku_in_swedish(make_shop, sandbox):
    from flask_specter.models import OutboxEntry

    app = _shop(make_shop)
    with app.test_client() as c:
        page = c.get("/admin/login")
        c.post("/admin/login", data={"csrf_token": _csrf(page.data), "username": "boss", "password": "hemligt-lösen"})
        url = "/admin/product/new/"
        form = {"sku": SKU_51, "name": "För långt", "price_excl_vat": "10.00", "vat_percent": "25", "stock": "0", "active": "y"}
        resp = c.post(url, data={**form, "csrf_token": _csrf(c.get(url).data)})
        assert resp.status_code == 200  # the form again, with the field error
        assert "Specter tar högst 50 tecken" in resp.data.decode()
        form["sku"] = SKU_50
        resp = c.post(url, data={**form, "csrf_token": _csrf(c.get(url).data)})
        assert resp.status_code == 302
    model = app.extensions["specter"].adapter.product_model
    assert [p.sku for p in _rows(app, model)] == [SKU_50]
    assert [(r.kind, r.op, r.ref) for r in _rows(app, OutboxEntry)] == [("product", "create", SKU_50)]


def test_a_plain_save_keeps_working_and_the_refusal_is_a_failed_row_in_swedish(make_shop, sandbox):
    """No form, no API: a plain session save is never refused (the host keeps working); the product is not
    sent and one failed outbox row says why, in Swedish."""
    from flask_specter.models import OutboxEntry

    app = _shop(make_shop)
    model = app.extensions["specter"].adapter.product_model
    with app.app_context():
        session = _db(app).session
        ok = model(sku="OK-1", name="Ok", stock=0)
        session.add(ok)
        session.commit()
        ok.sku = "OK;2"  # a changed SKU is checked too
        session.commit()
        ok.name = "Ändrad"  # more changes add no second row
        session.commit()
    assert [p.sku for p in _rows(app, model)] == ["OK;2"]
    rows = [(r.op, r.ref, r.state, r.permanent) for r in _rows(app, OutboxEntry)]
    assert rows == [("create", "OK-1", "pending", False), ("create", "OK;2", "failed", True)]
    refused = _rows(app, OutboxEntry)[1]
    assert refused.last_error == "Artikelnumret (SKU) kan inte användas i Specter: det innehåller tecken som Specter inte tar emot (semikolon, tabb, radbrytning)."


def test_a_50_character_sku_works_end_to_end(make_shop, sandbox, shop_worker, serve):
    """Created in the shop, sent to Specter, stock back through the feed, ordered, reserved, acknowledged."""
    from flask_specter.models import Link, StockHistory, StockLevel

    app = _shop(make_shop)
    activate_served(app, serve)
    shop_worker(app)
    with app.test_client() as c:
        resp = c.post("/api/products", json={"sku": SKU_50, "name": "Lång SKU", "price_excl_vat": "10.00", "stock": 3}, headers=AUTH)
        assert resp.status_code == 201, resp.data
    wait_until(lambda: any(a["articleNo"] == SKU_50 for a in sandbox.hooks.state()["articles"]), message="the article in Specter")
    sandbox.hooks.goods_received(SKU_50, 7)  # Specter is stock master from now on
    model = app.extensions["specter"].adapter.product_model

    def shop_stock():
        with app.app_context():
            _db(app).session.remove()
            return _db(app).session.execute(select(model.stock).where(model.sku == SKU_50)).scalar_one()

    specter_available = lambda: sandbox.hooks.article(SKU_50)["available"]  # noqa: E731
    wait_until(lambda: shop_stock() == specter_available() and shop_stock() > 0, message="Specter's stock in the shop")
    assert [lvl.sku for lvl in _rows(app, StockLevel)] == [SKU_50]
    with app.test_client() as c:
        customer = c.post("/api/customers", json={"email": "lang@example.se", "first_name": "Åsa", "last_name": "Öberg"}, headers=AUTH)
        order = c.post("/api/orders", json={"customer_id": customer.get_json()["id"], "lines": [{"sku": SKU_50, "qty": 2}]}, headers=AUTH)
        assert order.status_code == 201, order.data
        order_id = order.get_json()["id"]
        read = lambda: c.get(f"/api/orders/{order_id}", headers=AUTH).get_json()  # noqa: E731
        wait_until(lambda: read()["specter_order_no"], message="the order in Specter")
    wait_until(lambda: specter_available() == shop_stock(), message="the shop and Specter agree after the order")
    assert any(h.sku == SKU_50 and h.source == "order" for h in _rows(app, StockHistory))
    assert any(link.kind == "product" and link.local_id == SKU_50 for link in _rows(app, Link))
