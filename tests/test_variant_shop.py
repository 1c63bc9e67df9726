"""The second example shop (``examples/variant_shop``) joined to the sandbox Specter over HTTP.

Its shapes differ from ``example_shop``'s: products with variants, users with an address book, orders
committed in two steps and paid later, integer statuses, an ``allocated`` column raised at checkout and
lowered with the stock at payment, and its own listing cache. Its checkout, payment and views know
nothing of Specter; ``examples/variant_shop/specter.py`` is the whole joining. These tests drive the
shop through its own routes and code, the outbox and pulls in this process (or, for the callback path,
a served shop and a real RQ worker), and read what reached the sandbox.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from flask_specter.models import OutboxEntry

from ._push_fixtures import sandbox_articles, sandbox_customers, sandbox_orders
from .conftest import _drop_queue, wait_until
from .test_stock_sync import activate_served

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def make_vshop(shop_config):
    from examples.variant_shop import create_app

    apps = []

    def factory(**overrides):
        app = create_app({**shop_config, "CACHE_KEY_PREFIX": f"vs-{uuid.uuid4().hex[:8]}:", **overrides})
        apps.append(app)
        return app

    yield factory
    from examples.variant_shop.cache import get_cache

    for app in apps:
        state = app.extensions["specter"]
        state.queue.stop_worker(timeout=2)
        if not state.queue.embedded:
            _drop_queue(state.queue)
        get_cache(app).clear()
        with app.app_context():
            state.db.session.remove()
            state.db.engine.dispose()


@pytest.fixture
def vshop(make_vshop, sandbox):
    app = make_vshop()
    sandbox.hooks.create_articles([{"articleNo": "frakt", "name": "Frakt"}])
    seed(app)
    return app


def seed(app):
    """Two products: a mug in two colours (the blue one has its own price), a plate with one unnamed variant;
    a customer with a default address."""
    from examples.variant_shop.models import Address, Product, User, Variant, db

    with app.app_context():
        mug = Product(title="Mugg Åsa", base_price=Decimal("100.00"), vat_rate=Decimal("25"))
        mug.variants = [Variant(sku="MUGG-ROD", name="Röd", stock=10), Variant(sku="MUGG-BLA", name="Blå", price=Decimal("120.00"), stock=5)]
        plate = Product(title="Tallrik Ek", base_price=Decimal("80.00"), vat_rate=Decimal("12"))
        plate.variants = [Variant(sku="TALLRIK", stock=3)]
        db.session.add_all([mug, plate])
        user = User(email="karin@example.se", first_name="Karin", last_name="Åkesson", phone="070-1234567")
        home = Address(user=user, recipient="Karin Åkesson", line1="Byvägen 3", postcode="123 45", city="Västerås")
        user.default_address = home
        db.session.add_all([user, home])
        db.session.commit()


def drain(app):
    from flask_specter.outbound.resend import drain as drain_outbox

    with app.app_context():
        return drain_outbox()


def outbox(app, kind=None):
    with app.app_context():
        stmt = select(OutboxEntry).order_by(OutboxEntry.id)
        if kind:
            stmt = stmt.where(OutboxEntry.kind == kind)
        rows = app.extensions["specter"].db.session.execute(stmt).scalars().all()
        return [(e.kind, e.op, e.ref, e.state) for e in rows]


def unsent(app):
    return [(kind, op, ref) for kind, op, ref, state in outbox(app) if state != "sent"]


def pull(app, feed):
    """Fetch ``feed`` from the sandbox and apply what it stored, here and now."""
    from flask_specter.inbound.order_events import apply_order_events
    from flask_specter.inbound.pulls import run_pull
    from flask_specter.inbound.stock_apply import run_apply_chunk

    with app.app_context():
        run_pull(feed)
        if feed == "stock":
            while run_apply_chunk().get("remaining"):
                pass
        elif feed == "orders":
            apply_order_events()


def variant(app, sku):
    from examples.variant_shop.models import Variant, db

    with app.app_context():
        db.session.remove()
        v = db.session.execute(select(Variant).where(Variant.sku == sku)).scalar_one()
        return {"stock": v.stock, "allocated": v.allocated, "name": v.name}


def edit(app, fn):
    """Run ``fn(db.session)`` in an app context and commit: what a shop admin's form does."""
    from examples.variant_shop.models import db

    with app.app_context():
        fn(db.session)
        db.session.commit()


