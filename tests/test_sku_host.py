"""A host whose natural SKU is a slug longer than Specter's 50 characters keeps working (issue 23, 2.10).

Its own Flask-Admin product form refuses such a SKU with a form error in SPECTER_LOCALE (Swedish by
default) and keeps what was typed; its own API, which knows nothing of Specter, saves the product, and
the product is recorded as not sent: one failed outbox row with the Swedish reason, shown in the admin.
No 500 anywhere. Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask, jsonify, request, session
from flask_admin import Admin, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select

from flask_specter import Specter, SQLAlchemyShopAdapter
from flask_specter.models import OutboxEntry

from .conftest import _database_url, _redis_url, _reset_database, close_shop, drain_outbox

pytestmark = pytest.mark.timeout(120)

db = SQLAlchemy()

SLUG_80 = "ekologiskt-mellanrostat-kaffe-fran-etiopien-yirgacheffe-500-gram-hela-bonor-2024"  # 80 characters
SLUG_60 = "ekologiskt-mellanrostat-kaffe-fran-etiopien-yirgacheffe-500g"  # 60: fits the outbox's 64
SKU_50 = SLUG_80[:50]


class SlugProduct(db.Model):
    __tablename__ = "slug_host_product"
    id = db.Column(db.Integer, primary_key=True)
    sku = db.Column(db.String(200), unique=True, nullable=False)  # the host's slug: no 50-character limit
    name = db.Column(db.String(200), nullable=False)
    stock = db.Column(db.Integer, nullable=False, default=0)


class ImportView(BaseView):
    """The host's own admin page that saves products (a CSV import, say): it catches nothing."""

    @expose("/", methods=["POST"])
    def index(self):
        db.session.add(SlugProduct(sku=request.form["sku"], name="Importerad", stock=0))
        db.session.commit()
        return "importerad"


def make_host(tmp_path, sandbox, **overrides) -> Flask:
    url = _database_url(tmp_path)
    _reset_database(url)
    app = Flask("slug_host")
    app.config.update(
        TESTING=True,
        SECRET_KEY="slug-host-secret",
        SQLALCHEMY_DATABASE_URI=url if not url.startswith("postgresql://") else url.replace("postgresql://", "postgresql+psycopg://", 1),
        SPECTER_EMBEDDED_WORKER=False,
        SPECTER_REDIS_URL=_redis_url(),
        SPECTER_QUEUE_NAME=f"slug-{tmp_path.name[-20:]}",
        SPECTER_SWEEP_INTERVAL=0,
        SPECTER_ADMIN_ACCESS=lambda: session.get("admin") is True,
        **sandbox.credentials,
    )
    app.config.update(overrides)
    db.init_app(app)
    with app.app_context():
        db.create_all()
    admin = Admin(app, name="Slugbutiken", theme=Bootstrap4Theme())
    admin.add_view(ModelView(SlugProduct, db, name="Products", endpoint="products"))  # the host's own, plain view
    admin.add_view(ImportView(name="Import", endpoint="product_import"))
    Specter(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=SlugProduct), create_tables=True)

    @app.post("/api/products")
    def create_product():  # the host's own API: it knows nothing of Specter
        body = request.get_json()
        db.session.add(SlugProduct(sku=body["sku"], name=body["name"], stock=0))
        db.session.commit()
        return jsonify(sku=body["sku"]), 201

    @app.patch("/api/products/<int:product_id>")
    def update_product(product_id: int):
        product = db.session.get(SlugProduct, product_id)
        for key in ("sku", "name"):
            if key in request.get_json():
                setattr(product, key, request.get_json()[key])
        db.session.commit()
        return jsonify(sku=product.sku)

    @app.delete("/api/products/<int:product_id>")
    def delete_product(product_id: int):
        db.session.delete(db.session.get(SlugProduct, product_id))
        db.session.commit()
        return "", 204

    @app.get("/_test/login")
    def login():
        session["admin"] = True
        return "ok"

    return app


@pytest.fixture
def host(tmp_path, sandbox):
    apps = []

    def make(**overrides):
        folder = tmp_path / f"host{len(apps)}"
        folder.mkdir()
        app = make_host(folder, sandbox, **overrides)
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_shop(app)


def rows(app, model):
    with app.app_context():
        db.session.remove()
        return list(db.session.execute(select(model).order_by(model.id)).scalars())


def product_id(app, sku: str) -> int:
    return next(p.id for p in rows(app, SlugProduct) if p.sku == sku)


