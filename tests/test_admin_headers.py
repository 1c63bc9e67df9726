"""Issue 25 §6: the Specter admin pages (and the callback blueprint's admin POST) are never framed and
never MIME-sniffed, so a one-click POST button cannot be clickjacked; the host's own pages keep theirs."""

from __future__ import annotations

import pytest
from flask_admin import BaseView, expose

from tests.test_admin import ADMIN_URLS, close_app, csrf_token, make_admin_app, seed_demo_data

pytestmark = pytest.mark.timeout(60)


class HostPage(BaseView):  # type: ignore[misc]  # flask_admin ships no types
    """One of the host's own Flask-Admin pages: the extension must leave its headers alone."""

    @expose("/")  # type: ignore[untyped-decorator]
    def index(self):
        return "host admin page"


@pytest.fixture
def app(tmp_path):
    app = make_admin_app(tmp_path)
    app.extensions["admin"][0].add_view(HostPage(name="Butik", endpoint="host_page", url="host"))

    @app.route("/")
    def storefront():
        return "<h1>Butiken</h1>"

    seed_demo_data(app)
    yield app
    close_app(app)


def assert_guarded(resp) -> None:
    assert resp.headers.get("X-Frame-Options") == "DENY", resp.request.path
    assert "frame-ancestors 'none'" in resp.headers.get("Content-Security-Policy", ""), resp.request.path
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", resp.request.path


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_every_specter_admin_page_is_never_framed(app, url):
    client = app.test_client()
    client.get("/_test/login")
    resp = client.get(url)
    assert resp.status_code == 200
    assert_guarded(resp)


def test_the_one_click_post_answers_are_never_framed(app):
    client = app.test_client()
    client.get("/_test/login")
    token = csrf_token(client)
    resp = client.post("/admin/specter/settings/sync-stock", data={"csrf_token": token})
    assert resp.status_code in (200, 302, 303)
    assert_guarded(resp)
    refused = client.post("/admin/specter/exports/start/products", data={})  # no CSRF token: the page again, 400
    assert refused.status_code == 400
    assert_guarded(refused)
    pull = client.post("/specter/get_specter_articles", data={"csrf_token": token})  # the callback blueprint's admin POST
    assert pull.status_code == 200 and pull.data == b"1;Done"
    assert_guarded(pull)


def test_the_hosts_own_pages_keep_their_headers(app):
    client = app.test_client()
    client.get("/_test/login")
    for url in ("/admin/host/", "/", "/_test/order/1001"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        for name in ("X-Frame-Options", "Content-Security-Policy", "X-Content-Type-Options"):
            assert name not in resp.headers, (url, name)