def product_named(session, title):
    from examples.variant_shop.models import Product

    return session.execute(select(Product).where(Product.title == title)).scalar_one()


def checkout(app, items, payment_method="card"):
    from examples.variant_shop.models import User, db

    with app.app_context():
        user_id = db.session.execute(select(User.id)).scalar_one()
    resp = app.test_client().post("/checkout", json={"user_id": user_id, "items": [{"sku": s, "quantity": q} for s, q in items], "payment_method": payment_method})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def pay(app, reference, transaction="tx-1"):
    resp = app.test_client().post("/payments/notify", json={"order": reference, "transaction": transaction})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def order_row(app, reference):
    from examples.variant_shop.models import Order, db

    with app.app_context():
        db.session.remove()
        o = db.session.execute(select(Order).where(Order.reference == reference)).scalar_one()
        return {"id": o.id, "status": o.status, "paid": o.paid, "tracking": o.tracking_number}


# -- products and variants ---------------------------------------------------------------------------


def test_each_variant_is_an_article_named_and_priced_from_its_product(vshop, sandbox):
    assert sorted(ref for kind, op, ref in unsent(vshop) if kind == "product") == ["MUGG-BLA", "MUGG-ROD", "TALLRIK"]
    drain(vshop)
    assert unsent(vshop) == []
    articles = sandbox_articles(sandbox)
    got = {sku: (articles[sku]["name"], articles[sku]["priceExclVat"], articles[sku]["inStock"]) for sku in ("MUGG-ROD", "MUGG-BLA", "TALLRIK")}
    assert got == {
        "MUGG-ROD": ("Mugg Åsa (Röd)", "100.00", 10),
        "MUGG-BLA": ("Mugg Åsa (Blå)", "120.00", 5),  # the variant's own price
        "TALLRIK": ("Tallrik Ek", "80.00", 3),  # no name of its own: the product's, never an empty name
    }
    assert Decimal(str(articles["TALLRIK"]["vatPercent"])) == Decimal("12")  # the product's VAT rate


def test_a_product_change_reaches_specter_for_each_of_its_variants(vshop, sandbox):
    drain(vshop)

    def rename_and_reprice(session):
        mug = product_named(session, "Mugg Åsa")
        mug.title, mug.base_price = "Mugg Åsa stor", Decimal("110.00")

    edit(vshop, rename_and_reprice)
    assert sorted(unsent(vshop)) == [("product", "update", "MUGG-BLA"), ("product", "update", "MUGG-ROD")]
    drain(vshop)
    articles = sandbox_articles(sandbox)
    assert (articles["MUGG-ROD"]["name"], articles["MUGG-ROD"]["priceExclVat"]) == ("Mugg Åsa stor (Röd)", "110.00")
    assert (articles["MUGG-BLA"]["name"], articles["MUGG-BLA"]["priceExclVat"]) == ("Mugg Åsa stor (Blå)", "120.00")
    assert articles["TALLRIK"]["name"] == "Tallrik Ek"  # another product's variant is left alone


def test_a_variant_change_reaches_specter_for_that_variant(vshop, sandbox):
    from examples.variant_shop.models import Variant

    drain(vshop)

    def recolour(session):
        blue = session.execute(select(Variant).where(Variant.sku == "MUGG-BLA")).scalar_one()
        blue.name, blue.price = "Grön", None  # now at the product's base price

    edit(vshop, recolour)
    assert unsent(vshop) == [("product", "update", "MUGG-BLA")]
    drain(vshop)
    articles = sandbox_articles(sandbox)
    assert (articles["MUGG-BLA"]["name"], articles["MUGG-BLA"]["priceExclVat"]) == ("Mugg Åsa (Grön)", "100.00")
    assert articles["MUGG-ROD"]["name"] == "Mugg Åsa (Röd)"


