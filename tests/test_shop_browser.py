"""The example shop's admin in a real browser, end to end: an order Specter refuses shows why under
"Betalningsmetod"; after the article is added in Specter, "Överför order" sends it once and the reason
disappears. Also the product page, where Specter-managed stock is read-only. The shop is served over
HTTP, the sandbox runs as its own process, a real RQ worker pushes, and Chromium clicks."""

from __future__ import annotations

import os

import pytest

from .conftest import CHROMIUM, api_client, shot, wait_until

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}: the browser test needs Debian's chromium package"),
]


def test_failed_transfer_is_explained_and_resent_from_the_shops_order_admin(make_shop, sandbox, serve, live_worker, page):
    app = make_shop(SHOP_ADMIN_USER="butiksagare", SHOP_ADMIN_PASSWORD="hemligt-losen-1")
    served = serve(app)
    with app.app_context():
        app.extensions["specter"].settings.set("product_sync", False)  # so Specter does not know the article
    live_worker(app)
    with api_client(app) as c:
        assert c.post("/api/products", json={"sku": "NYHET-1", "name": "Nyhet", "price_excl_vat": "100.00", "stock": 5}).status_code == 201
        customer = c.post("/api/customers", json={"email": "asa@example.se", "first_name": "Åsa", "last_name": "Öberg"}).get_json()
        order = c.post("/api/orders", json={"customer_id": customer["id"], "lines": [{"sku": "NYHET-1", "qty": 1}], "payment_method": "klarna"}).get_json()

    def order_state():
        with api_client(app) as c:
            return c.get(f"/api/orders/{order['id']}").get_json()

    wait_until(lambda: order_state()["transfer_error"], message="Specter's refusal to be recorded")

    page.goto(f"{served.url}/admin/order/")
    page.fill("input[name=username]", "butiksagare")
    page.fill("input[name=password]", "hemligt-losen-1")
    page.get_by_role("button", name="Logga in").click()
    page.goto(f"{served.url}/admin/order/")
    panel = page.locator(".specter-transfer-panel")
    panel.wait_for()
    assert "NYHET-1" in panel.inner_text() and "finns inte i Specter" in panel.inner_text()
    shot(page, "10_shop_order_transfer_failed")

    sandbox.hooks.create_articles([{"articleNo": "NYHET-1", "name": "Nyhet", "priceExclVat": "100.00", "vatPercent": 25, "inStock": 5}])
    panel.get_by_role("button", name="Överför order").click()
    page.wait_for_load_state()
    wait_until(lambda: order_state()["specter_order_no"], message="the order to reach Specter")
    page.goto(f"{served.url}/admin/order/")
    assert page.locator(".specter-transfer-panel").count() == 0
    shot(page, "11_shop_order_transferred")
    orders = [o for o in sandbox.hooks.state()["orders"] if o["externalOrderNo"] == order["number"]]
    assert len(orders) == 1 and orders[0]["payTypeIdentifier"] == "K"
    assert order_state()["transfer_error"] is None

    # Specter knows the article now: its stock is Specter's to set, the product form says so.
    with app.app_context():
        from flask_specter.inbound.pulls import run_pull
        from flask_specter.inbound.stock_apply import run_apply_chunk

        run_pull("stock")
        run_apply_chunk()
    with app.app_context():
        product_id = app.extensions["specter"].adapter.get_product("NYHET-1").id
    page.goto(f"{served.url}/admin/product/edit/?id={product_id}")
    stock = page.locator("input[name=stock]")
    stock.wait_for()
    assert stock.get_attribute("readonly") is not None
    shot(page, "12_shop_product_stock_read_only")
