"""Swedish by default, English as an option: the catalogue, who picks the locale, På/Av, the shop's time zone."""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import request

from flask_specter import i18n
from tests.test_admin import close_app, make_admin_app, seed_demo_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOGUE = os.path.join(ROOT, "flask_specter", "translations", "en", "LC_MESSAGES", "flask_specter")
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "N_": None}
METHODS = [("flask_specter/**.py", "python"), ("flask_specter/admin/templates/**.html", "jinja2")]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")

# Flask-Admin's controls and the words the pages used to show, as a Swedish admin must never see them.
ENGLISH = ("List", "Create", "Add Filter", "With selected", "Search", "There are no items", "Save", "Delete", "Edit",
           "Activate", "Home", "Apply", "Outbox", "Queue", "Times are UTC")


def source_msgids() -> set[str]:
    found = extract_from_dir(ROOT, METHODS, keywords=KEYWORDS)
    return {message if isinstance(message, str) else message[0] for _file, _line, message, _comments, _ctx in found}


def test_every_swedish_string_has_an_english_translation_and_the_mo_is_compiled():
    """A new ``_()`` without English fails here: run ``make translations`` and fill in the .po."""
    with open(CATALOGUE + ".po", "rb") as f:
        po = read_po(f)
    with open(CATALOGUE + ".mo", "rb") as f:
        mo = read_mo(f)
    ids = source_msgids()
    assert len(ids) > 150  # the extraction found the code and the templates
    translated = {m.id: m.string for m in po if m.id and m.string and not m.fuzzy}
    missing = sorted(ids - set(translated))
    assert not missing, f"no English for {missing[:10]}: run `make translations` and translate them"
    for msgid in ids:
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(translated[msgid])), msgid
    compiled = {m.id: m.string for m in mo if m.id}
    assert all(compiled.get(msgid) == translated[msgid] for msgid in ids), "the .mo is older than the .po: run `make translations`"


@pytest.fixture
def pages(tmp_path):
    """Render every Specter page (and the host's admin index) of an app made with ``overrides``."""
    apps = []

    def render(**overrides) -> dict[str, str]:
        folder = tmp_path / f"app{len(apps)}"
        folder.mkdir()
        app = make_admin_app(folder, **overrides)
        apps.append(app)
        seed_demo_data(app)
        client = app.test_client()
        client.get("/_test/login")
        urls = ("/admin/", "/admin/specter/settings/", "/admin/specter/status/?sku=A1", "/admin/specter/transfer/",
                "/admin/specter/outbox/", "/admin/specter/exports/", "/admin/specter/exports/failures/1", "/_test/order/1001")
        out = {}
        for url in urls:
            resp = client.get(url)
            assert resp.status_code == 200, url
            out[url] = resp.get_data(as_text=True)
        return out

    yield render
    for app in apps:
        close_app(app)


