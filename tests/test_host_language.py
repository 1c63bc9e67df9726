"""The host's language stays the host's: Specter's pages (and Flask-Admin's controls on them) follow
``SPECTER_LOCALE``, the host's own Flask-Admin pages follow the host's Flask-Babel, or Flask-Admin's
default (English) when the host has none. Rendered by the real test client, read as text."""

from __future__ import annotations

import re
import threading

import pytest
from flask_admin.contrib.sqla import ModelView

from tests.test_admin import Product, close_app, csrf_token, db, make_admin_app, seed_demo_data
from tests.test_i18n import visible

pytestmark = pytest.mark.timeout(120)

HOST_LIST = "/admin/product/"
HOST_FORM = "/admin/product/new/"
SPECTER_LIST = "/admin/specter/outbox/"
SPECTER_SETTINGS = "/admin/specter/settings/"

# Flask-Admin's own controls, in its default English and in its sv catalogue.
ADMIN_ENGLISH = ("List", "Create", "With selected", "Delete", "Home")
ADMIN_SWEDISH = ("Lista", "Skapa", "Med utvalda", "Ta bort", "Hem")
FORM_ENGLISH = ('value="Save"', "Cancel</a>")
FORM_SWEDISH = ('value="Spara"', "Avbryt</a>")


def words(text: str, candidates: tuple[str, ...]) -> set[str]:
    return {w for w in candidates if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)}


def host(tmp_path, *, babel: str | None = None, babel_after: bool = False, **overrides):
    """The admin test shop with its own Flask-Admin product page, and a Flask-Babel of its own speaking
    ``babel`` (made before ``Specter.init_app``, or after it with ``babel_after``), or none."""

    def host_setup(app):
        app.extensions["admin"][0].add_view(ModelView(Product, db, name="Products", endpoint="product"))
        if babel and not babel_after:
            from flask_babel import Babel

            Babel(app, locale_selector=lambda: babel)

    app = make_admin_app(tmp_path, before_specter=host_setup, **overrides)
    if babel and babel_after:
        from flask_babel import Babel

        Babel(app, locale_selector=lambda: babel)
    seed_demo_data(app)
    client = app.test_client()
    client.get("/_test/login")
    return app, client


def page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, url
    return visible(resp.get_data(as_text=True))


@pytest.fixture
def apps():
    made = []
    yield made
    for app in made:
        close_app(app)


def assert_host_english(client) -> None:
    listing, form = page(client, HOST_LIST), client.get(HOST_FORM).get_data(as_text=True)
    assert words(listing, ADMIN_ENGLISH) == set(ADMIN_ENGLISH), listing
    assert not words(listing, ADMIN_SWEDISH), words(listing, ADMIN_SWEDISH)
    assert all(w in form for w in FORM_ENGLISH) and not any(w in form for w in FORM_SWEDISH)


def assert_specter_swedish(client) -> None:
    listing, settings = page(client, SPECTER_LIST), page(client, SPECTER_SETTINGS)
    assert {"Lista", "Med utvalda", "Hem"} <= words(listing, ADMIN_SWEDISH), listing  # Flask-Admin's controls
    assert "Lägg till Filter" in listing and "Försök igen" in listing
    assert not words(listing, ADMIN_ENGLISH), words(listing, ADMIN_ENGLISH)
    assert "Aktivera automatisk lagersynkronisering" in settings and "Spara inställningar" in settings


def assert_specter_english(client) -> None:
    listing, settings = page(client, SPECTER_LIST), page(client, SPECTER_SETTINGS)
    assert {"List", "With selected", "Home"} <= words(listing, ADMIN_ENGLISH), listing
    assert "Add Filter" in listing and "Try again" in listing
    assert not words(listing, ADMIN_SWEDISH), words(listing, ADMIN_SWEDISH)
    assert "Activate Automatic Stock Synchronization" in settings and "Save settings" in settings


def test_a_host_without_babel_keeps_flask_admins_english_and_specter_pages_are_swedish(tmp_path, apps):
    app, client = host(tmp_path)
    apps.append(app)
    assert_host_english(client)
    assert_specter_swedish(client)
    assert_host_english(client)  # a Specter page leaves nothing behind for the next request


def test_a_host_without_babel_gets_english_specter_pages_from_specter_locale(tmp_path, apps):
    app, client = host(tmp_path, SPECTER_LOCALE="en")
    apps.append(app)
    assert_specter_english(client)
    assert_host_english(client)


@pytest.mark.parametrize("babel_after", [False, True], ids=["babel-before-init_app", "babel-after-init_app"])
def test_a_host_with_english_babel_keeps_english_and_specter_pages_are_swedish(tmp_path, apps, babel_after):
    app, client = host(tmp_path, babel="en", babel_after=babel_after, SPECTER_LOCALE="sv")
    apps.append(app)
    assert_host_english(client)
    assert_specter_swedish(client)
    assert_host_english(client)
    # A Specter form's flash speaks SPECTER_LOCALE, not the host's selector.
    saved = client.post("/admin/specter/settings/save", data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    assert "Inställningarna sparades." in saved.get_data(as_text=True)
    # The order panel on the host's own page is the extension's words: SPECTER_LOCALE.
    assert "Ordern kunde inte överföras till Specter." in client.get("/_test/order/1001").get_data(as_text=True)


def test_a_host_with_english_babel_and_specter_locale_en_is_english_everywhere(tmp_path, apps):
    app, client = host(tmp_path, babel="en", SPECTER_LOCALE="en")
    apps.append(app)
    assert_host_english(client)
    assert_specter_english(client)
    saved = client.post("/admin/specter/settings/save", data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    assert "The settings were saved." in saved.get_data(as_text=True)


def test_a_swedish_host_keeps_swedish_while_specter_pages_speak_english(tmp_path, apps):
    app, client = host(tmp_path, babel="sv", SPECTER_LOCALE="en")
    apps.append(app)
    listing = page(client, HOST_LIST)
    assert {"Lista", "Skapa", "Med utvalda"} <= words(listing, ADMIN_SWEDISH) and not words(listing, ("List", "Create", "With selected"))
    assert_specter_english(client)
    assert "The order could not be transferred to Specter." in client.get("/_test/order/1001").get_data(as_text=True)


def test_concurrent_requests_keep_their_own_language(tmp_path, apps):
    """The Specter pages switch the language per request (in ``g``), never the app's selector: host pages
    served by other threads at the same time stay English."""
    app, _client = host(tmp_path, babel="en", SPECTER_LOCALE="sv")
    apps.append(app)
    wrong: list[str] = []

    def browse(url: str, expected: tuple[str, ...], unexpected: tuple[str, ...]) -> None:
        client = app.test_client()
        client.get("/_test/login")
        for _ in range(25):
            text = visible(client.get(url).get_data(as_text=True))
            if not words(text, expected) or words(text, unexpected):
                wrong.append(f"{url}: {sorted(words(text, unexpected))}")

    threads = [
        threading.Thread(target=browse, args=(HOST_LIST, ("List", "Create"), ("Lista", "Skapa", "Hem"))),
        threading.Thread(target=browse, args=(SPECTER_LIST, ("Lista", "Med utvalda"), ("List", "With selected", "Home"))),
        threading.Thread(target=browse, args=(HOST_LIST, ("List", "Create"), ("Lista", "Skapa", "Hem"))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong, wrong[:5]
