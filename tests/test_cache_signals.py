"""A host's cache cleared by the connector's signals, end to end: Specter changes stock and article data in
the sandbox, calls the shop over HTTP, a worker pulls and applies, and the shop's own cache (a dict, as a
host might keep product pages or stock badges) is cleared by a receiver of ``stock_changed`` /
``products_imported``. The stock apply is a bulk UPDATE that the host's ORM events never see: the signal
is the only way to hear of it."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from flask_specter import signals

from .conftest import wait_until
from .test_import_no_echo import _article_callback
from .test_stock_sync import _db, _product_model, activate_served, seed, shop_stock, specter_available

pytestmark = pytest.mark.timeout(120)


class StockCache:
    """The host's cache of stock per SKU: read through, cleared by ``stock_changed``."""

    def __init__(self, app):
        self.app = app
        self.data: dict[str, int] = {}
        self.changes: list[dict[str, tuple[int, int]]] = []

    def get(self, sku: str) -> int:
        if sku not in self.data:
            model = _product_model(self.app)
            with self.app.app_context():
                _db(self.app).session.remove()
                self.data[sku] = _db(self.app).session.execute(select(model.stock).where(model.sku == sku)).scalar_one()
        return self.data[sku]

    def on_stock_changed(self, sender, changes, **kw):
        self.changes.append(dict(changes))
        for sku in changes:
            self.data.pop(sku, None)


def test_a_stock_cache_is_cleared_by_the_signal_with_old_and_new(make_shop, sandbox, live_worker, serve, caplog):
    app = make_shop()
    skus = seed(sandbox, app, 3, stock=10)  # Specter: 10, 11, 12; the shop: 0
    cache = StockCache(app)
    orm_updates: list[str] = []  # the host's own mapper event: never fires for the connector's bulk UPDATE
    model = _product_model(app)

    def on_update(mapper, connection, target):
        orm_updates.append(target.sku)

    event.listen(model, "after_update", on_update)

    def broken(sender, **kw):
        raise RuntimeError("a broken receiver of the host")

    signals.stock_changed.connect(broken, app)  # connected first: the cache's receiver still runs
    signals.stock_changed.connect(cache.on_stock_changed, app)
    try:
        assert [cache.get(s) for s in skus] == [0, 0, 0]  # cached before Specter says anything
        activate_served(app, serve)
        live_worker(app)
        with caplog.at_level(logging.WARNING, logger="flask_specter"):
            from flask_specter.inbound.pulls import request_pull

            with app.app_context():
                request_pull("stock")  # the first pull: the whole catalogue
            wait_until(lambda: shop_stock(app) == specter_available(sandbox), message="the first pull applied")
            wait_until(lambda: cache.changes, message="the signal")
        assert cache.changes == [{skus[0]: (0, 10), skus[1]: (0, 11), skus[2]: (0, 12)}]
        assert [cache.get(s) for s in skus] == [10, 11, 12]  # read through again, fresh
        assert any("a receiver of the signal specter.stock-changed failed" in r.getMessage() for r in caplog.records)

        # A sale in Specter's shop: Specter calls the shop, the worker pulls and applies, the cache follows.
        sandbox.hooks.pos_sale(skus[1], 4)
        wait_until(lambda: len(cache.changes) == 2, message="the signal of the sale")
        assert cache.changes[1] == {skus[1]: (11, 7)}  # only the SKU that changed, with its old and new stock
        assert cache.get(skus[1]) == 7 and cache.get(skus[0]) == 10
        assert orm_updates == []  # what a cache hung on ORM events would have missed
    finally:
        signals.stock_changed.disconnect(broken, app)
        signals.stock_changed.disconnect(cache.on_stock_changed, app)
        event.remove(model, "after_update", on_update)


def test_a_product_page_cache_is_cleared_by_the_article_import(make_shop, sandbox, live_worker, serve):
    app = make_shop()
    with app.app_context():
        app.extensions["specter"].settings.update({"import_products": True})
    model = _product_model(app)
    seed(sandbox, app, 1)  # SKU-00000 in both
    sandbox.hooks.create_articles([{"articleNo": "NEW-1", "name": "Kaffekopp", "priceExclVat": "99.50", "vatPercent": 25}])
    with app.app_context():
        product_id = _db(app).session.execute(select(model.id).where(model.sku == "SKU-00000")).scalar_one()
    pages = {product_id: "<h1>Produkt SKU-00000</h1>"}  # the host's cache of rendered product pages, by id
    received: list[dict] = []

    def on_imported(sender, skus, product_ids, outcomes, **kw):
        received.append({"skus": skus, "product_ids": product_ids, "outcomes": outcomes})
        for pid in product_ids:
            pages.pop(pid, None)

    signals.products_imported.connect(on_imported, app)
    try:
        served = activate_served(app, serve)
        live_worker(app)
        _article_callback(app, served)
        wait_until(lambda: received, message="the import's signal")
        with app.app_context():
            ids = dict(_db(app).session.execute(select(model.sku, model.id)).all())
        assert sorted(received[0]["skus"]) == ["NEW-1", "SKU-00000"]
        assert dict(zip(received[0]["skus"], received[0]["product_ids"], strict=True)) == ids
        assert received[0]["outcomes"] == {"NEW-1": "created", "SKU-00000": "updated"}
        assert product_id not in pages

        pages[product_id] = "<h1>Artikel SKU-00000</h1>"
        sandbox.hooks.change_price("SKU-00000", "120.00")  # a change in Specter: callback, pull, import
        wait_until(lambda: len(received) == 2, message="the signal of the price change")
        assert received[1] == {"skus": ["SKU-00000"], "product_ids": [product_id], "outcomes": {"SKU-00000": "updated"}}
        assert product_id not in pages
        with app.app_context():
            assert _db(app).session.get(model, product_id).price_excl_vat == Decimal("120.00")
    finally:
        signals.products_imported.disconnect(on_imported, app)
