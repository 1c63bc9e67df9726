"""The example shop's checkout is idempotent, and bad input to its API and forms is a 400, never a 500.

Real HTTP against a served shop; on PostgreSQL (``TEST_DATABASE_URL``) the NUL cases reach the driver
that cannot store them, on SQLite they pass through, so both must be run.
"""

from __future__ import annotations

import re
import threading

import pytest
import requests
from sqlalchemy import func, select

from ._push_fixtures import sandbox_orders
from .conftest import API_HEADERS, BUYER, wait_until


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def fill_cart(s: requests.Session, base: str, sku: str = "KOPP-ASA", qty: int = 2) -> None:
    token = csrf_of(s.get(f"{base}/product/{sku}", timeout=10).text)
    assert s.post(f"{base}/product/{sku}", data={"csrf_token": token, "sku": sku, "qty": qty}, timeout=10).status_code == 200


def checkout_page(s: requests.Session, base: str) -> dict:
    """The form fields a browser would send back: CSRF token and the cart's checkout key."""
    html = s.get(f"{base}/checkout", timeout=10).text
    key = re.search(r'name="checkout_key" type="hidden" value="([^"]+)"', html)
    assert key, "no checkout key in the form"
    return {"csrf_token": csrf_of(html), "checkout_key": key.group(1)}


def count_orders(app) -> int:
    from example_shop.models import Order

    with app.app_context():
        return app.extensions["sqlalchemy"].session.execute(select(func.count()).select_from(Order)).scalar_one()


@pytest.fixture
def shop(make_shop, serve):
    app = make_shop()
    with app.app_context():
        from example_shop.seed import seed

        seed()
    return app, serve(app)


def test_the_same_checkout_submitted_twice_at_once_makes_one_order(shop, sandbox, live_worker):
    app, served = shop
    from example_shop.seed import sandbox_articles

    sandbox.hooks.create_articles([*sandbox_articles(), {"articleNo": "frakt", "name": "Frakt", "priceExclVat": "0", "vatPercent": 25, "inStock": 0}])
    browser = requests.Session()
    fill_cart(browser, served.url)
    form = {**BUYER, **checkout_page(browser, served.url)}
    barrier = threading.Barrier(2)
    answers: list[requests.Response] = []

    def submit():
        twin = requests.Session()
        twin.cookies.update(browser.cookies)  # the same session cookie, the same form: a double click
        barrier.wait()
        answers.append(twin.post(f"{served.url}/checkout", data=form, timeout=30, allow_redirects=False))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in answers) == [302, 302], [r.text[:300] for r in answers]
    assert len({r.headers["Location"] for r in answers}) == 1  # both show the same order
    assert count_orders(app) == 1

    live_worker(app)
    wait_until(lambda: len(sandbox_orders(sandbox)) >= 1, message="the order to reach Specter")
    number = answers[0].headers["Location"].rsplit("/", 1)[-1]
    assert [o["externalOrderNo"] for o in sandbox_orders(sandbox)] == [number]

    again = requests.post(f"{served.url}/checkout", data=form, cookies=browser.cookies, timeout=30, allow_redirects=False)
    assert again.status_code == 302 and again.headers["Location"].endswith(number)  # a late retry finds it too
    assert count_orders(app) == 1


API_CASES = [
    ("post", "/api/orders", {"customer_id": 1, "lines": [{"sku": "KOPP-ASA", "qty": "²"}]}, "qty"),
    ("post", "/api/orders", {"customer_id": 1, "lines": [{"sku": "KOPP-ASA", "qty": "9" * 5000}]}, "qty"),
    ("post", "/api/orders", {"customer_id": "1" * 5000, "lines": [{"sku": "KOPP-ASA", "qty": 1}]}, "customer_id"),
    ("post", "/api/products", {"sku": "N-1", "name": "Ny", "price_excl_vat": "9" * 5000}, "price_excl_vat"),
    ("post", "/api/products", {"sku": "N-1", "name": "Ny", "price_excl_vat": "1", "stock": "²"}, "stock"),
    ("post", "/api/customers", {"email": "nul\u0000@example.se", "first_name": "A"}, "email"),
    ("post", "/api/customers", {"email": "b@example.se", "city": "Umeå\u0000"}, "city"),
    ("patch", "/api/customers/1", {"city": "Umeå\u0000"}, "city"),
    ("get", "/api/orders/WEB-\u00001", None, "NUL"),
    ("get", "/api/products/KOPP\u0000", None, "NUL"),
]


@pytest.mark.parametrize(("method", "path", "body", "reason"), API_CASES, ids=[f"{m} {p[:20]} {r}" for m, p, _, r in API_CASES])
def test_bad_api_input_is_a_400_with_a_reason(shop, method, path, body, reason):
    _app, served = shop
    resp = requests.request(method, served.url + path, json=body, headers=API_HEADERS, timeout=10)
    assert resp.status_code == 400, resp.text[:300]
    assert reason in resp.json()["error"]


@pytest.mark.parametrize("path", ["/api/orders/²", "/api/orders/" + "9" * 5000, "/api/customers/" + "9" * 30])
def test_ids_that_are_no_ids_are_not_found(shop, path):
    _app, served = shop
    resp = requests.get(served.url + path, headers=API_HEADERS, timeout=10)
    assert resp.status_code == 404 and resp.json()["error"]


@pytest.mark.parametrize("qty", ["²", "9" * 5000, "-1", "1.5"])
def test_bad_cart_quantity_is_a_400_and_keeps_the_cart(shop, qty):
    _app, served = shop
    s = requests.Session()
    fill_cart(s, served.url)
    token = csrf_of(s.get(f"{served.url}/cart", timeout=10).text)
    resp = s.post(f"{served.url}/cart", data={"csrf_token": token, "qty-KOPP-ASA": qty}, timeout=10)
    assert resp.status_code == 400 and "Ogiltigt antal" in resp.text
    assert 'value="2"' in s.get(f"{served.url}/cart", timeout=10).text


@pytest.mark.parametrize("field", ["city", "email", "comment"])
def test_nul_in_a_checkout_field_is_a_400_and_places_nothing(shop, field):
    app, served = shop
    s = requests.Session()
    fill_cart(s, served.url)
    form = {**BUYER, **checkout_page(s, served.url)}
    form[field] = "Väst\x00erås" if field != "email" else "karin\x00@example.se"
    resp = s.post(f"{served.url}/checkout", data=form, timeout=10, allow_redirects=False)
    assert resp.status_code == 400 and "NUL" in resp.text
    assert count_orders(app) == 0


def test_nul_in_the_login_and_product_address_is_a_400(shop):
    _app, served = shop
    s = requests.Session()
    token = csrf_of(s.get(f"{served.url}/admin/login", timeout=10).text)
    assert s.post(f"{served.url}/admin/login", data={"csrf_token": token, "username": "ad\x00min", "password": "x"}, timeout=10).status_code == 400
    assert requests.get(f"{served.url}/product/KOPP%00", timeout=10).status_code == 400
