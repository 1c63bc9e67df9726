"""The sandbox page in a real browser: a person sells an item in Specter's "Butikskassa", Specter calls
the shop, the shop's stock follows, and the page shows the callback and the shop's answer. The shop is
served over HTTP, the sandbox runs as its own process, a real RQ worker pulls, and Chromium clicks."""

from __future__ import annotations

import os

import pytest

from .conftest import CHROMIUM, shot, wait_until
from .test_stock_sync import activate_served, callback, seed, shop_stock

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}: the browser test needs Debian's chromium package"),
]


def test_a_sale_on_the_sandbox_page_reaches_the_shop(make_shop, sandbox, serve, live_worker, page):
    app = make_shop()
    [sku, other] = seed(sandbox, app, 2, stock=10)
    activate_served(app, serve)
    live_worker(app)
    callback(app)
    wait_until(lambda: shop_stock(app) == {sku: 10, other: 11}, message="the first stock sync")

    page.goto(sandbox.url)
    row = page.locator(f'tr[data-article="{sku}"]')
    assert row.locator("td.in-stock").inner_text() == "10"
    sale = page.locator("form#pos-sale")
    sale.get_by_label("Artikelnummer").fill(sku)
    sale.get_by_label("Antal sålda").fill("3")
    sale.get_by_role("button", name="Sälj i butikskassan").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == f"Sålde 3 st {sku} i butikskassan: 7 i lager, 7 disponibelt."
    assert row.locator("td.in-stock").inner_text() == "7"
    shot(page, "20_sandbox_page_sale_done")

    wait_until(lambda: shop_stock(app)[sku] == 7, message="the shop to follow the sale")  # Specter called, the shop pulled
    assert shop_stock(app)[other] == 11
    sandbox.hooks.wait_callbacks()
    page.reload()
    latest = page.locator("tr.callback").first
    assert "Lagerändring" in latest.inner_text() and "200" in latest.inner_text() and "OK" in latest.inner_text()
    assert "token=***" in latest.inner_text() and app.config["SPECTER_CALLBACK_TOKEN"] not in page.content()
    page.locator("#pos-sale details summary").click()  # the same action as a JSON hook, shown on the page
    assert "POST /_sandbox/pos-sale" in page.locator("#pos-sale details pre").inner_text()
    shot(page, "21_sandbox_page_shop_answered")
