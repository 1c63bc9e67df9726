"""The Specter admin in a real browser (Chromium through Playwright) over real HTTP: log in, flip
"Skicka orderbekräftelse från Specter", save, see the flash and the database change, then walk the status,
transfer, outbox and exports pages. Screenshots land in ``tests/screenshots/`` for a human to look at."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from flask_specter.messages import SendResult, SendState
from flask_specter.models import SettingRow
from tests.conftest import CHROMIUM, shot
from tests.test_admin import close_app, db, make_admin_app, seed_demo_data
from tests.test_i18n import english_words

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}: the browser test needs Debian's chromium package"),
]


@contextmanager
def serve(app):
    """``app`` on a free loopback port; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def live(tmp_path, monkeypatch):
    """The test shop served on a free loopback port, with demo rows and a recorded "Överför order"."""
    import flask_specter.outbound.resend as outbox

    resent: list[str] = []

    def resend_order(order_id):
        resent.append(str(order_id))
        return SendResult(str(order_id), SendState.SENT, specter_no=f"SO-{order_id}")

    monkeypatch.setattr(outbox, "resend_order", resend_order)
    monkeypatch.setattr(outbox, "resend_orders", lambda ids: [resend_order(i) for i in ids])
    app = make_admin_app(tmp_path)
    seed_demo_data(app)
    try:
        with serve(app) as url:
            yield app, url, resent
    finally:
        close_app(app)


def test_admin_in_a_browser(live, page):
    app, url, resent = live
    page.goto(f"{url}/admin/specter/settings/")
    assert "Forbidden" in page.content()  # not logged in yet
    page.goto(f"{url}/_test/login")

    # settings: flip the toggle the seed describes, save, see the flash and the stored value
    page.goto(f"{url}/admin/specter/settings/")
    shot(page, "01_settings")
    toggle = page.locator("#toggle-send_order_mail")
    assert not toggle.is_checked()
    page.locator("label[for=toggle-send_order_mail]").click()
    assert toggle.is_checked()
    page.get_by_role("button", name="Spara inställningar").click()
    page.locator(".alert-success", has_text="Inställningarna sparades").wait_for()
    assert page.locator("#toggle-send_order_mail").is_checked()
    shot(page, "02_settings_saved")
    with app.app_context():
        assert db.session.execute(select(SettingRow.value).where(SettingRow.key == "send_order_mail")).scalar() == "true"

    # activation against a Specter nobody runs: a clear error, not a crash
    page.get_by_role("button", name="Aktivera automatisk lagersynkronisering").click()
    page.locator(".alert-danger", has_text="Specter gick inte att nå").wait_for()
    shot(page, "03_activate_unreachable")

    # sync status with one SKU's history
    page.goto(f"{url}/admin/specter/status/")
    page.fill("#sku", "A1")
    page.get_by_role("button", name="Visa historik").click()
    page.locator(".specter-history", has_text="POS sale in store").wait_for()
    shot(page, "04_status_history")

    # orders transfer: the row button, then the bulk action through Flask-Admin's own JavaScript
    page.goto(f"{url}/admin/specter/transfer/")
    shot(page, "05_transfer")
    page.locator("form[action$='/resend/1001'] button").click()
    page.locator(".alert-success", has_text="SO-1001").wait_for()
    assert resent == ["1001"]
    page.locator("input.action-checkbox").first.check()
    page.locator("input.action-checkbox").nth(1).check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Med utvalda").click()  # Flask-Admin's "With selected", from its sv catalogue
    page.locator(".dropdown-menu a", has_text="Överför order").click()
    page.locator(".alert-success", has_text="SO-1003").wait_for()
    assert sorted(resent[1:]) == ["1002", "1003"]
    shot(page, "06_transfer_resent")

    page.goto(f"{url}/admin/specter/outbox/")
    shot(page, "07_outbox")
    # exports: the fixed address leads to the admin's page; the running export is resumed by its button
    page.goto(f"{url}/specter/export_products")
    assert page.url == f"{url}/admin/specter/exports/#export-products"
    card = page.locator("#export-products")
    assert card.locator(".progress-bar", has_text="3 / 10").count() == 1
    assert card.locator(".specter-export-failures", has_text="'price' is invalid").count() == 1
    card.get_by_role("button", name="Fortsätt exporten").click()
    page.locator(".alert-success", has_text="Exportera produkter: fortsätter där den slutade").wait_for()
    shot(page, "08_exports")

    # the host's own order page with the panel under "Betalningsmetod"
    page.goto(f"{url}/_test/order/1001")
    shot(page, "09_order_panel")
    page.get_by_role("button", name="Överför order").click()
    page.wait_for_url(f"{url}/_test/order/1001")
    assert resent[-1] == "1001"