def test_the_hosts_flask_admin_form_refuses_a_long_slug_with_a_swedish_form_error(host):
    app = host()
    client = app.test_client()
    form = {"sku": SLUG_80, "name": "Kaffe Yirgacheffe", "stock": "3"}
    resp = client.post("/admin/products/new/", data=form)
    assert resp.status_code == 200  # the form again, not a 500
    html = resp.get_data(as_text=True)
    assert "Artikelnumret (SKU) kan inte användas i Specter: det är 80 tecken långt, Specter tar högst 50 tecken." in html
    assert f'value="{SLUG_80}"' in html and 'value="Kaffe Yirgacheffe"' in html  # what was typed is kept
    assert "cannot be used as a Specter article number" not in html  # no English, no exception text
    assert rows(app, SlugProduct) == [] and rows(app, OutboxEntry) == []
    resp = client.post("/admin/products/new/", data={**form, "sku": SKU_50})
    assert resp.status_code == 302
    assert [p.sku for p in rows(app, SlugProduct)] == [SKU_50]
    assert [(r.op, r.ref, r.state) for r in rows(app, OutboxEntry)] == [("create", SKU_50, "pending")]
    # Renaming to a slug in the same form: refused alike, the product keeps its SKU.
    edit = client.post(f"/admin/products/edit/?id={product_id(app, SKU_50)}", data={**form, "sku": SLUG_60})
    assert edit.status_code == 200 and "det är 60 tecken långt" in edit.get_data(as_text=True)
    assert [p.sku for p in rows(app, SlugProduct)] == [SKU_50]


def test_the_form_error_follows_specter_locale(host):
    app = host(SPECTER_LOCALE="en")
    resp = app.test_client().post("/admin/products/new/", data={"sku": SLUG_80, "name": "Coffee", "stock": "0"})
    assert resp.status_code == 200
    assert "The SKU cannot be used as an article number in Specter: it is 80 characters long; Specter takes at most 50." in resp.get_data(as_text=True)


def test_a_long_slug_saved_elsewhere_keeps_the_host_working_and_is_recorded_as_not_sent(host, sandbox):
    app = host()
    client = app.test_client()
    for sku in (SLUG_80, SLUG_60, SKU_50):
        assert client.post("/api/products", json={"sku": sku, "name": "Kaffe"}).status_code == 201
    assert [p.sku for p in rows(app, SlugProduct)] == [SLUG_80, SLUG_60, SKU_50]
    refused = [r for r in rows(app, OutboxEntry) if r.state == "failed"]
    reason = "Artikelnumret (SKU) kan inte användas i Specter: det är %d tecken långt, Specter tar högst 50 tecken."
    assert [(r.op, r.ref, r.permanent, r.last_error) for r in refused] == [
        ("create", SLUG_80[:64], True, reason % 80 + f" SKU: {SLUG_80}"),  # the outbox holds 64: the full SKU in the reason
        ("create", SLUG_60, True, reason % 60),
    ]
    # Later saves of the same product add nothing; deleting it sends nothing (it was never in Specter).
    assert client.patch(f"/api/products/{product_id(app, SLUG_60)}", json={"name": "Kaffe, nytt namn"}).status_code == 200
    assert client.delete(f"/api/products/{product_id(app, SLUG_80)}").status_code == 204
    assert len(rows(app, OutboxEntry)) == 3
    # The drain sends what Specter can take, and never the refused ones.
    drain_outbox(app)
    articles = {a["articleNo"] for a in sandbox.hooks.state()["articles"]}
    assert articles == {SKU_50}  # nothing cut short and sent under another name
    assert [r.state for r in rows(app, OutboxEntry)] == ["failed", "failed", "sent"]
    # The admin sees why, in Swedish, with "kräver åtgärd".
    client.get("/_test/login")
    outbox = client.get("/admin/specter/outbox/")
    assert outbox.status_code == 200
    page = outbox.get_data(as_text=True)
    assert "det är 60 tecken långt, Specter tar högst 50 tecken." in page and "kräver åtgärd" in page
    # Renamed to a SKU Specter takes: sent as usual.
    assert client.patch(f"/api/products/{product_id(app, SLUG_60)}", json={"sku": "kaffe-yirgacheffe-500g"}).status_code == 200
    drain_outbox(app)
    assert "kaffe-yirgacheffe-500g" in {a["articleNo"] for a in sandbox.hooks.state()["articles"]}


def test_a_sku_with_a_semicolon_gets_its_own_reason(host):
    app = host()
    assert app.test_client().post("/api/products", json={"sku": "kaffe;500g", "name": "Kaffe"}).status_code == 201
    (row,) = rows(app, OutboxEntry)
    assert row.state == "failed" and "semikolon" in row.last_error and re.search(r"\\bSKU: ", row.last_error) is None


def test_the_hosts_own_admin_page_that_saves_a_long_slug_keeps_working(host):
    """Only Flask-Admin's own create/edit saves show the refusal as a form error; any other admin page
    (which may catch nothing) saves, and the product is recorded as not sent."""
    app = host()
    resp = app.test_client().post("/admin/product_import/", data={"sku": SLUG_80})
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "importerad"
    assert [p.sku for p in rows(app, SlugProduct)] == [SLUG_80]
    assert [(r.op, r.state) for r in rows(app, OutboxEntry)] == [("create", "failed")]
