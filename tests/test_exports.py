"""First-installation exports: pages of 100, resumable, a per-row report, admin-only routes and the CLI."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import insert, select

from flask_specter.models import ExportRun, Link

from ._push_fixtures import ctx, db, sandbox_articles, sandbox_customers, shop_factory
from .conftest import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def push_shop(make_shop):
    return shop_factory(make_shop)


def _bulk_products(app, n, *, bad=None):
    """Products that existed before the connector: inserted without ORM events (no outbox rows)."""
    from example_shop.models import Product

    rows = [{"sku": f"P-{i:04d}", "name": f"Produkt {i} åäö", "price_excl_vat": 100, "vat_percent": 25, "stock": i % 9, "active": True} for i in range(n)]
    if bad:
        rows[bad]["name"] = "Pris i € (inte latin-1)"
    with ctx(app):
        db(app).session.execute(insert(Product), rows)
        db(app).session.commit()
    return [r["sku"] for r in rows]


def test_products_stock_export_through_the_worker_in_pages_with_a_per_row_report(push_shop, sandbox, live_worker):
    from flask_specter.exports import progress, start_export

    app = push_shop()
    skus = _bulk_products(app, 230, bad=150)
    sandbox.hooks.create_articles([{"articleNo": "P-0001", "name": "Redan i Specter", "inStock": 42}])
    live_worker(app)
    with ctx(app):
        run_id = start_export("products_stock").id

    def finished():
        with ctx(app):
            return db(app).session.get(ExportRun, run_id).state == "done"

    wait_until(finished, timeout=30, message="export done")
    with ctx(app):
        p = progress(db(app).session.get(ExportRun, run_id))
        linked = set(db(app).session.execute(select(Link.local_id).where(Link.kind == "product")).scalars())
    assert (p["total"], p["done"], p["failed"], p["percent"]) == (230, 230, 1, 100)
    assert p["failures"][0]["ref"] == "P-0150" and "ISO-8859-1" in p["failures"][0]["error"]
    arts = sandbox_articles(sandbox)
    assert set(skus) - set(arts) == {"P-0150"}
    assert arts["P-0007"]["inStock"] == 7 and arts["P-0007"]["name"] == "Produkt 7 åäö"
    assert (arts["P-0001"]["name"], arts["P-0001"]["inStock"]) == ("Redan i Specter", 42)  # existing articles keep theirs
    assert linked == set(skus) - {"P-0150"}  # exported articles are Specter-managed now
    calls = sandbox.hooks.calls(action="newArticleSubmit")
    # 3 pages; the page with the bad row was refused whole (client-side) and sent row by row.
    assert len(calls) == 2 + 99


def test_export_resumes_from_its_cursor_after_specter_was_unreachable(push_shop, sandbox):
    from flask_specter.exports import run_inline

    app = push_shop(SPECTER_PUSH_RETRIES=1, SPECTER_RETRY_BACKOFF=0.01)
    _bulk_products(app, 250)
    with ctx(app):
        pages = []

        def fail_after_first(run):  # Specter goes down after the first page
            pages.append(run.done)
            if len(pages) == 1:
                sandbox.hooks.fault("newArticleSubmit", "fail", 50)

        run = run_inline("products", on_page=fail_after_first)
        assert (run.state, run.done, run.cursor) == ("failed", 100, "P-0099")
        assert "Specter gick inte att nå" in run.error
        sandbox.hooks.clear_faults()
        sandbox_calls = [c for c in sandbox.hooks.calls(action="newArticleSubmit") if c["ok"]]
        run = run_inline("products")  # the same command again: continues at P-0100
    assert (run.state, run.done, run.failed) == ("done", 250, 0)
    ok = [c for c in sandbox.hooks.calls(action="newArticleSubmit") if c["ok"]]
    assert len(sandbox_calls) == 1 and len(ok) == 3  # the first page was not sent again
    assert all(a["inStock"] == 0 for a in sandbox_articles(sandbox).values())  # "products" sends no stock


def test_customers_export_stores_numbers_and_reports_refused_rows(push_shop, sandbox):
    from example_shop.models import Customer
    from flask_specter.exports import progress, run_inline

    app = push_shop()
    with ctx(app):
        db(app).session.execute(
            insert(Customer),
            [
                {"email": "asa@example.se", "first_name": "Åsa", "last_name": "Öberg", "country": "SE"},
                {"email": "inkop@arlig.se", "company": "Ärlig Handel AB", "org_no": "556677-8899", "country": "SE"},
                {"email": "utan-snabel-a", "first_name": "Fel", "last_name": "Adress", "country": "SE"},
            ],
        )
        db(app).session.commit()
        run = run_inline("customers")
        p = progress(run)
        numbers = dict(db(app).session.execute(select(Customer.email, Customer.specter_customer_no)).all())
    assert (p["state"], p["done"], p["failed"]) == ("done", 3, 1)
    assert p["failures"][0]["ref"] == "3" and "emailAddress" in p["failures"][0]["error"]
    names = {c.get("name") or f"{c['firstName']} {c['surName']}" for c in sandbox_customers(sandbox)}
    assert names == {"Åsa Öberg", "Ärlig Handel AB"}
    assert numbers["asa@example.se"] and numbers["inkop@arlig.se"] and numbers["utan-snabel-a"] is None


def test_export_routes_are_admin_only_post_with_csrf_and_show_progress(push_shop, sandbox, live_worker):
    allowed = {"yes": False}
    app = push_shop(SPECTER_ADMIN_ACCESS=lambda: allowed["yes"])
    _bulk_products(app, 120)
    live_worker(app)
    web = app.test_client()
    assert web.get("/specter/export_products_stock").status_code == 403
    assert web.post("/specter/export_products_stock").status_code == 403
    allowed["yes"] = True
    page = web.get("/specter/export_products_stock")
    assert page.status_code == 200 and "Ingen export har körts" in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert web.post("/specter/export_products_stock", data={"csrf_token": "wrong"}).status_code == 400
    assert web.post("/specter/export_products_stock").status_code == 400
    started = web.post("/specter/export_products_stock", data={"csrf_token": token})
    assert started.status_code == 303
    done = wait_until(lambda: (j := web.get("/specter/export_products_stock?format=json").get_json())["state"] == "done" and j, message="export done")
    assert (done["total"], done["done"], done["percent"]) == (120, 120, 100)
    assert "klar" in web.get("/specter/export_products_stock").get_data(as_text=True)
    assert len(sandbox_articles(sandbox)) == 120


def test_cli_export_prints_progress_and_the_failure_report(push_shop, sandbox):
    app = push_shop()
    _bulk_products(app, 105, bad=3)
    result = app.test_cli_runner().invoke(args=["specter", "export", "products-stock"])
    assert result.exit_code == 0, result.output
    assert "105 of 105 handled, 1 failed." in result.output
    assert "P-0003: " in result.output
    assert len(sandbox_articles(sandbox)) == 104
