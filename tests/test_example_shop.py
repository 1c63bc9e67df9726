"""The example shop: JSON API, admin access, storefront checkout, config from the environment.

Each test gets a fresh app and SQLite file; Specter is unreachable and no worker thread runs, so jobs
only queue (these tests are about the shop's side of the contract, not the wire).
"""

from __future__ import annotations

import re

import pytest

from example_shop import create_app
from example_shop.models import Order, Product, db
from example_shop.seed import seed
from example_shop.settings import database_uri, from_environ
from flask_specter.models import StockLevel

from .conftest import API_TOKEN, BUYER, api_client


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
            "SPECTER_API_URL": "http://127.0.0.1:9/",
            "SPECTER_EMBEDDED_WORKER": False,
            "REDIS_URL": None,
            "SPECTER_REDIS_URL": None,
            "SHOP_API_TOKEN": API_TOKEN,
            "SHOP_DEMO": False,
            "SHOP_ADMIN_USER": "boss",
            "SHOP_ADMIN_PASSWORD": "hemligt-lösen",
        }
    )
    with app.app_context():
        seed()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return api_client(app)


def csrf(html: bytes) -> str:
    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        rb'id="csrf_token" name="csrf_token"[^>]*value="([^"]+)"', html
    )
    assert match, "no csrf token in the form"
    return match.group(1).decode()


def logout_csrf(html: bytes) -> str:
    """The CSRF token of the admin's "Logga ut" form (logging out is a POST)."""
    return re.search(rb'name="csrf_token" value="([^"]+)" data-form="logout"', html).group(1).decode()


def stock(app, sku: str) -> int:
    with app.app_context():
        return db.session.execute(db.select(Product.stock).where(Product.sku == sku)).scalar_one()


