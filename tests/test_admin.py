"""The Specter admin through Flask's test client: deny by default, CSRF on every change, toggles saved
to the database, Specter's failures shown as words (never a 500), and the "Överför order" wiring."""

from __future__ import annotations

import datetime as dt
import importlib
import re

import pytest
import redis
from flask import Flask, session
from flask_admin import Admin
from flask_sqlalchemy import SQLAlchemy
from markupsafe import escape
from sqlalchemy import select

from flask_specter import Specter, SQLAlchemyShopAdapter
from flask_specter.compat import admin_theme
from flask_specter.messages import SendResult, SendState
from flask_specter.models import Batch, ExportFailure, ExportRun, FeedState, OutboxEntry, SettingRow, StockHistory, StockLevel, StockRow
from flask_specter.settings import TOGGLES

pytestmark = pytest.mark.timeout(60)

db = SQLAlchemy()

USER_KEY = "user-key-NEVER-SHOWN-1234"
INTEGRATION_KEY = "integration-key-NEVER-SHOWN-5678"
TOKEN = "callback-token-NEVER-SHOWN-9abc"

ADMIN_URLS = [
    "/admin/specter/settings/",
    "/admin/specter/status/",
    "/admin/specter/transfer/",
    "/admin/specter/outbox/",
    "/admin/specter/exports/",
    "/admin/specter/exports/failures/1",
]
POST_URLS = [
    "/admin/specter/settings/save",
    "/admin/specter/settings/activate",
    "/admin/specter/settings/sync-stock",
    "/admin/specter/settings/pull-articles",
    "/admin/specter/exports/start/products",
    "/admin/specter/transfer/resend/1",
    "/admin/specter/transfer/action/",
]


class Product(db.Model):
    __tablename__ = "admin_test_product"
    id = db.Column(db.Integer, primary_key=True)
    sku = db.Column(db.String(64), unique=True, nullable=False)
    name = db.Column(db.String(100), nullable=False, default="")
    stock = db.Column(db.Integer, nullable=False, default=0)


class Order(db.Model):
    __tablename__ = "admin_test_order"
    id = db.Column(db.Integer, primary_key=True)
    number = db.Column(db.String(32))
    specter_order_no = db.Column(db.String(32))
    transfer_error = db.Column(db.Text)


def make_admin_app(tmp_path, *, with_admin: bool = True, before_specter=None, **overrides) -> Flask:
    """A tiny shop with Flask-Admin, the extension, and a test-only login that sets a session flag.

    ``before_specter(app)`` runs just before ``Specter(app, ...)`` (a host's own Flask-Babel, say)."""
    app = Flask("admin_test_shop")
    app.config.update(
        TESTING=True,
        SECRET_KEY="admin-test-secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'admin.sqlite3'}",
        WTF_CSRF_ENABLED=True,
        SPECTER_EMBEDDED_WORKER=False,
        SPECTER_SBM_ID="4711",
        SPECTER_API_USER_ID="api-user-1",
        SPECTER_USER_KEY=USER_KEY,
        SPECTER_INTEGRATION_KEY=INTEGRATION_KEY,
        SPECTER_CALLBACK_TOKEN=TOKEN,
        SPECTER_API_URL="http://127.0.0.1:9/",  # discard port: nothing listens, the connection is refused
        SPECTER_PUBLIC_URL="https://shop.example.se",
        SPECTER_TIMEOUT=2.0,
        SPECTER_ADMIN_ACCESS=lambda: session.get("specter_test_admin") is True,
    )
    app.config.update(overrides)
    db.init_app(app)
    with app.app_context():
        db.create_all()
    if with_admin:
        Admin(app, name="Testbutik", **admin_theme())
    if before_specter is not None:
        before_specter(app)
    Specter(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Product, order_model=Order), create_tables=True)

    @app.route("/_test/login")
    def _login():
        session["specter_test_admin"] = True
        return "logged in"

    @app.route("/_test/order/<order_id>")
    def _order_page(order_id):
        from flask_specter.admin import order_transfer_panel

        return f"<p>Betalningsmetod: Faktura</p>{order_transfer_panel(order_id)}"

    return app


