"""The example shop's product listing is paged and costs the same few statements per page whatever the
catalogue's size (20,000 products listed in one go took minutes: a query per product)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import event

from example_shop import create_app
from example_shop.api import MAX_PER_PAGE
from example_shop.models import Category, Product, db

N_PLAIN, N_PARENTS, VARIANTS = 140, 20, 3  # 140 + 20 * (1 + 3) = 220 products


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
            "SHOP_DEMO": False,
        }
    )
    with app.app_context():
        categories = [Category(name=f"Kategori {i}", active=True) for i in range(3)]
        products = [Product(sku=f"P-{i:04d}", name=f"Produkt {i}", price_excl_vat=Decimal("10.00"), stock=i, category=categories[i % 3]) for i in range(N_PLAIN)]
        for i in range(N_PARENTS):
            parent = Product(sku=f"V-{i:03d}", name=f"Modell {i}", price_excl_vat=Decimal("20.00"), category=categories[i % 3], active=i % 2 == 0)
            products.append(parent)
            products += [Product(sku=f"V-{i:03d}-{size}", name=f"Modell {i} {size}", price_excl_vat=Decimal("20.00"), parent=parent, active=i % 2 == 0) for size in "LMS"[:VARIANTS]]
        db.session.add_all(categories + products)
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def walk(client, url: str) -> tuple[list[dict], list[int]]:
    """Every page from ``url`` on, following ``Link: rel="next"``: the products and each page's size."""
    products, sizes = [], []
    while url:
        resp = client.get(url)
        assert resp.status_code == 200, resp.json
        products += resp.json
        sizes.append(len(resp.json))
        assert int(resp.headers["X-Total-Count"]) >= len(products)
        link = resp.headers.get("Link")
        url = link.split(">", 1)[0].lstrip("<").replace("http://localhost", "") if link else ""
    return products, sizes


def test_paging_lists_every_product_exactly_once_and_the_last_page_has_no_next_link(app):
    client = app.test_client()
    products, sizes = walk(client, "/api/products?per_page=50")
    total = N_PLAIN + N_PARENTS * (1 + VARIANTS)
    assert sizes == [50, 50, 50, 50, 20]
    skus = [p["sku"] for p in products]
    assert len(skus) == len(set(skus)) == total and skus == sorted(skus)
    first = client.get("/api/products")  # the default page: 100 products, a list as before paging
    assert len(first.json) == 100 and first.headers["X-Total-Count"] == str(total) and 'rel="next"' in first.headers["Link"]
    assert client.get("/api/products?page=99").json == [] and "Link" not in client.get("/api/products?page=99").headers


def test_a_page_carries_categories_parents_and_variants(app):
    client = app.test_client()
    page = {p["sku"]: p for p in client.get("/api/products?per_page=1000").json}
    assert page["V-003"]["variants"] == ["V-003-L", "V-003-M", "V-003-S"] and page["V-003"]["category"] == "Kategori 0"
    assert page["V-003-M"]["parent_sku"] == "V-003" and page["P-0004"]["category"] == "Kategori 1"
    active, _ = walk(client, "/api/products?active=1&per_page=7")
    assert {p["sku"] for p in active} == {sku for sku, p in page.items() if p["active"]}  # the filter is kept on the next pages


def test_a_page_costs_the_same_statements_whatever_its_size(app):
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):  # not the BEGIN of the SQLite set-up
            statements.append(statement)

    client = app.test_client()
    client.get("/api/products")  # warm up: anything done once per process is not per page
    event.listen(engine, "before_cursor_execute", count)
    try:
        per_page = {}
        for size in (5, 60, 1000):
            statements.clear()
            assert len(client.get(f"/api/products?per_page={size}&page=1").json) == min(size, 220)
            per_page[size] = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert per_page[5] == per_page[60] == per_page[1000] == 3, (per_page, statements)  # count, products, variants


@pytest.mark.parametrize("query", ["page=0", "page=x", "per_page=0", "per_page=-3"])
def test_bad_paging_parameters_are_400(app, query):
    resp = app.test_client().get(f"/api/products?{query}")
    assert resp.status_code == 400 and resp.json["error"]


def test_per_page_is_cut_to_the_maximum(app):
    resp = app.test_client().get(f"/api/products?per_page={MAX_PER_PAGE * 10}")
    assert resp.status_code == 200 and len(resp.json) == 220  # all 220 fit; the link would say per_page=1000
    with app.app_context():
        assert MAX_PER_PAGE == 1000
