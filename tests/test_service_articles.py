"""Service articles (issue 7.8): the shipping ("frakt") and discount ("rabatt") rows of every order.

Specter refuses an order whose rows name an article it lacks. Activation (CLI and admin) checks that the
service articles exist and offers to create them, without ever overwriting one; an import never turns
them into products for sale in the shop.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from ._push_fixtures import add_customer, add_product, entries, order_row, place
from .conftest import BUYER, wait_until
from .test_stock_sync import _db, activate_served

pytestmark = pytest.mark.timeout(120)


def _csrf(html: bytes) -> str:
    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no csrf token on the page"
    return match.group(1).decode()


def _admin(app):
    c = app.test_client()
    page = c.get("/admin/login")
    c.post("/admin/login", data={"csrf_token": _csrf(page.data), "username": "boss", "password": "hemligt-lösen"})
    return c


def _shop(make_shop, **kw):
    return make_shop(SHOP_ADMIN_USER="boss", SHOP_ADMIN_PASSWORD="hemligt-lösen", SHOP_DEMO=False,
                     SPECTER_PUBLIC_URL="https://shop.example.se", **kw)


def _in_specter(sandbox) -> dict[str, dict]:
    return {a["articleNo"]: a for a in sandbox.hooks.state()["articles"] if not a["deleted"]}


def _order_with_shipping_and_discount(app, sandbox):
    sandbox.hooks.create_articles([{"articleNo": "SV-1", "name": "Kopp", "priceExclVat": "100.00", "vatPercent": 25, "inStock": 10}])
    add_product(app, "SV-1", stock=10)
    customer = add_customer(app, "frakt@example.se")
    order_id, _number = place(app, customer, [("SV-1", 1)], shipping_method="PostNord",
                              shipping_price_excl_vat=Decimal("49.00"), discount_excl_vat=Decimal("10.00"))
    return order_id


def test_cli_activate_creates_missing_service_articles_and_orders_then_reach_specter(make_shop, sandbox, shop_worker):
    app = _shop(make_shop)
    sandbox.hooks.create_articles([{"articleNo": "rabatt", "name": "Rabatt (Specters egen)", "priceExclVat": "0", "vatPercent": 25}])
    first = app.test_cli_runner().invoke(args=["specter", "activate"])  # not a terminal: report only
    assert first.exit_code == 0, first.output
    assert "frakt (Frakt): NOT confirmed in Specter" in first.output and "--create-service-articles" in first.output
    assert "frakt" not in _in_specter(sandbox)

    result = app.test_cli_runner().invoke(args=["specter", "activate", "--create-service-articles"])
    assert result.exit_code == 0, result.output
    assert "Created in Specter" in result.output
    specter = _in_specter(sandbox)
    assert specter["frakt"]["name"] == "Frakt" and specter["frakt"]["origin"] == "shop"
    assert specter["rabatt"]["name"] == "Rabatt (Specters egen)"  # an existing article is never overwritten
    again = app.test_cli_runner().invoke(args=["specter", "activate", "--create-service-articles"])
    assert "frakt (Frakt): bekräftad av Specter" in again.output and "Created" not in again.output

    shop_worker(app)
    order_id = _order_with_shipping_and_discount(app, sandbox)
    wait_until(lambda: order_row(app, order_id)["specter_order_no"], message="the order to reach Specter")
    rows = sandbox.hooks.state()["orders"][0]["rows"]
    assert {r["articleNo"] for r in rows} == {"SV-1", "frakt", "rabatt"}


def test_without_service_articles_the_order_fails_with_unknown_article(make_shop, sandbox, live_worker):
    """What activation prevents: the order is refused by Specter (code 21) for the shipping row."""
    app = _shop(make_shop)
    live_worker(app)
    order_id = _order_with_shipping_and_discount(app, sandbox)
    wait_until(lambda: any(e["kind"] == "order" and e["state"] == "failed" for e in entries(app)), message="the order to fail")
    assert "frakt" in order_row(app, order_id)["transfer_error"]


def test_admin_settings_show_the_service_articles_and_create_them_by_post_with_csrf(make_shop, sandbox):
    app = _shop(make_shop)
    c = _admin(app)
    page = c.get("/admin/specter/settings/").data.decode()
    assert "Serviceartiklar" in page and "inte bekräftad" in page and "Skapa serviceartiklar i Specter" in page
    assert c.post("/admin/specter/settings/service-articles").status_code == 400  # no CSRF token: nothing created
    assert c.get("/admin/specter/settings/service-articles").status_code == 405  # a GET never changes Specter
    assert not sandbox.hooks.calls(action="newArticleSubmit")

    resp = c.post("/admin/specter/settings/service-articles", data={"csrf_token": _csrf(page.encode())}, follow_redirects=True)
    assert "Serviceartiklarna frakt, rabatt är skapade i Specter" in resp.data.decode()
    assert {"frakt", "rabatt"} <= set(_in_specter(sandbox))
    page = c.get("/admin/specter/settings/").data.decode()
    assert "inte bekräftad" not in page and "Skapa serviceartiklar i Specter" not in page


def test_admin_activation_warns_when_service_articles_are_missing(make_shop, sandbox):
    app = _shop(make_shop)
    c = _admin(app)
    token = _csrf(c.get("/admin/specter/settings/").data)
    resp = c.post("/admin/specter/settings/activate", data={"csrf_token": token}, follow_redirects=True)
    assert "Serviceartiklarna frakt, rabatt är inte bekräftade i Specter" in resp.data.decode()


def test_an_import_never_makes_service_articles_products_and_counts_them_as_seen(make_shop, sandbox, live_worker, serve):
    app = _shop(make_shop)
    with app.app_context():
        app.extensions["specter"].settings.update({"import_products": True})
    sandbox.hooks.create_articles([
        {"articleNo": "frakt", "name": "Frakt", "priceExclVat": "49.00", "vatPercent": 25},
        {"articleNo": "SV-2", "name": "Skål", "priceExclVat": "20.00", "vatPercent": 25},
    ])
    activate_served(app, serve)  # a new integration: the whole catalogue is pending in the article feed
    live_worker(app)
    with app.test_client() as c:
        assert c.get(f"/specter/get_specter_articles?token={app.config['SPECTER_CALLBACK_TOKEN']}").data == b"1;Done"
    model = app.extensions["specter"].adapter.product_model

    def skus():
        with app.app_context():
            _db(app).session.remove()
            return set(_db(app).session.execute(select(model.sku)).scalars())

    wait_until(lambda: "SV-2" in skus(), message="the ordinary article to be imported")
    assert "frakt" not in skus()
    with app.app_context():
        from flask_specter.models import ArticleRow
        from flask_specter.service_articles import service_articles

        row = _db(app).session.execute(select(ArticleRow).where(ArticleRow.sku == "frakt")).scalar_one()
        assert row.state == "skipped" and "serviceartikel" in row.detail
        known = {a.article_no: a.evidence for a in service_articles()}
        assert known == {"frakt": "finns i Specters artikelflöde", "rabatt": ""}

    sandbox.hooks.remove_article("frakt")  # removed in Specter: no longer counted as there
    with app.test_client() as c:
        c.get(f"/specter/get_specter_articles?token={app.config['SPECTER_CALLBACK_TOKEN']}")

    def frakt_known():
        with app.app_context():
            _db(app).session.remove()
            from flask_specter.service_articles import service_articles

            return next(a for a in service_articles() if a.article_no == "frakt").known

    wait_until(lambda: not frakt_known(), message="the removal to be seen")
    assert "frakt" not in skus()


def test_the_demo_creates_them_so_its_first_order_reaches_specter(running_demo):
    """``python -m example_shop.demo`` as a user starts it (real processes): the first checkout reaches Specter."""
    import requests

    sandbox_state = f"{running_demo.sandbox_url}/_sandbox/state"
    shop = running_demo.shop_url

    def service_articles_in_specter():
        try:
            articles = requests.get(sandbox_state, timeout=2).json()["articles"]
        except (requests.RequestException, ValueError):
            return False
        return {"frakt", "rabatt"} <= {a["articleNo"] for a in articles}

    wait_until(service_articles_in_specter, timeout=60, interval=0.3, message="the demo to create frakt and rabatt")
    browser = requests.Session()
    page = browser.get(f"{shop}/product/KOPP-ASA", timeout=10)
    assert browser.post(f"{shop}/product/KOPP-ASA", data={"csrf_token": _csrf(page.content), "sku": "KOPP-ASA", "qty": 1},
                        timeout=10).status_code == 200
    page = browser.get(f"{shop}/checkout", timeout=10)
    form = {**BUYER, "csrf_token": _csrf(page.content)}
    assert browser.post(f"{shop}/checkout", data=form, timeout=10).status_code == 200

    def first_order():
        orders = requests.get(sandbox_state, timeout=2).json()["orders"]
        return orders[0] if orders else None

    order = wait_until(first_order, timeout=60, interval=0.3, message="the demo's first order to reach Specter")
    assert {"KOPP-ASA", "frakt"} <= {r["articleNo"] for r in order["rows"]}