# -- customers -----------------------------------------------------------------------------------------


def test_the_customers_default_address_reaches_specter_and_so_do_its_changes(vshop, sandbox):
    from examples.variant_shop.models import User

    drain(vshop)
    [customer] = sandbox_customers(sandbox)
    address = lambda c: (c["address"], c["zipCodeEng"], c["city"], c["countryCode"])  # noqa: E731
    assert (customer["emailAddress"], customer["firstName"], customer["surName"]) == ("karin@example.se", "Karin", "Åkesson")
    assert address(customer) == ("Byvägen 3", "123 45", "Västerås", "SE")

    with vshop.app_context():
        user = vshop.extensions["specter"].db.session.execute(select(User)).scalar_one()
        user_id, address_id = user.id, user.default_address_id
    client = vshop.test_client()
    # The customer edits the address itself (a row of another model): Specter's customer follows.
    assert client.put(f"/account/{user_id}/addresses/{address_id}", json={"line1": "Storgatan 1", "city": "Umeå", "postcode": "903 26"}).status_code == 200
    assert unsent(vshop) == [("customer", "update", str(user_id))]
    drain(vshop)
    [customer] = sandbox_customers(sandbox)
    assert address(customer) == ("Storgatan 1", "903 26", "Umeå", "SE")

    # A new default address: the user's pointer changes.
    resp = client.post(f"/account/{user_id}/addresses", json={"recipient": "Karin Åkesson", "line1": "Fjällvägen 9", "postcode": "830 13", "city": "Åre", "default": True})
    assert resp.status_code == 201
    drain(vshop)
    [customer] = sandbox_customers(sandbox)  # the same customer in Specter, updated
    assert address(customer) == ("Fjällvägen 9", "830 13", "Åre", "SE")


# -- orders ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cart", [
    pytest.param([("MUGG-ROD", 2)], id="one-line"),
    # two lines: the payment code's lazy load of the second line's variant autoflushes the first line's
    # decrement before the order itself changes; the guard judges the transaction, not that flush
    pytest.param([("MUGG-ROD", 2), ("TALLRIK", 1)], id="two-lines"),
])
def test_an_order_committed_in_two_steps_is_sent_once_with_its_lines_when_paid(vshop, sandbox, cart):
    drain(vshop)
    placed = checkout(vshop, cart)  # commit 1: the order; commit 2: its lines
    reference = placed["order"]
    assert variant(vshop, "MUGG-ROD") == {"stock": 10, "allocated": 2, "name": "Röd"}
    drain(vshop)
    # Lines but not paid: not ready for this shop. It waits; it has not failed.
    assert sandbox_orders(sandbox, reference) == [] and sandbox.hooks.calls("newOrderSubmit") == []
    assert [state for kind, _op, _ref, state in outbox(vshop, "order")] == ["pending"]

    pay(vshop, reference)  # the shop's own payment code: stock and allocation down together
    assert variant(vshop, "MUGG-ROD") == {"stock": 8, "allocated": 0, "name": "Röd"}
    drain(vshop)
    drain(vshop)
    [order] = sandbox_orders(sandbox, reference)
    assert len([c for c in sandbox.hooks.calls("newOrderSubmit") if c.get("ok")]) == 1
    assert [(r["articleNo"], r["qty"]) for r in order["rows"]] == [*cart, ("frakt", 1)]
    assert order["fields"]["payTypeIdentifier"] == "DP" and order["fields"]["payTypeReference"] == "tx-1"
    delivery = {k: order["fields"].get(k) for k in ("deliveryAttention", "deliveryAddress", "deliveryZipCodeEng", "deliveryCity", "deliveryCountryCode")}
    assert delivery == {"deliveryAttention": "Karin Åkesson", "deliveryAddress": "Byvägen 3", "deliveryZipCodeEng": "123 45", "deliveryCity": "Västerås", "deliveryCountryCode": "SE"}
    assert all(state == "sent" for *_rest, state in outbox(vshop))