# every page in Swedish (and in English when the shop says so) -----------------------------------------

PAGES = (
    ("admin_index", "/admin/"),
    ("settings", "/admin/specter/settings/"),
    ("status", "/admin/specter/status/?sku=A1"),
    ("transfer", "/admin/specter/transfer/"),
    ("outbox", "/admin/specter/outbox/"),
    ("exports", "/admin/specter/exports/"),
    ("export_failures", "/admin/specter/exports/failures/1"),
    ("order_panel", "/_test/order/1001"),
)


def page_text(page) -> str:
    """What a reader sees: the rendered text, the open menus and filter lists, placeholders and tooltips."""
    return "\n".join(
        [page.inner_text("body")]
        + page.eval_on_selector_all("[placeholder], [title]", "els => els.map(e => (e.placeholder || '') + ' ' + (e.title || ''))")
        + page.eval_on_selector_all(".dropdown-menu a, option", "els => els.map(e => e.textContent.trim())")
    )


def walk(tmp_path, page, prefix: str, **overrides) -> dict[str, str]:
    app = make_admin_app(tmp_path, **overrides)
    seed_demo_data(app)
    texts = {}
    try:
        with serve(app) as url:
            page.goto(f"{url}/_test/login")
            for name, path in PAGES:
                page.goto(f"{url}{path}")
                if name == "outbox":  # the "Lägg till Filter" list open: Flask-Admin's own words
                    page.locator("a.dropdown-toggle", has_text="Filter").first.click()
                texts[name] = page_text(page)
                shot(page, f"{prefix}_{name}")
    finally:
        close_app(app)
    return texts


def test_every_specter_page_is_swedish_with_no_english_control_text(tmp_path, page):
    texts = walk(tmp_path, page, "sv")
    host_index = texts.pop("admin_index")  # the host's own page keeps Flask-Admin's English (test_host_language.py)
    assert "Synkstatus" in host_index  # the extension's menu entries follow SPECTER_LOCALE
    for name, text in texts.items():
        assert not english_words(text), (name, english_words(text))
    assert "Med utvalda" in texts["transfer"] and "Lägg till Filter" in texts["outbox"] and "Sök" in texts["outbox"]
    assert "Aktivera automatisk lagersynkronisering" in texts["settings"] and "På" in texts["settings"]
    assert "Väntar" in texts["outbox"] and "Misslyckades" in texts["outbox"]  # the filter's choices by their labels
    assert "2024-05-02 12:30:00" in texts["status"]  # 10:30 UTC, in Europe/Stockholm


def test_english_is_one_setting_away(tmp_path, page):
    texts = walk(tmp_path, page, "en", SPECTER_LOCALE="en")
    assert "Activate Automatic Stock Synchronization" in texts["settings"] and "Off" in texts["settings"]
    assert "With selected" in texts["transfer"] and "Add Filter" in texts["outbox"] and "Failed" in texts["outbox"]
    assert "Sync status" in texts["admin_index"] and "Transfer order" in texts["order_panel"]