def close_app(app: Flask) -> None:
    app.extensions["specter"].queue.stop_worker()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def seed_demo_data(app: Flask) -> None:
    """Enough rows for every section of the status, transfer and exports pages to show something."""
    now = dt.datetime(2024, 5, 2, 10, 30)
    from flask_specter.origin import suppress_outbox

    with app.app_context():
        s = db.session
        with suppress_outbox():
            s.add_all([Product(sku="A1", name="Kaffe", stock=3), Product(sku="B2", name="Te", stock=10)])
            s.add_all([Order(id=i, number=f"WEB-00{i}") for i in (1001, 1002, 1003)])
            s.commit()
        stock = s.get(FeedState, "stock")
        stock.last_success_at = now
        stock.last_callback_at = now
        articles = s.get(FeedState, "articles")
        articles.last_error = "Specter could not be reached for getArticleInfoExternalNeedUpdate: ConnectionError"
        articles.last_error_at = now
        articles.failures = 2
        b1 = Batch(feed="stock", batch_no="20240502103001", state="confirmed", rows=2, recovered=True, fetched_at=now, confirmed_at=now)
        b2 = Batch(feed="stock", batch_no="20240502103502", state="confirmed", rows=3, fetched_at=now, confirmed_at=now)
        s.add_all([b1, b2])
        s.flush()
        s.add_all(
            [
                StockRow(batch_id=b1.id, sku="A1", available=5, state="superseded"),
                StockRow(batch_id=b2.id, sku="A1", available=3, state="applied", applied_at=now),
                StockRow(batch_id=b2.id, sku="B2", available=10, state="pending"),
                StockRow(batch_id=b2.id, sku="GHOST-9", available=4, state="unknown"),
                StockLevel(sku="A1", available=3, batch_id=b2.id),
                StockHistory(sku="A1", old=None, new=8, source="initial", detail="first stock figure", created_at=now - dt.timedelta(days=1)),
                StockHistory(sku="A1", old=8, new=5, source="order", detail="order 1001", created_at=now - dt.timedelta(hours=2)),
                StockHistory(sku="A1", old=5, new=3, source="specter", batch_no="20240502103502", detail="POS sale in store", created_at=now),
                OutboxEntry(kind="order", op="create", ref="1001", state="failed", attempts=3, permanent=True,
                            last_error="Specter error 21 (unknown article): articleNo 'X-9' is unknown", created_at=now),
                OutboxEntry(kind="order", op="create", ref="1002", state="sent", attempts=1, remote_id="SO-555", created_at=now, sent_at=now),
                OutboxEntry(kind="order", op="create", ref="1003", state="pending", attempts=1, last_error="Specter did not answer newOrderSubmit within 30 s",
                            next_attempt_at=now + dt.timedelta(minutes=5), created_at=now),
                OutboxEntry(kind="product", op="update", ref="A1", state="pending", created_at=now),
                OutboxEntry(kind="customer", op="create", ref="7", state="sent", remote_id="K-17", created_at=now, sent_at=now),
            ]
        )
        run = ExportRun(kind="products", state="running", total=10, done=3, failed=1, started_at=now)
        s.add(run)
        s.flush()
        s.add(ExportFailure(run_id=run.id, ref="Z-1", error="Specter error 20 (invalid field): 'price' is invalid"))
        s.commit()


@pytest.fixture
def app(tmp_path):
    app = make_admin_app(tmp_path)
    yield app
    close_app(app)


@pytest.fixture
def admin(app):
    """A test client logged in as a user the host allows into the Specter admin."""
    client = app.test_client()
    client.get("/_test/login")
    return client


def csrf_token(client, url: str = "/admin/specter/settings/") -> str:
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def stored_settings(app) -> dict[str, str]:
    with app.app_context():
        return {row.key: row.value for row in db.session.execute(select(SettingRow)).scalars()}


def fake_module(monkeypatch, name: str, **functions) -> None:
    """Replace functions of a sibling module (the outbox's resend) so these tests check only the admin's wiring."""
    module = importlib.import_module(f"flask_specter.{name}")
    for key, fn in functions.items():
        monkeypatch.setattr(module, key, fn)


# deny by default ----------------------------------------------------------------------------------


def test_anonymous_is_denied_on_every_specter_admin_url(app):
    client = app.test_client()
    for url in ADMIN_URLS:
        assert client.get(url).status_code == 403, url
    for url in POST_URLS:
        assert client.post(url, data={}).status_code == 403, url


