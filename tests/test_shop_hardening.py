"""Issue 25 §7: the example shop as a template people copy. Huge exponents and deep JSON are a 400, the
storefront is paged, repeated wrong passwords lock the login (in the database, so every process sees
it), and logout ends the session on the server: a copied cookie is worth nothing afterwards."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest

from .conftest import API_HEADERS

pytestmark = pytest.mark.timeout(120)

ADMIN = {"SHOP_ADMIN_USER": "boss", "SHOP_ADMIN_PASSWORD": "hemligt-lösen-1"}
HUGE = "1E+1000000"


def csrf(client, url: str = "/admin/login") -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)


def login(client, username: str, password: str) -> int:
    return client.post("/admin/login", data={"csrf_token": csrf(client), "username": username, "password": password}).status_code


def logged_in(client) -> bool:
    return client.get("/admin/product/").status_code == 200


# -- bad numbers and bodies ---------------------------------------------------------------------------


def test_a_huge_exponent_in_a_price_a_weight_or_an_order_amount_is_a_400(make_shop):
    c = make_shop().test_client()
    assert c.post("/api/products", json={"sku": "P-1", "name": "Kopp", "price_excl_vat": "10"}, headers=API_HEADERS).status_code == 201
    for body in ({"price_excl_vat": HUGE}, {"weight": HUGE}, {"buy_price": "-" + HUGE}, {"price_excl_vat": "1e999999999"}):
        resp = c.patch("/api/products/P-1", json=body, headers=API_HEADERS)
        assert resp.status_code == 400, body
        assert "too large" in resp.get_json()["error"]
    assert c.post("/api/products", json={"sku": "P-2", "name": "Fat", "price_excl_vat": HUGE}, headers=API_HEADERS).status_code == 400
    customer = c.post("/api/customers", json={"email": "kund@example.se", "first_name": "Kim"}, headers=API_HEADERS).get_json()
    order = {"customer_id": customer["id"], "lines": [{"sku": "P-1", "qty": 1}]}
    for key in ("shipping_price_excl_vat", "discount_excl_vat"):
        resp = c.post("/api/orders", json={**order, key: HUGE}, headers=API_HEADERS)
        assert resp.status_code == 400 and "too large" in resp.get_json()["error"], key
    assert c.get("/api/products/P-1").get_json()["price_excl_vat"] == "10.00"  # left as it was


def test_a_json_body_nested_50000_levels_is_a_400(make_shop):
    c = make_shop().test_client()
    deep = "[" * 50_000 + "]" * 50_000
    for method, url in (("post", "/api/products"), ("patch", "/api/products/P-1"), ("post", "/api/customers"), ("post", "/api/orders")):
        resp = getattr(c, method)(url, data=deep, headers={**API_HEADERS, "Content-Type": "application/json"})
        assert resp.status_code == 400, url
        assert "JSON object" in resp.get_json()["error"]


# -- the storefront is paged --------------------------------------------------------------------------


def test_the_storefront_lists_one_page_at_a_time_and_every_product_once(make_shop, monkeypatch):
    from example_shop import storefront
    from example_shop.models import Category, Product, db

    monkeypatch.setattr(storefront, "PER_PAGE", 4)
    app = make_shop()
    with app.app_context():
        te, kaffe, hidden = Category(name="Te", active=True), Category(name="Kaffe", active=True), Category(name="Gömd", active=False)
        db.session.add_all([te, kaffe, hidden])
        products = [Product(sku=f"T-{i}", name=f"Te {i}", category=te, price_excl_vat=Decimal("10")) for i in range(5)]
        products += [Product(sku=f"K-{i}", name=f"Kaffe {i}", category=kaffe, price_excl_vat=Decimal("10")) for i in range(3)]
        products += [Product(sku=f"O-{i}", name=f"Övrigt {i}", price_excl_vat=Decimal("10")) for i in range(2)]
        products += [Product(sku="G-1", name="Gömd", category=hidden), Product(sku="X-1", name="Inaktiv", active=False)]
        parent = Product(sku="M-1", name="Kaffe modell", category=kaffe, price_excl_vat=Decimal("10"))
        products += [parent, Product(sku="M-1-L", name="Kaffe modell L", parent=parent, category=kaffe)]
        db.session.add_all(products)
        db.session.commit()
    c = app.test_client()
    seen: list[str] = []
    url, pages = "/", 0
    while url:
        html = c.get(url).get_data(as_text=True)
        pages += 1
        listed = re.findall(r'href="/product/([^"]+)"', html)
        assert 0 < len(listed) <= 4
        seen += listed
        nxt = re.search(r'<a rel="next" href="([^"]+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
        assert pages < 10
    assert pages == 3
    assert seen == ["K-0", "K-1", "K-2", "M-1", "T-0", "T-1", "T-2", "T-3", "T-4", "O-0", "O-1"]  # categories by name, "Övrigt" last
    assert 'rel="prev"' in c.get("/?page=2").get_data(as_text=True)
    assert "Kaffe modell L" in c.get("/").get_data(as_text=True)  # the variants of a listed product are shown with it
    for bad in ("0", "-1", "abc", "²", "9" * 20):
        assert c.get(f"/?page={bad}").status_code == 400, bad
    assert c.get("/?page=4").status_code == 404


# -- login throttling ---------------------------------------------------------------------------------


def test_repeated_wrong_passwords_lock_the_login_for_every_process_until_the_lockout_ends(make_shop):
    settings = {**ADMIN, "SHOP_LOGIN_MAX_FAILURES": 5, "SHOP_LOGIN_LOCKOUT_SECONDS": 2}
    one, two = make_shop(**settings), make_shop(**settings)  # two processes of one shop: one database
    attacker = one.test_client()
    assert [login(attacker, "boss", f"gissning-{i}") for i in range(5)] == [401] * 5
    assert login(attacker, "boss", ADMIN["SHOP_ADMIN_PASSWORD"]) == 429  # locked: not even the right password
    other = two.test_client()
    resp = other.post("/admin/login", data={"csrf_token": csrf(other), "username": "BOSS", "password": ADMIN["SHOP_ADMIN_PASSWORD"]})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    assert "För många misslyckade inloggningar" in resp.get_data(as_text=True)
    assert not logged_in(other)
    time.sleep(2.2)
    assert login(other, "boss", ADMIN["SHOP_ADMIN_PASSWORD"]) == 302 and logged_in(other)
    assert login(one.test_client(), "boss", "fel") == 401  # the count started again after the good login


def test_one_address_trying_many_names_is_locked_too(make_shop):
    app = make_shop(**ADMIN, SHOP_LOGIN_MAX_FAILURES_PER_IP=3)
    c = app.test_client()
    assert [login(c, f"namn-{i}", "fel") for i in range(3)] == [401] * 3
    assert login(c, "boss", ADMIN["SHOP_ADMIN_PASSWORD"]) == 429
    elsewhere = app.test_client()
    ok = elsewhere.post("/admin/login", data={"csrf_token": csrf(elsewhere), "username": "boss", "password": ADMIN["SHOP_ADMIN_PASSWORD"]},
                        environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert ok.status_code == 302  # another address is not locked out by this one


# -- logout ends the session on the server ------------------------------------------------------------


def test_a_copied_cookie_no_longer_opens_the_admin_after_logout(make_shop):
    app = make_shop(**ADMIN)
    admin = app.test_client()
    assert login(admin, "boss", ADMIN["SHOP_ADMIN_PASSWORD"]) == 302 and logged_in(admin)
    cookie = admin.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert logged_in(thief)  # the copy works while the admin is logged in
    token = re.search(r'name="csrf_token" value="([^"]+)" data-form="logout"', admin.get("/admin/").get_data(as_text=True)).group(1)
    assert admin.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    assert not logged_in(admin)
    assert not logged_in(thief)  # the copy ends with the logout
    assert thief.get("/admin/specter/status/").status_code in (302, 403)
    again = app.test_client()
    assert login(again, "boss", ADMIN["SHOP_ADMIN_PASSWORD"]) == 302 and logged_in(again)  # a new login works
    assert not logged_in(thief)


def test_the_throttle_limits_come_from_the_environment_as_whole_numbers():
    from example_shop.settings import from_environ

    assert from_environ({"SHOP_LOGIN_MAX_FAILURES": "3", "SHOP_LOGIN_LOCKOUT_SECONDS": "60"}) == {
        "SHOP_LOGIN_MAX_FAILURES": 3, "SHOP_LOGIN_LOCKOUT_SECONDS": 60}
    with pytest.raises(ValueError, match="SHOP_LOGIN_MAX_FAILURES_PER_IP"):
        from_environ({"SHOP_LOGIN_MAX_FAILURES_PER_IP": "många"})