def visible(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def english_words(text: str) -> list[str]:
    words = [w for w in ENGLISH if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]
    return words + re.findall(r"(?<![\w-])(?:true|false)(?![\w-])", text)


def test_swedish_by_default_with_flask_admins_own_controls_in_swedish(pages):
    html = pages()
    host_index = html.pop("/admin/")  # the host's own page: Flask-Admin's default language, see test_host_language.py
    assert "Synkstatus" in host_index and "Utkorg" in host_index  # the extension's menu entries speak SPECTER_LOCALE
    for url, page in html.items():
        assert not english_words(visible(page)), (url, english_words(visible(page)))
    transfer = html["/admin/specter/transfer/"]
    for word in ("Lista (3)", "Lägg till Filter", "Med utvalda", "Sök"):  # Flask-Admin's sv catalogue
        assert word in transfer
    settings = html["/admin/specter/settings/"]
    assert "Aktivera automatisk lagersynkronisering" in settings
    assert ">På</span>" in settings and ">Av</span>" in settings and "Standard: Av." in settings
    assert "Specter Business Management" not in settings
    status = html["/admin/specter/status/?sku=A1"]
    assert ">bekräftad</span>" in status and "första saldo" in status  # batch state and stock source as words
    assert "Utkorg" in status and "(confirmed)" not in status


def test_english_when_the_shop_chooses_it(pages):
    html = pages(SPECTER_LOCALE="en")
    settings = html["/admin/specter/settings/"]
    assert "Activate Automatic Stock Synchronization" in settings and "Save settings" in settings
    assert ">On</span>" in settings and "Default: Off." in settings
    transfer = html["/admin/specter/transfer/"]
    for word in ("List (3)", "Add Filter", "With selected", "Search", "Transfer order"):
        assert word in transfer
    assert "Sync status" in html["/admin/"] and "Outbox" in html["/admin/"]
    assert "The order could not be transferred to Specter." in html["/_test/order/1001"]
    assert "Kontrollera" not in visible(settings)


def test_a_hosts_own_babel_is_kept_and_decides_only_the_hosts_pages(tmp_path):
    """The host's selector says English (or, with ?lang=sv, Swedish); SPECTER_LOCALE="sv" decides the Specter pages."""
    from flask_babel import Babel

    def host_babel(app):
        Babel(app, locale_selector=lambda: request.args.get("lang", "en"))

    app = make_admin_app(tmp_path, before_specter=host_babel, SPECTER_LOCALE="sv")
    try:
        host_selector = app.extensions["babel"].locale_selector
        client = app.test_client()
        client.get("/_test/login")
        assert "Aktivera automatisk lagersynkronisering" in client.get("/admin/specter/settings/").get_data(as_text=True)
        outbox = client.get("/admin/specter/outbox/?lang=en").get_data(as_text=True)
        assert "Med utvalda" in outbox and "With selected" not in outbox
        assert "<title>Home - Testbutik</title>" in client.get("/admin/").get_data(as_text=True)  # the host's own page: its selector
        assert app.extensions["babel"].locale_selector is host_selector  # never swapped, not even for a moment
    finally:
        close_app(app)


def test_a_babel_set_up_after_the_extension_is_the_hosts_and_specter_pages_keep_specter_locale(tmp_path):
    from flask_babel import Babel

    app = make_admin_app(tmp_path)
    try:
        Babel(app, locale_selector=lambda: "en")
        client = app.test_client()
        client.get("/_test/login")
        outbox = client.get("/admin/specter/outbox/").get_data(as_text=True)
        assert "Med utvalda" in outbox and "With selected" not in outbox
        assert "<title>Home - Testbutik</title>" in client.get("/admin/").get_data(as_text=True)
    finally:
        close_app(app)


def test_times_are_shown_in_the_shops_time_zone_to_the_second(tmp_path):
    app = make_admin_app(tmp_path)
    try:
        with app.app_context():
            summer = dt.datetime(2024, 5, 2, 10, 30, 5, 123456)
            winter = dt.datetime(2024, 1, 2, 10, 30)
            assert i18n.local_time(summer) == "2024-05-02 12:30:05"  # CEST, no microseconds
            assert i18n.local_time(winter) == "2024-01-02 11:30:00"  # CET
            assert i18n.local_time(summer.replace(tzinfo=dt.UTC)) == "2024-05-02 12:30:05"
            assert i18n.local_time(None) == "—"
            app.config["SPECTER_TIMEZONE"] = "UTC"
            assert i18n.local_time(summer) == "2024-05-02 10:30:05"
    finally:
        close_app(app)
    (tmp_path / "utc").mkdir()
    other = make_admin_app(tmp_path / "utc", SPECTER_TIMEZONE="UTC")
    try:
        seed_demo_data(other)
        client = other.test_client()
        client.get("/_test/login")
        status = client.get("/admin/specter/status/").get_data(as_text=True)
        assert "2024-05-02 10:30:00" in status and "Tider i UTC" in status
    finally:
        close_app(other)


def test_outside_a_request_strings_stay_swedish_and_format_their_variables():
    assert i18n._("Försök hittills: %(attempts)s", attempts=3) == "Försök hittills: 3"
    assert str(i18n.lazy_gettext("Synkstatus")) == "Synkstatus"
    assert i18n.on_off(True) == "På" and i18n.on_off(False) == "Av"


def test_the_example_shop_admin_is_swedish(make_shop):
    app = make_shop(SHOP_ADMIN_USER="boss", SHOP_ADMIN_PASSWORD="hemligt-lösen-1")
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/admin/login").get_data(as_text=True)).group(1)
    assert client.post("/admin/login", data={"csrf_token": token, "username": "boss", "password": "hemligt-lösen-1"}).status_code == 302
    for url in ("/admin/", "/admin/product/", "/admin/specter/settings/", "/admin/specter/outbox/"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        text = visible(resp.get_data(as_text=True))
        assert not english_words(text), (url, english_words(text))
        assert "Exempelbutiken" in text
    products = visible(client.get("/admin/product/").get_data(as_text=True))
    assert "Skapa" in products and "Lägg till Filter" in products and "Sök" in products
