"""First-installation exports: pages of 100, resumable, a per-row report, the admin's export page and the CLI."""

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
    from flask_specter.outbound.bulk_exports import progress, start_export

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
    from flask_specter.outbound.bulk_exports import run_inline

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
    assert {no: a["inStock"] for no, a in sandbox_articles(sandbox).items()} == {f"P-{i:04d}": i % 9 for i in range(250)}  # with the shop's stock


def test_customers_export_stores_numbers_and_reports_refused_rows(push_shop, sandbox):
    from example_shop.models import Customer
    from flask_specter.outbound.bulk_exports import progress, run_inline

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


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _runs(app) -> list[tuple[str, str]]:
    with ctx(app):
        return [(r.kind, r.state) for r in db(app).session.execute(select(ExportRun).order_by(ExportRun.id)).scalars()]


def test_admin_export_page_starts_with_csrf_shows_progress_and_failures(push_shop, sandbox, live_worker):
    allowed = {"yes": False}
    app = push_shop(SPECTER_ADMIN_ACCESS=lambda: allowed["yes"])
    _bulk_products(app, 120, bad=50)
    live_worker(app)
    web = app.test_client()
    for method in (web.get, web.post):  # a stranger is sent to the shop's login (SPECTER_ADMIN_LOGIN_URL)
        refused = method("/specter/export_products_stock")
        assert refused.status_code == 302 and refused.headers["Location"] == "/admin/login?next=/specter/export_products_stock"
    assert web.get("/admin/specter/exports/").headers["Location"].startswith("/admin/login?")
    allowed["yes"] = True
    entry = web.get("/specter/export_products_stock")  # the fixed address leads to the admin's page ...
    assert entry.status_code == 302 and entry.headers["Location"] == "/admin/specter/exports/#export-products"  # the old name of the one product export
    page = web.get("/admin/specter/exports/").get_data(as_text=True)
    assert page.count("Ingen export har körts ännu") == 2  # 1. products with stock, 2. customers: the one first-installation path
    assert page.index("1. Exportera produkter") < page.index("2. Exportera kunder")
    assert _runs(app) == [] and sandbox.hooks.calls(action="newArticleSubmit") == []  # ... and a GET starts nothing
    assert web.post("/admin/specter/exports/start/products_stock").status_code == 400
    assert web.post("/admin/specter/exports/start/products_stock", data={"csrf_token": "forged"}).status_code == 400
    assert _runs(app) == []
    started = web.post("/admin/specter/exports/start/products_stock", data={"csrf_token": _token(page)})
    assert started.status_code == 303

    def finished_page():
        html = web.get("/admin/specter/exports/").get_data(as_text=True)
        return "120 av 120 rader hanterade (100 %)" in html and html

    html = wait_until(finished_page, timeout=30, message="export done on the admin page")
    card = html[html.index('id="export-products"') : html.index('id="export-customers"')]
    assert "P-0050" in card and "ISO-8859-1" in card and "varav 1 misslyckades." in card
    assert "Exportera igen" in card and '<meta http-equiv="refresh"' not in html
    assert len(sandbox_articles(sandbox)) == 119
    # a script may still POST to the fixed address, with the admin session's token
    assert web.post("/specter/export_customers", data={"csrf_token": "forged"}).status_code == 400
    resp = web.post("/specter/export_customers", data={"csrf_token": _token(html)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/admin/specter/exports/#export-customers"
    wait_until(lambda: _runs(app)[-1] == ("customers", "done"), timeout=30, message="customers export done")


def test_admin_export_page_resumes_or_restarts_an_interrupted_run(push_shop, sandbox):
    app = push_shop(SPECTER_ADMIN_ACCESS=lambda: True, SPECTER_PUSH_RETRIES=0, SPECTER_RETRY_BACKOFF=0.01)
    _bulk_products(app, 150)
    sandbox.hooks.fault("newArticleSubmit", "fail", 50)
    from flask_specter.outbound.bulk_exports import run_inline

    with ctx(app):
        run_inline("products")
    web = app.test_client()
    html = web.get("/admin/specter/exports/").get_data(as_text=True)
    card = html[html.index('id="export-products"') : html.index('id="export-customers"')]
    assert "avbruten" in card and "Specter gick inte att nå" in card and "0 av 150 rader hanterade" in card
    assert "Fortsätt exporten" in card and "Börja om från början" in card
    token = _token(html)
    web.post("/admin/specter/exports/start/products", data={"csrf_token": token})
    assert _runs(app) == [("products", "running")]  # resumed: the same run
    web.post("/admin/specter/exports/start/products", data={"csrf_token": token, "restart": "1"})
    assert _runs(app) == [("products", "failed"), ("products", "running")]  # restarted: a new run from the start


def test_cli_export_prints_progress_and_the_failure_report(push_shop, sandbox):
    app = push_shop()
    _bulk_products(app, 105, bad=3)
    result = app.test_cli_runner().invoke(args=["specter", "export", "products-stock"])
    assert result.exit_code == 0, result.output
    assert "105 of 105 handled, 1 failed." in result.output
    assert "P-0003: " in result.output
    assert len(sandbox_articles(sandbox)) == 104


def _shop_stock(app) -> dict[str, int]:
    from example_shop.models import Product

    with ctx(app):
        return {p.sku: p.stock for p in db(app).session.execute(select(Product)).scalars()}


def test_products_then_products_stock_gives_specter_the_shops_stock_and_running_again_is_harmless(push_shop, sandbox):
    """Issue 23: `export products` then `export products-stock` left every article at 0 in Specter."""
    app = push_shop()
    skus = _bulk_products(app, 130)
    cli = app.test_cli_runner()
    for kind in ("products", "products-stock"):
        result = cli.invoke(args=["specter", "export", kind])
        assert result.exit_code == 0, result.output
        assert "130 of 130 handled, 0 failed." in result.output
    shop = _shop_stock(app)
    arts = sandbox_articles(sandbox)
    assert set(arts) >= set(skus)
    assert {sku: arts[sku]["inStock"] for sku in skus} == shop and any(shop.values())
    with ctx(app):  # products-stock is another name for the one product export: one kind of run
        assert {r.kind for r in db(app).session.execute(select(ExportRun)).scalars()} == {"products"}

    # Specter is the stock master now: a sale in its till, then both exports again change nothing there.
    sandbox.hooks.pos_sale("P-0008", 3)
    for kind in ("products", "products-stock"):
        assert cli.invoke(args=["specter", "export", kind]).exit_code == 0
    again = sandbox_articles(sandbox)
    assert again["P-0008"]["inStock"] == shop["P-0008"] - 3
    assert {sku: again[sku]["inStock"] for sku in skus if sku != "P-0008"} == {sku: n for sku, n in shop.items() if sku != "P-0008"}


def test_cli_export_help_names_the_first_installation_path(push_shop):
    app = push_shop()
    text = app.test_cli_runner().invoke(args=["specter", "export", "--help"]).output
    order = [text.index(step) for step in ("flask specter activate", "flask specter export products", "flask specter export customers", "flask specter check")]
    assert order == sorted(order)
