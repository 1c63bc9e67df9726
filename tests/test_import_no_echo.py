"""Data imported from Specter is never written back to Specter (issue 7.1).

"Importera produkter från Specter" and "Produktsynk till Specter" both on: the import creates and
updates shop products, and none of it may become a ``newArticleSubmit``; otherwise Specter's own name is
overwritten by the shop's older one and a price changed in Specter is undone.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from sqlalchemy import select

from .conftest import wait_until
from .test_stock_sync import _db, activate_served, add_products

pytestmark = pytest.mark.timeout(120)


def _product(app, sku):
    model = app.extensions["specter"].adapter.product_model
    with app.app_context():
        _db(app).session.remove()
        return _db(app).session.execute(select(model).where(model.sku == sku)).scalar_one_or_none()


def _outbox(app) -> list[tuple[str, str, str]]:
    from flask_specter.models import OutboxEntry

    with app.app_context():
        _db(app).session.remove()
        rows = _db(app).session.execute(select(OutboxEntry).order_by(OutboxEntry.id)).scalars().all()
        return [(r.kind, r.op, r.ref) for r in rows]


def _specter(sandbox, article_no) -> dict:
    return sandbox.hooks.article(article_no)


def _article_callback(app, served):
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    assert requests.get(f"{served.url}/specter/get_specter_articles", params={"token": token}, timeout=10).text == "1;Done"


def test_imports_never_echo_back_to_specter(make_shop, sandbox, shop_worker, serve):
    app = make_shop()
    with app.app_context():
        state = app.extensions["specter"]
        assert state.settings.get("product_sync") is True  # the default: shop changes go to Specter
        state.settings.update({"import_products": True})
    add_products(app, ["ECHO-OLD"])  # a shop product that Specter also has, under another name and price
    sandbox.hooks.create_articles([
        {"articleNo": "ECHO-NEW", "name": "Kaffekopp", "priceExclVat": "99.50", "vatPercent": 25},
        {"articleNo": "ECHO-OLD", "name": "Tekopp från Specter", "priceExclVat": "45.00", "vatPercent": 25},
    ])
    served = activate_served(app, serve)  # a new integration: the whole catalogue is pending in the article feed
    shop_worker(app)

    # 1. The first import creates one product and updates the other.
    _article_callback(app, served)
    wait_until(lambda: (p := _product(app, "ECHO-OLD")) is not None and p.name == "Tekopp från Specter", message="the first import")
    wait_until(lambda: _product(app, "ECHO-NEW") is not None, message="the imported product")
    assert _product(app, "ECHO-OLD").price_excl_vat == Decimal("45.00")

    # 2. Later changes made in Specter arrive through the callback and update the shop.
    sandbox.hooks.change_price("ECHO-NEW", "120.00", name="Kaffekopp Deluxe")
    wait_until(lambda: _product(app, "ECHO-NEW").price_excl_vat == Decimal("120.00"), message="the price change")
    assert _product(app, "ECHO-NEW").name == "Kaffekopp Deluxe"

    # 3. A price-only import: the shop keeps its name, Specter must keep its own.
    with app.app_context():
        state.settings.update({"import_price_only": True})
    sandbox.hooks.change_price("ECHO-OLD", "50.00", name="Tekopp, nytt namn i Specter")
    wait_until(lambda: _product(app, "ECHO-OLD").price_excl_vat == Decimal("50.00"), message="the price-only import")
    assert _product(app, "ECHO-OLD").name == "Tekopp från Specter"
    wait_until(lambda: sandbox.hooks.state(articles=False)["feeds"]["articles"]["pending"] == 0, message="the feed emptied")
    wait_until(lambda: not sandbox.hooks.state(articles=False)["feeds"]["articles"]["openBatch"], message="the batch confirmed")

    assert _outbox(app) == []  # nothing for Specter was written
    assert sandbox.hooks.calls(action="newArticleSubmit") == []
    assert (_specter(sandbox, "ECHO-OLD")["name"], _specter(sandbox, "ECHO-OLD")["priceExclVat"]) == ("Tekopp, nytt namn i Specter", "50.00")
    assert (_specter(sandbox, "ECHO-NEW")["name"], _specter(sandbox, "ECHO-NEW")["priceExclVat"]) == ("Kaffekopp Deluxe", "120.00")


def test_a_shop_edit_after_an_import_is_still_sent(make_shop, sandbox, shop_worker, serve):
    """The import's mark covers only what Specter wrote: the shop's own later change goes to Specter."""
    app = make_shop()
    with app.app_context():
        app.extensions["specter"].settings.update({"import_products": True})
    sandbox.hooks.create_articles([{"articleNo": "ECHO-EDIT", "name": "Skål", "priceExclVat": "30.00", "vatPercent": 25}])
    served = activate_served(app, serve)
    shop_worker(app)
    _article_callback(app, served)
    wait_until(lambda: _product(app, "ECHO-EDIT") is not None, message="the imported product")
    with app.app_context():  # an admin edits the product in the shop
        product = app.extensions["specter"].adapter.get_product("ECHO-EDIT")
        product.name = "Skål blå"
        _db(app).session.commit()
    wait_until(lambda: _specter(sandbox, "ECHO-EDIT")["name"] == "Skål blå", message="the shop's edit to reach Specter")
    assert _outbox(app) == [("product", "update", "ECHO-EDIT")]


def test_changes_in_one_flush_with_an_import_keep_the_shop_side(make_shop, sandbox):
    """A shop edit and an import on the same session: the import's values are not echoed, the edit is."""
    from flask_specter.origin import suppress_outbox

    app = make_shop()
    add_products(app, ["MIX-1", "MIX-2"])
    model = app.extensions["specter"].adapter.product_model
    with app.app_context():
        session = _db(app).session
        one, two = (session.execute(select(model).where(model.sku == s)).scalar_one() for s in ("MIX-1", "MIX-2"))
        one.name = "Ändrad i butiken"
        with suppress_outbox():
            two.name = "Från Specter"
            one.price_excl_vat = Decimal("12.00")  # Specter's price on a product the shop also edits
        session.commit()
    assert _outbox(app) == [("product", "update", "MIX-1")]