def test_without_an_access_callable_nobody_gets_in(tmp_path):
    app = make_admin_app(tmp_path, SPECTER_ADMIN_ACCESS=None)
    try:
        client = app.test_client()
        client.get("/_test/login")
        assert client.get("/admin/specter/settings/").status_code == 403
    finally:
        close_app(app)


def test_anonymous_is_sent_to_the_hosts_login_when_it_names_one(tmp_path):
    app = make_admin_app(tmp_path, SPECTER_ADMIN_LOGIN_URL="/login")
    try:
        resp = app.test_client().get("/admin/specter/status/?sku=A1")
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/login?next=/admin/specter/status/")
    finally:
        close_app(app)


def test_the_specter_pages_appear_in_the_admin_menu_only_for_the_allowed(app, admin):
    menu = admin.get("/admin/").get_data(as_text=True)
    for label in ("Inställningar &amp; Design", "Synkstatus", "Specter-överföring", "Kunder &amp; Beställningar"):
        assert label in menu
    assert "Synkstatus" not in app.test_client().get("/admin/").get_data(as_text=True)


# settings page ------------------------------------------------------------------------------------


def test_admin_sees_every_toggle_with_label_help_and_default_and_no_secret(admin):
    resp = admin.get("/admin/specter/settings/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for toggle in TOGGLES:
        assert str(escape(toggle.label)) in html
        assert str(escape(toggle.help)) in html
        assert f'name="{toggle.key}"' in html
    for group in ("Lager", "Produkter", "Ordrar", "Kunder"):
        assert f">{group}</div>" in html
    # connection settings: ids and URLs shown, secrets never
    assert "4711" in html and "api-user-1" in html and "http://127.0.0.1:9/" in html
    for secret in (USER_KEY, INTEGRATION_KEY, TOKEN):
        assert secret not in html
    assert "token=***" in html
    assert "https://shop.example.se/specter/callback/stock?token=***" in html
    for label in ("Aktivera automatisk lagersynkronisering", "Uppdatera lager", "Hämta produkter från Specter", "Exportera kunder"):
        assert label in html
    assert 'action="/admin/specter/exports/start/customers"' in html  # the export page's own start button
    assert 'href="/admin/specter/exports/#export-products"' in html  # its card: progress and restart


def test_saving_without_a_csrf_token_is_refused_and_changes_nothing(app, admin):
    resp = admin.post("/admin/specter/settings/save", data={"send_order_mail": "y"})
    assert resp.status_code == 400
    assert "säkerhetstoken" in resp.get_data(as_text=True)
    assert stored_settings(app) == {}
    with app.app_context():
        assert app.extensions["specter"].settings.get("send_order_mail") is False


def test_saving_with_a_csrf_token_stores_every_toggle(app, admin):
    token = csrf_token(admin)
    # a browser sends only the checked boxes: send_order_mail on, everything else off
    resp = admin.post("/admin/specter/settings/save", data={"csrf_token": token, "send_order_mail": "y"}, follow_redirects=True)
    assert resp.status_code == 200
    assert "Inställningarna sparades" in resp.get_data(as_text=True)
    stored = stored_settings(app)
    assert stored["send_order_mail"] == "true"
    assert stored["delete_in_specter"] == "false"
    assert set(stored) == {t.key for t in TOGGLES}
    with app.app_context():
        assert app.extensions["specter"].settings.get("send_order_mail") is True


def test_every_button_refuses_a_post_without_csrf_token(app, admin, monkeypatch):
    called = []
    monkeypatch.setattr("flask_specter.admin.export_page.start_export", called.append)
    for url in POST_URLS[1:5]:
        assert admin.post(url, data={}).status_code == 400, url
    assert called == []
    assert app.extensions["specter"].queue.queue.count == 0


def test_activate_against_an_unreachable_specter_says_so_instead_of_failing(admin):
    token = csrf_token(admin)
    resp = admin.post("/admin/specter/settings/activate", data={"csrf_token": token}, follow_redirects=True)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "alert-danger" in html
    assert "Specter gick inte att nå" in html
    assert TOKEN not in html


def test_activate_with_wrong_credentials_says_the_credentials_are_wrong(tmp_path, sandbox):
    app = make_admin_app(tmp_path, **{**sandbox.credentials, "SPECTER_USER_KEY": "not-the-right-key"})
    try:
        client = app.test_client()
        client.get("/_test/login")
        resp = client.post("/admin/specter/settings/activate", data={"csrf_token": csrf_token(client)}, follow_redirects=True)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200
        assert "nekade inloggningen" in html
        assert "not-the-right-key" not in html
    finally:
        close_app(app)


def test_activate_against_specter_registers_the_callbacks(tmp_path, sandbox):
    app = make_admin_app(tmp_path, **sandbox.credentials)
    try:
        client = app.test_client()
        client.get("/_test/login")
        resp = client.post("/admin/specter/settings/activate", data={"csrf_token": csrf_token(client)}, follow_redirects=True)
        html = resp.get_data(as_text=True)
        assert "alert-success" in html and "Automatisk lagersynkronisering är aktiverad" in html
        assert sandbox.hooks.calls("checkAccountSettings"), "Specter never got checkAccountSettings"
    finally:
        close_app(app)


def test_uppdatera_lager_against_an_unreachable_specter_is_an_error_message(admin):
    resp = admin.post("/admin/specter/settings/sync-stock", data={"csrf_token": csrf_token(admin)}, follow_redirects=True)
    assert resp.status_code == 200
    assert "Uppdatera lager misslyckades" in resp.get_data(as_text=True)


def test_pulling_articles_queues_a_pull_and_warns_while_import_is_off(app, admin):
    resp = admin.post("/admin/specter/settings/pull-articles", data={"csrf_token": csrf_token(admin)}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Produkthämtning från Specter startad" in html
    assert "Importera produkter från Specter" in html and "alert-warning" in html
    assert app.extensions["specter"].queue.queue.count == 1


def test_export_buttons_start_the_export_and_show_its_progress(app, admin, monkeypatch):
    started = []
    monkeypatch.setattr("flask_specter.admin.export_page.start_export", lambda kind, restart=False: started.append((kind, restart)) or ExportRun(done=0))
    seed_demo_data(app)
    page = admin.get("/admin/specter/exports/").get_data(as_text=True)
    assert 'action="/admin/specter/exports/start/customers"' in page and "Ingen export har körts ännu" in page
    assert "3 / 10" in page and "Fortsätt exporten" in page and "Börja om från början" in page  # the running products export
    assert "Z-1" in page and "&#39;price&#39; is invalid" in page  # its refused row, on the page itself
    assert '<meta http-equiv="refresh"' in page  # follows the run while it runs
    token = csrf_token(admin, "/admin/specter/exports/")
    resp = admin.post("/admin/specter/exports/start/customers", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["Location"] == "/admin/specter/exports/#export-customers"
    admin.post("/admin/specter/exports/start/products", data={"csrf_token": token, "restart": "1"})
    assert started == [("customers", False), ("products", True)]
    html = admin.get("/admin/specter/exports/").get_data(as_text=True)
    assert "Exportera kunder: startad." in html and "Exportera produkter: startad om från början." in html
    failures = admin.get("/admin/specter/exports/failures/1").get_data(as_text=True)
    assert "Z-1" in failures and "&#39;price&#39; is invalid" in failures
    assert admin.post("/admin/specter/exports/start/everything", data={"csrf_token": token}).status_code == 404


def test_export_start_without_a_csrf_token_is_refused_and_starts_nothing(app, admin):
    refused = admin.post("/admin/specter/exports/start/products", data={})
    assert refused.status_code == 400 and "säkerhetstoken" in refused.get_data(as_text=True)
    assert admin.post("/admin/specter/exports/start/products", data={"csrf_token": "forged"}).status_code == 400
    assert admin.get("/admin/specter/exports/start/products").status_code == 405
    with app.app_context():
        assert db.session.execute(select(ExportRun)).first() is None
    assert app.extensions["specter"].queue.queue.count == 0


def test_export_start_with_the_queue_down_says_so(app, admin, monkeypatch):
    def queue_down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app.extensions["specter"].queue, "enqueue", queue_down)
    token = csrf_token(admin, "/admin/specter/exports/")
    resp = admin.post("/admin/specter/exports/start/products", data={"csrf_token": token}, follow_redirects=True)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "alert-danger" in html and "Exportera produkter misslyckades" in html


def test_export_addresses_lead_an_admin_to_the_export_page_and_start_nothing_on_get(app, admin):
    for kind, card in (("products", "products"), ("products_stock", "products"), ("customers", "customers")):
        resp = admin.get(f"/specter/export_{kind}")
        assert resp.status_code == 302 and resp.headers["Location"] == f"/admin/specter/exports/#export-{card}"
    assert app.test_client().get("/specter/export_products").status_code == 403
    assert app.test_client().post("/specter/export_products").status_code == 403
    assert admin.post("/specter/export_products", data={"csrf_token": "forged"}).status_code == 400
    with app.app_context():
        assert db.session.execute(select(ExportRun)).first() is None
    assert app.extensions["specter"].queue.queue.count == 0


def test_export_addresses_without_flask_admin_say_where_the_export_is(tmp_path):
    app = make_admin_app(tmp_path, with_admin=False)
    try:
        client = app.test_client()
        client.get("/_test/login")
        resp = client.get("/specter/export_products")
        assert resp.status_code == 404 and "flask specter export" in resp.get_data(as_text=True)
        assert app.test_client().get("/specter/export_products").status_code == 403
    finally:
        close_app(app)


def test_export_addresses_send_the_anonymous_to_the_hosts_login(tmp_path):
    app = make_admin_app(tmp_path, SPECTER_ADMIN_LOGIN_URL="/login")
    try:
        resp = app.test_client().get("/specter/export_customers")
        assert resp.status_code == 302 and resp.headers["Location"] == "/login?next=/specter/export_customers"
    finally:
        close_app(app)


# sync status ------------------------------------------------------------------------------------


def test_status_page_shows_feeds_rows_batches_and_unknown_skus(app, admin):
    seed_demo_data(app)
    html = admin.get("/admin/specter/status/").get_data(as_text=True)
    assert "Lagersaldo" in html and "2024-05-02 12:30:00" in html  # 10:30 UTC in Europe/Stockholm (summer time)
    assert "2 misslyckade i rad" in html and "getArticleInfoExternalNeedUpdate" in html
    assert "20240502103001" in html and "återhämtad (99)" in html
    assert "GHOST-9" in html
    assert "1 uppdaterade" in html and "1 kvar" in html and "50%" in html


def test_stock_history_lookup_explains_why_a_product_shows_3(app, admin):
    seed_demo_data(app)
    html = admin.get("/admin/specter/status/?sku=A1").get_data(as_text=True)
    assert "5 &rarr; <strong>3</strong>" in html
    assert "POS sale in store" in html and "order 1001" in html
    assert html.index("POS sale in store") < html.index("order 1001")  # newest first
    lookup = html[html.index("specter-lookup") :]
    assert '<div class="h4">3</div>' in lookup  # the shop's figure
    missing = admin.get("/admin/specter/status/?sku=NOPE").get_data(as_text=True)
    assert "finns inte i butiken" in missing and "Ingen historik" in missing


# orders transfer --------------------------------------------------------------------------------


def test_transfer_page_lists_only_orders_with_reason_and_button(app, admin):
    seed_demo_data(app)
    html = admin.get("/admin/specter/transfer/").get_data(as_text=True)
    assert "articleNo &#39;X-9&#39; is unknown" in html
    assert "kräver åtgärd" in html and "SO-555" in html
    assert 'action="/admin/specter/transfer/resend/1001"' in html
    assert 'action="/admin/specter/transfer/resend/1002"' not in html  # sent: nothing to do
    assert "/admin/specter/transfer/new/" not in html and "/edit/" not in html
    outbox = admin.get("/admin/specter/outbox/").get_data(as_text=True)
    assert "K-17" in outbox and "Produkt" in outbox


def test_transfer_page_shows_an_order_that_waits_until_it_is_ready(app, admin):
    from flask_specter.messages import ORDER_NOT_READY

    with app.app_context():
        db.session.add(OutboxEntry(kind="order", op="create", ref="1004", state="pending", attempts=0, last_error=ORDER_NOT_READY))
        db.session.commit()
    html = admin.get("/admin/specter/transfer/").get_data(as_text=True)
    assert "väntar: ordern är inte klar" in html
    assert "Väntar: ordern är inte klar att skickas" in html  # the reason, in the Orsak column
    assert 'action="/admin/specter/transfer/resend/1004"' in html


def test_resend_button_needs_a_token_and_flashes_the_outbox_answer(app, admin, monkeypatch):
    sent = []

    def resend_order(order_id):
        sent.append(order_id)
        return SendResult(order_id, SendState.SENT, specter_no="SO-900")

    fake_module(monkeypatch, "outbound.resend", resend_order=resend_order)
    seed_demo_data(app)
    refused = admin.post("/admin/specter/transfer/resend/1001", data={}, follow_redirects=True)
    assert "säkerhetstoken" in refused.get_data(as_text=True) and sent == []
    token = csrf_token(admin, "/admin/specter/transfer/")
    resp = admin.post("/admin/specter/transfer/resend/1001", data={"csrf_token": token, "next": "/_test/order/1001"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/_test/order/1001"
    evil = admin.post("/admin/specter/transfer/resend/1001", data={"csrf_token": token, "next": "https://evil.example/"})
    assert evil.headers["Location"] == "/admin/specter/transfer/"
    assert sent == ["1001", "1001"]
    page = admin.get("/admin/specter/transfer/").get_data(as_text=True)
    assert "Ordern är överförd till Specter (ordernummer SO-900)." in page and "alert-success" in page


def test_bulk_action_resends_the_selected_orders(app, admin, monkeypatch):
    batches = []

    def resend_orders(ids):
        batches.append(list(ids))
        return [SendResult(i, SendState.FAILED, error="Specter svarade inte i tid.") for i in ids]

    fake_module(monkeypatch, "outbound.resend", resend_orders=resend_orders)
    seed_demo_data(app)
    with app.app_context():
        ids = [str(e.id) for e in db.session.execute(select(OutboxEntry).where(OutboxEntry.ref.in_(["1001", "1003", "A1"]))).scalars()]
    no_token = admin.post("/admin/specter/transfer/action/", data={"action": "resend", "rowid": ids})
    assert no_token.status_code == 302 and batches == []
    token = csrf_token(admin, "/admin/specter/transfer/")
    resp = admin.post("/admin/specter/transfer/action/", data={"csrf_token": token, "action": "resend", "rowid": ids}, follow_redirects=True)
    assert sorted(batches[0]) == ["1001", "1003"]  # the product row is not an order
    html = resp.get_data(as_text=True)
    assert "1003: Ordern kunde inte överföras: Specter svarade inte i tid." in html and "alert-warning" in html


def test_order_transfer_panel_for_the_hosts_order_page(app, admin):
    seed_demo_data(app)
    failed = admin.get("/_test/order/1001").get_data(as_text=True)
    assert "Ordern kunde inte överföras till Specter." in failed
    assert "articleNo &#39;X-9&#39; is unknown" in failed
    assert 'action="/admin/specter/transfer/resend/1001"' in failed
    assert re.search(r'name="csrf_token" value="[^"]+"', failed)
    assert 'name="next" value="/_test/order/1001"' in failed
    assert "specter-transfer-panel" not in admin.get("/_test/order/1002").get_data(as_text=True)  # in Specter
    assert "specter-transfer-panel" not in admin.get("/_test/order/4040").get_data(as_text=True)  # never queued
    assert "specter-transfer-panel" not in app.test_client().get("/_test/order/1001").get_data(as_text=True)  # not an admin


@pytest.fixture
def protected_app(tmp_path):
    from flask_wtf.csrf import CSRFProtect

    app = make_admin_app(tmp_path)
    CSRFProtect(app)
    yield app
    close_app(app)


def test_forms_pass_the_hosts_global_csrf_protect(protected_app, monkeypatch):
    app = protected_app
    admin = app.test_client()
    admin.get("/_test/login")
    batches = []
    fake_module(monkeypatch, "outbound.resend", resend_orders=lambda ids: batches.append(list(ids)) or [])
    seed_demo_data(app)
    token = csrf_token(admin)
    saved = admin.post("/admin/specter/settings/save", data={"csrf_token": token, "delete_orders": "y"}, follow_redirects=True)
    assert "Inställningarna sparades" in saved.get_data(as_text=True)
    assert stored_settings(app)["delete_orders"] == "true"
    assert admin.post("/admin/specter/settings/save", data={"delete_orders": "y"}).status_code == 400
    with app.app_context():
        entry_id = db.session.execute(select(OutboxEntry.id).where(OutboxEntry.ref == "1001")).scalar()
    admin.post("/admin/specter/transfer/action/", data={"csrf_token": token, "action": "resend", "rowid": [str(entry_id)]})
    assert batches == [["1001"]]