def test_a_shop_sale_reaches_specter_and_its_own_decrement_is_not_counted_twice(vshop, sandbox):
    drain(vshop)
    reference = checkout(vshop, [("MUGG-ROD", 3)])["order"]
    pay(vshop, reference)
    assert variant(vshop, "MUGG-ROD")["stock"] == 7  # the shop lowered its stock itself, at payment
    drain(vshop)
    assert sandbox_orders(sandbox, reference)
    specter = sandbox.hooks.article("MUGG-ROD")
    assert (specter["inStock"], specter["available"]) == (10, 7)  # the order is reserved in Specter
    pull(vshop, "stock")  # Specter's figure comes back: it already holds the order
    assert variant(vshop, "MUGG-ROD") == {"stock": 7, "allocated": 0, "name": "Röd"}

    sandbox.hooks.deliver_order(sandbox_orders(sandbox, reference)[0]["orderNo"])
    pull(vshop, "stock")
    assert variant(vshop, "MUGG-ROD")["stock"] == 7 == sandbox.hooks.article("MUGG-ROD")["available"]


def test_a_status_from_specter_comes_back_as_the_shops_integer(vshop, sandbox):
    from examples.variant_shop.models import OrderStatus

    drain(vshop)
    reference = checkout(vshop, [("MUGG-BLA", 1)])["order"]
    pay(vshop, reference)
    drain(vshop)
    order_no = sandbox_orders(sandbox, reference)[0]["orderNo"]

    sandbox.hooks.set_order_status(order_no, 1)  # "received": this shop maps no value to it
    pull(vshop, "orders")
    assert order_row(vshop, reference)["status"] == OrderStatus.PAID

    sandbox.hooks.set_order_status(order_no, 2)  # confirmed
    pull(vshop, "orders")
    assert order_row(vshop, reference)["status"] == 3

    sandbox.hooks.deliver_order(order_no, tracking_no="PN123SE")
    pull(vshop, "orders")
    row = order_row(vshop, reference)
    assert (row["status"], type(row["status"]), row["tracking"]) == (6, int, "PN123SE")


# -- Specter's stock over the callback, and the shop's cache -----------------------------------------


def test_a_pos_sale_reaches_the_variant_and_the_shops_cache_sees_its_updated_at_move(vshop, sandbox, serve, live_worker):
    """The shop's listing cache is keyed by the variants' ``updated_at`` (``onupdate``), which Specter's
    bulk stock write moves like any other write: no receiver, no listener; the changed product's
    listing is rebuilt and an unchanged product's page stays cached."""
    from examples.variant_shop.cache import LISTING, get_cache, product_key
    from examples.variant_shop.models import Variant
    from examples.variant_shop.views import _stamp

    client = vshop.test_client()
    activate_served(vshop, serve)
    live_worker(vshop)
    wait_until(lambda: unsent(vshop) == [] and set(sandbox_articles(sandbox)) >= {"MUGG-ROD", "MUGG-BLA", "TALLRIK"}, message="the products in Specter")

    def listed(sku):
        return {v["sku"]: v["available"] for p in client.get("/products").get_json() for v in p["variants"]}[sku]

    def plate_stamp():
        with vshop.app_context():
            return _stamp(Variant.product_id == plate_id)

    assert listed("MUGG-ROD") == 10
    plate_id = next(p["id"] for p in client.get("/products").get_json() if p["title"] == "Tallrik Ek")
    assert client.get(f"/products/{plate_id}").status_code == 200
    cache, stamp = get_cache(vshop), plate_stamp()
    assert cache.get(LISTING) is not None and cache.get(product_key(plate_id), stamp) is not None

    sandbox.hooks.pos_sale("MUGG-ROD", 4)  # a sale at Specter's till: callback, pull, bulk UPDATE (updated_at moves)
    wait_until(lambda: variant(vshop, "MUGG-ROD")["stock"] == 6, message="the POS sale to reach the variant")
    wait_until(lambda: listed("MUGG-ROD") == 6, timeout=10, message="the cached listing to be rebuilt")
    assert plate_stamp() == stamp and cache.get(product_key(plate_id), stamp) is not None  # the plate did not change: still cached