# --- products --------------------------------------------------------------------------------------
def test_product_crud(client):
    resp = client.post(
        "/api/products", json={"sku": "VAS-1", "name": "Vas Göta", "price_excl_vat": "120", "stock": 7, "category": "Hem & Inredning"}
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["price_excl_vat"] == "120.00" and resp.json["stock"] == 7 and resp.json["category"] == "Hem & Inredning"
    assert client.post("/api/products", json={"sku": "VAS-1", "name": "x", "price_excl_vat": 1}).status_code == 409

    product = client.get("/api/products/VAS-1").json
    assert {k: product[k] for k in ("sku", "name", "stock", "vat_percent", "active", "parent_sku")} == {
        "sku": "VAS-1",
        "name": "Vas Göta",
        "stock": 7,
        "vat_percent": "25.00",
        "active": True,
        "parent_sku": None,
    }
    assert "VAS-1" in {p["sku"] for p in client.get("/api/products").json}

    resp = client.patch("/api/products/VAS-1", json={"name": "Vas Göta stor", "price_excl_vat": 150.5, "stock": 9})
    assert (
        resp.status_code == 200
        and resp.json["name"] == "Vas Göta stor"
        and resp.json["price_excl_vat"] == "150.50"
        and resp.json["stock"] == 9
    )

    assert client.delete("/api/products/VAS-1").status_code == 200
    assert client.get("/api/products/VAS-1").status_code == 404
    assert client.delete("/api/products/VAS-1").status_code == 404


def test_variants_carry_parent_sku(client):
    assert client.get("/api/products/TSHIRT-M").json["parent_sku"] == "TSHIRT"
    assert client.get("/api/products/TSHIRT").json["variants"] == ["TSHIRT-L", "TSHIRT-M", "TSHIRT-S"]
    resp = client.post("/api/products", json={"sku": "TSHIRT-XL", "name": "T-shirt XL", "price_excl_vat": "159.20", "parent_sku": "TSHIRT"})
    assert resp.status_code == 201 and resp.json["parent_sku"] == "TSHIRT" and resp.json["category"] == "Kläder"
    assert client.delete("/api/products/TSHIRT").status_code == 409  # has variants


@pytest.mark.parametrize(
    "body",
    [
        {"name": "no sku", "price_excl_vat": 1},
        {"sku": "A B", "name": "space in sku", "price_excl_vat": 1},
        {"sku": "X1", "name": "negative", "price_excl_vat": -1},
        {"sku": "X1", "name": "not a number", "price_excl_vat": "tio"},
        {"sku": "X1", "name": "too precise", "price_excl_vat": "1.001"},
        {"sku": "X1", "name": "bad stock", "price_excl_vat": 1, "stock": -3},
        {"sku": "X1", "name": "bool stock", "price_excl_vat": 1, "stock": True},
        {"sku": "X1", "price_excl_vat": 1},
        {"sku": "X1", "name": "unknown field", "price_excl_vat": 1, "colour": "red"},
    ],
)
def test_bad_product_input_is_400(client, body):
    resp = client.post("/api/products", json=body)
    assert resp.status_code == 400 and resp.json["error"]


def test_non_json_and_unknown_routes_answer_json(client):
    assert client.post("/api/products", data="sku=X", content_type="application/x-www-form-urlencoded").status_code == 400
    assert client.post("/api/products", data="{not json", content_type="application/json").json["error"]
    assert client.get("/api/nothing-here").json["error"]
    assert client.put("/api/products/KOPP-ASA", json={}).status_code == 405


def test_stock_patch_on_specter_managed_product_is_409(app, client):
    with app.app_context():  # as if Specter's stock feed had reported the article
        db.session.add(StockLevel(sku="KOPP-ASA", available=40, in_stock=40, batch_id=1))
        db.session.commit()
    resp = client.patch("/api/products/KOPP-ASA", json={"stock": 5})
    assert resp.status_code == 409 and "Specter" in resp.json["error"]
    assert stock(app, "KOPP-ASA") == 40
    assert client.patch("/api/products/KOPP-ASA", json={"stock": 40, "name": "Kaffekopp Åsa blå"}).status_code == 200  # same figure: fine
    assert client.patch("/api/products/TEKANNA-BJORK", json={"stock": 2}).status_code == 200  # not in Specter: shop decides


# --- customers -------------------------------------------------------------------------------------
def test_customers(client):
    resp = client.post("/api/customers", json={"email": "Nils@Example.se", "first_name": "Nils", "last_name": "Ödmark", "city": "Umeå"})
    assert resp.status_code == 201 and resp.json["email"] == "nils@example.se" and resp.json["country"] == "SE"
    cid = resp.json["id"]
    assert client.post("/api/customers", json={"email": "nils@example.se"}).status_code == 409
    resp = client.patch(f"/api/customers/{cid}", json={"company": "Ödmark AB", "org_no": "556000-0001", "zip": "903 25", "country": "se"})
    assert resp.status_code == 200 and resp.json["company"] == "Ödmark AB" and resp.json["country"] == "SE"
    assert client.patch(f"/api/customers/{cid}", json={"email": "asa.oberg@example.se"}).status_code == 409
    assert client.patch(f"/api/customers/{cid}", json={"email": "not-an-address"}).status_code == 400
    assert client.patch("/api/customers/9999", json={"city": "Luleå"}).status_code == 404
    assert client.post("/api/customers", json={"first_name": "No mail"}).status_code == 400


# --- orders ----------------------------------------------------------------------------------------
def test_order_decrements_stock_and_reads_back(app, client):
    resp = client.post(
        "/api/orders",
        json={
            "customer_id": 1,
            "lines": [{"sku": "TSHIRT-L", "qty": 2}, {"sku": "KOPP-ASA", "qty": 1}],
            "payment_method": "swish",
            "shipping_price_excl_vat": "49",
        },
    )
    assert resp.status_code == 201, resp.json
    order_id, number = resp.json["id"], resp.json["number"]
    assert re.fullmatch(r"WEB-\d{6}", number)
    assert stock(app, "TSHIRT-L") == 1 and stock(app, "KOPP-ASA") == 39

    order = client.get(f"/api/orders/{order_id}").json
    assert order["status"] == "received" and order["number"] == number
    assert {k: order[k] for k in ("specter_order_no", "transfer_error", "tracking_no", "invoice_id")} == dict.fromkeys(
        ("specter_order_no", "transfer_error", "tracking_no", "invoice_id")
    )
    assert [(line["sku"], line["qty"]) for line in order["lines"]] == [("TSHIRT-L", 2), ("KOPP-ASA", 1)]
    assert client.get(f"/api/orders/{number}").json["id"] == order_id

    assert client.delete(f"/api/orders/{order_id}").status_code == 200
    assert client.get(f"/api/orders/{order_id}").status_code == 404


def test_short_stock_is_409_and_changes_nothing(app, client):
    with app.app_context():
        orders_before = db.session.query(Order).count()
    resp = client.post("/api/orders", json={"customer_id": 1, "lines": [{"sku": "KOPP-ASA", "qty": 1}, {"sku": "TSHIRT-L", "qty": 4}]})
    assert resp.status_code == 409 and resp.json["sku"] == "TSHIRT-L"
    assert stock(app, "TSHIRT-L") == 3 and stock(app, "KOPP-ASA") == 40
    with app.app_context():
        assert db.session.query(Order).count() == orders_before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"customer_id": 9999, "lines": [{"sku": "KOPP-ASA", "qty": 1}]}, 404),
        ({"customer_id": 1, "lines": [{"sku": "NOPE", "qty": 1}]}, 404),
        ({"customer_id": 1, "lines": [{"sku": "KOPP-ASA", "qty": 0}]}, 400),
        ({"customer_id": 1, "lines": [{"sku": "KOPP-ASA", "qty": "två"}]}, 400),
        ({"customer_id": 1, "lines": []}, 400),
        ({"customer_id": 1}, 400),
        ({"lines": [{"sku": "KOPP-ASA", "qty": 1}]}, 400),
        ({"customer_id": "x", "lines": [{"sku": "KOPP-ASA", "qty": 1}]}, 400),
        ({"customer_id": 1, "lines": [{"sku": "KOPP-ASA", "qty": 1}], "payment_method": "bitcoin"}, 400),
        ({"customer_id": 1, "lines": [{"sku": "KOPP-ASA", "qty": 1}], "shipping_price_excl_vat": -5}, 400),
        ({"customer_id": 1, "lines": "KOPP-ASA"}, 400),
    ],
)
def test_bad_order_input(client, body, status):
    resp = client.post("/api/orders", json=body)
    assert resp.status_code == status and resp.json["error"]


