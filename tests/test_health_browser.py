"""The sync-health chart and "Testa anslutningen" in Chromium, after a real sync through the sandbox:
the chart shows the stock rows, the calls, the batch and the lag; the test is all green on the happy path
and red with its cause for a wrong key and for an unreachable public address. Screenshots in
``tests/screenshots/``."""

from __future__ import annotations

import os

import pytest

from .conftest import CHROMIUM, SHOTS, shot, wait_until
from .test_checks import _with_worker
from .test_stock_sync import activate_served, seed, shop_stock

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}: the browser test needs Debian's chromium package"),
]

ADMIN = {"SHOP_ADMIN_USER": "butiksagare", "SHOP_ADMIN_PASSWORD": "hemligt-losen-1"}


def _check(page, url):
    page.goto(f"{url}/admin/specter/settings/")
    page.get_by_role("button", name="Testa anslutningen").click()
    page.locator(".specter-checks").wait_for()
    return {el.get_attribute("data-check"): el for el in page.locator(".specter-check").element_handles()}


def test_chart_after_a_real_sync_and_the_connection_test(make_shop, sandbox, serve, live_worker, page):
    app = _with_worker(make_shop, live_worker, SPECTER_CHECK_ALLOW_HTTP_LOOPBACK=True, **ADMIN)
    skus = seed(sandbox, app, 3, stock=10)
    served = activate_served(app, serve)
    with app.app_context():
        from flask_specter.service_articles import create_service_articles

        create_service_articles()
    sandbox.hooks.pos_sale(skus[0], 4)  # Butikskassa: Specter calls the shop, the worker pulls and applies
    wait_until(lambda: shop_stock(app)[skus[0]] == 6, message="the sale to reach the shop")

    page.goto(f"{served.url}/admin/login")
    page.fill("input[name=username]", ADMIN["SHOP_ADMIN_USER"])
    page.fill("input[name=password]", ADMIN["SHOP_ADMIN_PASSWORD"])
    page.get_by_role("button", name="Logga in").click()

    page.goto(f"{served.url}/admin/specter/status/")
    chart = page.locator("svg.specter-health-chart")
    chart.wait_for()
    assert chart.bounding_box()["width"] > 900
    rows = {el.get_attribute("data-key"): float(el.get_attribute("data-total")) for el in page.locator("g.specter-health-row").element_handles()}
    assert rows["stock_applied"] >= 1 and rows["callbacks_accepted"] >= 1 and rows["batches"] >= 1 and rows["callbacks_refused"] == 0
    assert page.locator('g.specter-health-row[data-key="lag"] rect title').count() >= 1  # a bar for the lag
    assert "Fördröjning till uppdaterat lager" in chart.inner_html()
    page.locator("#health").scroll_into_view_if_needed()
    shot(page, "h5_01_status_health_chart")
    page.locator("#health").screenshot(path=str(SHOTS / "h5_02_health_chart_card.png"))

    checks = _check(page, served.url)
    assert list(checks) == ["credentials", "callbacks", "public_url", "service_articles", "worker", "last_callbacks"]
    assert page.locator(".specter-check-ok").count() == 6, page.locator(".specter-checks").inner_text()
    assert page.locator(".specter-check-summary").inner_text() == "allt fungerar"
    shot(page, "h5_03_check_all_green")

    app.config["SPECTER_USER_KEY"] = "not-the-key"  # the check builds its client from the configuration as it is now
    _check(page, served.url)
    failed = page.locator('.specter-check-fail[data-check="credentials"]')
    assert "nekade signaturen" in failed.inner_text() and "Trolig orsak:" in failed.inner_text() and "SPECTER_USER_KEY" in failed.inner_text()
    shot(page, "h5_04_check_wrong_key")

    app.config["SPECTER_USER_KEY"] = sandbox.credentials["SPECTER_USER_KEY"]
    app.config["SPECTER_PUBLIC_URL"] = "http://127.0.0.1:1"
    _check(page, served.url)
    failed = page.locator('.specter-check-fail[data-check="public_url"]')
    assert "når inte" in failed.inner_text() and "DNS" in failed.inner_text()
    assert page.locator('.specter-check-ok[data-check="credentials"]').count() == 1
    shot(page, "h5_05_check_public_url_unreachable")
