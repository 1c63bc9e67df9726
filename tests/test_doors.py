"""Doors: no state change on GET, logout by POST, the session cookie's flags, the example shop's JSON
API closed without a token, the demo login only in demo mode, SECRET_KEY required outside the demo.

Over real HTTP (``serve``) wherever a browser or a script would come that way.
"""

from __future__ import annotations

import re

import pytest
import requests

from example_shop import create_app

from .conftest import API_HEADERS

ADMIN = {"SHOP_ADMIN_USER": "boss", "SHOP_ADMIN_PASSWORD": "hemligt-lösen-1"}


def login(base_url: str, username: str, password: str) -> tuple[requests.Session, int]:
    s = requests.Session()
    page = s.get(f"{base_url}/admin/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = s.post(f"{base_url}/admin/login", data={"csrf_token": token, "username": username, "password": password}, timeout=10, allow_redirects=False)
    return s, resp.status_code


def logged_in(s: requests.Session, base_url: str) -> bool:
    return s.get(f"{base_url}/admin/product/", timeout=10, allow_redirects=False).status_code == 200


def page_csrf(s: requests.Session, url: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', s.get(url, timeout=10).text).group(1)


# --- 8.8: no state change on GET -------------------------------------------------------------------
def test_an_admin_get_of_get_specter_articles_starts_no_pull(make_shop, serve):
    app = make_shop(**ADMIN)
    served = serve(app)
    queue = app.extensions["specter"].queue.queue
    admin, status = login(served.url, ADMIN["SHOP_ADMIN_USER"], ADMIN["SHOP_ADMIN_PASSWORD"])
    assert status == 302
    url = f"{served.url}/specter/get_specter_articles"

    assert admin.get(url, timeout=10).status_code == 403  # a link in a mail, a prefetcher: nothing starts
    assert admin.post(url, data={}, timeout=10).status_code == 403  # no CSRF token: a forged form
    assert queue.count == 0

    token = page_csrf(admin, f"{served.url}/admin/specter/settings/")
    assert admin.post(url, data={"csrf_token": token}, timeout=10).text == "1;Done"  # the admin's own POST
    assert [j.func_name for j in queue.get_jobs()] == ["flask_specter.inbound.pulls.run_pull"]

    specter = requests.get(url, params={"token": app.config["SPECTER_CALLBACK_TOKEN"]}, timeout=10)
    assert specter.text == "1;Done"  # Specter calls with GET and its token: still works


def test_logout_is_a_post_with_csrf(make_shop, serve):
    app = make_shop(**ADMIN)
    served = serve(app)
    admin, _ = login(served.url, ADMIN["SHOP_ADMIN_USER"], ADMIN["SHOP_ADMIN_PASSWORD"])
    assert admin.get(f"{served.url}/admin/logout", timeout=10).status_code == 405
    assert admin.post(f"{served.url}/admin/logout", data={}, timeout=10).status_code == 200  # refused, with a message
    assert logged_in(admin, served.url)
    html = admin.get(f"{served.url}/admin/", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)" data-form="logout"', html).group(1)
    assert admin.post(f"{served.url}/admin/logout", data={"csrf_token": token}, timeout=10).status_code == 200
    assert not logged_in(admin, served.url)


def _session_cookie(resp) -> str:
    return next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session="))


def test_session_cookie_is_httponly_lax_and_secure_over_https(make_shop):
    app = make_shop(**ADMIN)
    plain = _session_cookie(app.test_client().get("/admin/login"))
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    secure = _session_cookie(app.test_client().get("/admin/login", base_url="https://shop.example.se"))
    assert "HttpOnly" in secure and "SameSite=Lax" in secure and "Secure" in secure
    configured = make_shop(SESSION_COOKIE_SECURE=True)  # behind a TLS proxy without ProxyFix
    assert "Secure" in _session_cookie(configured.test_client().get("/admin/login"))


# --- 8.10: the example shop's doors ------------------------------------------------------------------
def test_the_json_api_is_closed_without_a_token(make_shop, serve):
    app = make_shop(SHOP_API_TOKEN=None)
    with app.app_context():
        from example_shop.seed import seed

        seed()
    served = serve(app)
    api = f"{served.url}/api"
    assert requests.delete(f"{api}/products/KOPP-ASA", timeout=10).status_code == 403
    assert requests.delete(f"{api}/orders/1", timeout=10).status_code == 403
    refused = requests.get(f"{api}/customers/1", timeout=10)
    assert refused.status_code == 403 and "SHOP_API_TOKEN" in refused.json()["error"] and "@" not in refused.text
    assert requests.get(f"{api}/products/KOPP-ASA", timeout=10).status_code == 200  # the catalogue stays public
    assert any(p["sku"] == "KOPP-ASA" for p in requests.get(f"{api}/products", timeout=10).json())


def test_the_json_api_needs_the_bearer_token_when_set(make_shop, serve):
    app = make_shop()  # conftest's SHOP_API_TOKEN
    served = serve(app)
    body = {"email": "nils@example.se", "first_name": "Nils"}
    assert requests.post(f"{served.url}/api/customers", json=body, timeout=10).status_code == 401
    assert requests.post(f"{served.url}/api/customers", json=body, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    assert requests.post(f"{served.url}/api/customers", json=body, headers=API_HEADERS, timeout=10).status_code == 201


def test_the_demo_login_exists_only_in_demo_mode(make_shop, serve):
    demo = make_shop(SHOP_DEMO=True)
    served = serve(demo)
    assert login(served.url, "admin", "admin")[1] == 302

    for overrides in ({"SHOP_DEMO": False}, {"SHOP_DEMO": True, **ADMIN}, {"SHOP_DEMO": False, **ADMIN}):
        later = make_shop(**overrides)  # the same database, restarted with other settings
        served = serve(later)
        assert login(served.url, "admin", "admin")[1] == 401, overrides
    assert login(served.url, ADMIN["SHOP_ADMIN_USER"], ADMIN["SHOP_ADMIN_PASSWORD"])[1] == 302


@pytest.mark.parametrize("secret", [None, ""])
def test_outside_demo_mode_the_shop_refuses_to_start_without_secret_key(shop_config, secret):
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app({**shop_config, "SECRET_KEY": secret, "SHOP_DEMO": False})
    demo = create_app({**shop_config, "SECRET_KEY": secret, "SHOP_DEMO": True})  # a demo may use a random key
    try:
        assert demo.config["SECRET_KEY"]
    finally:
        demo.extensions["specter"].queue.stop_worker(timeout=2)
        with demo.app_context():
            demo.extensions["sqlalchemy"].engine.dispose()


def test_the_demo_sets_an_api_token_and_prints_it(running_demo):
    """``python -m example_shop.demo`` as a user runs it: the printed token opens the API, nothing else does."""
    token = running_demo.wait_for_output(r"JSON API: .*Authorization: Bearer (\S+?)\)").group(1)
    api = f"{running_demo.shop_url}/api"
    assert requests.get(f"{api}/customers/1", timeout=10).status_code == 401
    assert requests.get(f"{api}/customers/1", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