def test_api_token_when_set(app, client):
    app.config["SHOP_API_TOKEN"] = "s3cret-token"
    body = {"sku": "T1", "name": "Token", "price_excl_vat": 1}
    assert client.post("/api/products", json=body).status_code == 401
    assert client.post("/api/products", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/api/products", json=body, headers={"Authorization": "Bearer s3cret-token"}).status_code == 201
    assert client.get("/api/products/T1").status_code == 200  # the catalogue stays public


# --- admin -----------------------------------------------------------------------------------------
def test_admin_requires_login(client):
    resp = client.get("/admin/product/")
    assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]
    assert client.get("/admin/").status_code == 302

    page = client.get("/admin/login?next=/admin/product/")
    bad = client.post("/admin/login?next=/admin/product/", data={"csrf_token": csrf(page.data), "username": "boss", "password": "fel"})
    assert bad.status_code == 401
    assert client.get("/admin/product/").status_code == 302

    page = client.get("/admin/login?next=/admin/product/")
    resp = client.post(
        "/admin/login?next=/admin/product/", data={"csrf_token": csrf(page.data), "username": "boss", "password": "hemligt-lösen"}
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/product/")
    listing = client.get("/admin/product/")
    assert listing.status_code == 200 and b"KOPP-ASA" in listing.data and b"Katalog &amp; Produkter" in listing.data
    assert client.get("/admin/order/").status_code == 200

    client.post("/admin/logout", data={"csrf_token": logout_csrf(client.get("/admin/").data)})
    assert client.get("/admin/product/").status_code == 302


def test_login_never_redirects_off_site(client):
    page = client.get("/admin/login")
    resp = client.post(
        "/admin/login?next=//evil.example/", data={"csrf_token": csrf(page.data), "username": "boss", "password": "hemligt-lösen"}
    )
    assert resp.headers["Location"] == "/admin/"


def test_stock_field_read_only_when_specter_managed(app, client):
    page = client.get("/admin/login")
    client.post("/admin/login", data={"csrf_token": csrf(page.data), "username": "boss", "password": "hemligt-lösen"})
    with app.app_context():
        db.session.add(StockLevel(sku="KOPP-ASA", available=40, in_stock=40, batch_id=1))
        db.session.commit()
        managed_id = db.session.execute(db.select(Product.id).where(Product.sku == "KOPP-ASA")).scalar_one()
        free_id = db.session.execute(db.select(Product.id).where(Product.sku == "PLAD-ULL")).scalar_one()
    managed = client.get(f"/admin/product/edit/?id={managed_id}").data.decode()
    assert re.search(r'<input[^>]*id="stock"[^>]*readonly', managed) and "Specter är lagermaster" in managed
    free = client.get(f"/admin/product/edit/?id={free_id}").data.decode()
    assert not re.search(r'<input[^>]*id="stock"[^>]*readonly', free)


def test_admin_save_cannot_change_specter_stock(app, client):
    """A tampered form (readonly removed) still cannot move Specter's figure; other fields still save."""
    page = client.get("/admin/login")
    client.post("/admin/login", data={"csrf_token": csrf(page.data), "username": "boss", "password": "hemligt-lösen"})
    with app.app_context():
        db.session.add(StockLevel(sku="KOPP-ASA", available=40, in_stock=40, batch_id=1))
        db.session.commit()
        product = db.session.execute(db.select(Product).where(Product.sku == "KOPP-ASA")).scalar_one()
        url, category_id = f"/admin/product/edit/?id={product.id}", product.category_id
    form = {
        "sku": "KOPP-ASA",
        "name": "Kaffekopp Åsa",
        "price_excl_vat": "79.20",
        "vat_percent": "25",
        "active": "y",
        "category": str(category_id),
    }
    resp = client.post(url, data={**form, "csrf_token": csrf(client.get(url).data), "stock": "5"}, follow_redirects=True)
    assert "Lagersaldot för KOPP-ASA styrs av Specter" in resp.data.decode() and stock(app, "KOPP-ASA") == 40  # the extension's form error
    resp = client.post(
        url, data={**form, "csrf_token": csrf(client.get(url).data), "stock": "40", "name": "Kaffekopp Åsa blå"}, follow_redirects=True
    )
    assert "styrs av Specter" not in resp.data.decode()
    with app.app_context():
        assert db.session.execute(db.select(Product.name).where(Product.sku == "KOPP-ASA")).scalar_one() == "Kaffekopp Åsa blå"


# --- storefront ------------------------------------------------------------------------------------
def checkout_form(token: str, **overrides) -> dict:
    return {**BUYER, "csrf_token": token, **overrides}


def test_storefront_checkout(app, client):
    home = client.get("/").data.decode()
    assert "Kaffekopp Åsa" in home and "TSHIRT-M" in home  # variants listed under their parent

    page = client.get("/product/TSHIRT")
    resp = client.post("/product/TSHIRT", data={"csrf_token": csrf(page.data), "sku": "TSHIRT-S", "qty": 2})
    assert resp.status_code == 302
    assert "TSHIRT-S" in client.get("/cart").data.decode()

    page = client.get("/checkout")
    resp = client.post("/checkout", data=checkout_form(csrf(page.data)))
    assert resp.status_code == 302, resp.data.decode()[:2000]
    confirmation = client.get(resp.headers["Location"]).data.decode()
    assert "Tack för din beställning" in confirmation and "skickas av butiken" in confirmation
    assert stock(app, "TSHIRT-S") == 10
    with app.app_context():
        order = db.session.execute(db.select(Order)).scalars().one()
        assert order.customer.email == "karin@example.se" and order.shipping_method == "PostNord ombud"
        assert [(line.sku, line.qty) for line in order.lines] == [("TSHIRT-S", 2)]
    assert "Varukorgen är tom" in client.get("/cart").data.decode()
    assert client.get("/order/" + order.number, headers={}).status_code == 200
    assert app.test_client().get("/order/" + order.number).status_code == 404  # another visitor


def test_checkout_short_stock_shows_message(app, client):
    page = client.get("/product/PLAD-ULL")
    client.post("/product/PLAD-ULL", data={"csrf_token": csrf(page.data), "sku": "PLAD-ULL", "qty": 1})
    with app.app_context():  # someone else bought the rest meanwhile
        db.session.execute(db.update(Product).where(Product.sku == "PLAD-ULL").values(stock=0))
        db.session.commit()
    page = client.get("/checkout")
    resp = client.post("/checkout", data=checkout_form(csrf(page.data)), follow_redirects=True)
    assert resp.status_code == 200 and "inte tillräckligt många i lager" in resp.data.decode()
    with app.app_context():
        assert db.session.query(Order).count() == 0


def test_specter_sends_the_confirmation_when_toggled(app, client):
    with app.app_context():
        app.extensions["specter"].settings.set("send_order_mail", True)
    page = client.get("/product/KOPP-ASA")
    client.post("/product/KOPP-ASA", data={"csrf_token": csrf(page.data), "sku": "KOPP-ASA", "qty": 1})
    page = client.get("/checkout")
    resp = client.post("/checkout", data=checkout_form(csrf(page.data)), follow_redirects=True)
    assert "skickas av Specter" in resp.data.decode()


# --- configuration ---------------------------------------------------------------------------------
def test_environment_config_is_typed():
    config = from_environ(
        {
            "SPECTER_STOCK_BATCH_SIZE": "25",
            "SPECTER_STOCK_BATCH_DELAY": "0.5",
            "SPECTER_VERIFY_TLS": "false",
            "SPECTER_TIMEOUT": "3",
            "REDIS_URL": "redis://r:6379/0",
        }
    )
    assert config["SPECTER_STOCK_BATCH_SIZE"] == 25 and config["SPECTER_STOCK_BATCH_DELAY"] == 0.5
    assert config["SPECTER_VERIFY_TLS"] is False and config["SPECTER_TIMEOUT"] == 3.0 and config["REDIS_URL"] == "redis://r:6379/0"
    with pytest.raises(ValueError, match="SPECTER_VERIFY_TLS"):
        from_environ({"SPECTER_VERIFY_TLS": "kanske"})
    assert database_uri("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert database_uri("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert database_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_cli_create_admin_and_seed(app):
    """``create-admin`` makes a login that works; ``seed`` on a seeded shop adds nothing."""
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "kassa", "långt-lösenord"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["create-admin", "kort", "abc"]).exit_code != 0  # too short outside the demo
    assert "nothing seeded" in runner.invoke(args=["seed"]).output
    client = app.test_client()
    page = client.get("/admin/login")
    resp = client.post("/admin/login", data={"csrf_token": csrf(page.data), "username": "kassa", "password": "långt-lösenord"})
    assert resp.status_code == 302 and client.get("/admin/customer/").status_code == 200
