"""Benchmark (not a test): the example shop's paged product listing with 20,000 products, every page of 500
walked through ``GET /api/products`` (following ``Link: rel="next"``), next to a bare SELECT of the same
page measured in the same run on the same database.

    python bench/shop_listing.py [--products 20000] [--per-page 500] [--databases sqlite,postgresql] [--quick]
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/other python bench/shop_listing.py

A tenth of the products are parents with three variants, spread over 20 categories (product_json shows
category, parent and variants). The request goes through Flask's test client (no HTTP server), so the
figure is the shop's own time: the three statements of a page and the JSON. *Baseline*: the page's
products as plain rows (one SELECT, no ORM, no JSON). Printed: the median and the slowest page of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from sqlalchemy import create_engine, insert, select, text, update

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# BENCH_DATABASE_URL: another PostgreSQL database than the default (its schema is dropped).
PG_URL = os.environ.get("BENCH_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_app(url: str):
    from example_shop import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "SPECTER_API_URL": "http://127.0.0.1:9/",
            "SPECTER_EMBEDDED_WORKER": False,
            "REDIS_URL": None,
            "SPECTER_REDIS_URL": None,
            "SHOP_DEMO": False,
        }
    )


def fill(app, n: int) -> None:
    """n products in bulk (Core inserts: the shop's listeners and outbox are not what is measured)."""
    from example_shop.models import Category, Product, db

    with app.app_context():
        db.session.execute(insert(Category), [{"name": f"Kategori {i}", "active": True} for i in range(20)])
        ids = db.session.execute(select(Category.id)).scalars().all()
        rows = [
            {"sku": f"SKU-{i:06d}", "name": f"Produkt {i}", "description": f"Produkt {i}, en beskrivning.", "price_excl_vat": 100, "vat_percent": 25,
             "stock": i % 50, "active": True, "category_id": ids[i % len(ids)]}
            for i in range(n)
        ]
        db.session.execute(insert(Product), rows)
        parents = {f"SKU-{i:06d}": f"SKU-{i + 1:06d}" for i in range(0, n - 3, 40)}  # every 40th is a parent of the next three
        by_sku = dict(db.session.execute(select(Product.sku, Product.id)).all())
        children = [{"child": f"SKU-{int(p[4:]) + k:06d}", "parent_id": by_sku[p]} for p in parents for k in (1, 2, 3)]
        for row in children:
            db.session.execute(update(Product).where(Product.sku == row["child"]).values(parent_id=row["parent_id"]))
        db.session.commit()


def walk(app, per_page: int) -> list[float]:
    """Seconds per page of the API, following its next links until the last page."""
    client = app.test_client()
    url, times, seen = f"/api/products?per_page={per_page}", [], 0
    while url:
        started = time.perf_counter()
        resp = client.get(url)
        times.append(time.perf_counter() - started)
        assert resp.status_code == 200, resp.text
        seen += len(resp.json)
        link = resp.headers.get("Link")
        url = link.split(">", 1)[0].lstrip("<").replace("http://localhost", "") if link else ""
    assert seen == int(resp.headers["X-Total-Count"]), (seen, resp.headers["X-Total-Count"])
    return times


def bare(app, per_page: int, pages: int) -> list[float]:
    """Seconds per page of one plain SELECT of the same rows (no ORM objects, no JSON)."""
    from example_shop.models import Product, db

    times = []
    with app.app_context():
        for page in range(pages):
            started = time.perf_counter()
            db.session.execute(select(Product.__table__).order_by(Product.sku).limit(per_page).offset(page * per_page)).all()
            times.append(time.perf_counter() - started)
            db.session.rollback()
    return times


def run(database: str, n: int, per_page: int) -> None:
    if database == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-listing-')}/shop.sqlite3"
    else:
        url = PG_URL
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    app = make_app(url)
    started = time.perf_counter()
    fill(app, n)
    filled = time.perf_counter() - started
    api = walk(app, per_page)
    floor = bare(app, per_page, len(api))

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:>9.1f}{max(values) * 1000:>9.1f}"

    print(f"\n{database}: {n:,} products (filled in {filled:.1f} s), {len(api)} pages of {per_page}")
    print(f"{'':<28}{'median ms':>9}{'max ms':>9}")
    print(f"{'bare SELECT of the page':<28}{ms(floor)}")
    print(f"{'GET /api/products page':<28}{ms(api)}   ({statistics.median(api) / statistics.median(floor):.1f}x the bare SELECT at the median)")
    print(f"{'all pages, one after the other':<28}{sum(api):>9.2f} s")
    with app.app_context():
        from example_shop.models import db

        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20000)
    parser.add_argument("--per-page", type=int, default=500)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="2,000 products, SQLite only")
    args = parser.parse_args()
    if args.quick:
        args.products, args.databases = 2000, "sqlite"
    for database in args.databases.split(","):
        run(database, args.products, args.per_page)


if __name__ == "__main__":
    main()
