"""Helpers shared by the shop-to-Specter tests (outbox and exports): a shop on real Redis, orders, reads."""

from __future__ import annotations

import os
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy import select

from flask_specter.models import OutboxEntry

REDIS = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
CLOSED_REDIS = "redis://127.0.0.1:6390/0"  # nothing listens there: "Redis is down"


def shop_factory(make_shop):
    """Wrap conftest's ``make_shop``: an example shop on real Redis (own queue per test), ``redis=`` to override."""

    def factory(**overrides):
        redis_url = overrides.pop("redis", REDIS)
        return make_shop(REDIS_URL=redis_url, SPECTER_REDIS_URL=redis_url, **overrides)

    return factory


@contextmanager
def ctx(app):
    with app.app_context():
        yield app.extensions["specter"]


def db(app):
    return app.extensions["specter"].db


def set_toggles(app, **values):
    with ctx(app) as state:
        state.settings.update(values)


def add_product(app, sku, *, name=None, stock=10, price="100.00", vat="25"):
    from example_shop.models import Product

    with ctx(app):
        db(app).session.add(Product(sku=sku, name=name or f"Produkt {sku}", stock=stock, price_excl_vat=Decimal(price), vat_percent=Decimal(vat), active=True))
        db(app).session.commit()


def add_customer(app, email, **fields):
    from example_shop.models import Customer

    with ctx(app):
        c = Customer(email=email, **{"first_name": "Test", "last_name": "Kund", "country": "SE", **fields})
        db(app).session.add(c)
        db(app).session.commit()
        return c.id


def place(app, customer_id, lines, **kw):
    """Check out through the example shop's one order path; returns (order id, order number)."""
    from example_shop.models import Customer
    from example_shop.orders import LineRequest, place_order

    with ctx(app):
        customer = db(app).session.get(Customer, customer_id)
        order = place_order(customer, [LineRequest(sku, qty) for sku, qty in lines], **kw)
        return order.id, order.number


def entries(app, kind=None):
    with ctx(app):
        stmt = select(OutboxEntry).order_by(OutboxEntry.id)
        if kind:
            stmt = stmt.where(OutboxEntry.kind == kind)
        rows = db(app).session.execute(stmt).scalars().all()
        return [
            {"id": e.id, "kind": e.kind, "op": e.op, "ref": e.ref, "state": e.state, "attempts": e.attempts,
             "last_error": e.last_error, "permanent": e.permanent, "remote_id": e.remote_id, "note": e.note}
            for e in rows
        ]


def all_sent(app) -> bool:
    rows = entries(app)
    return bool(rows) and all(e["state"] == "sent" for e in rows)


def order_row(app, order_id):
    from example_shop.models import Order

    with ctx(app):
        o = db(app).session.get(Order, order_id)
        return None if o is None else {"number": o.number, "specter_order_no": o.specter_order_no, "transfer_error": o.transfer_error}


def sandbox_orders(sandbox, external_no=None):
    orders = sandbox.hooks.state(articles=False)["orders"]
    return [o for o in orders if external_no is None or o["externalOrderNo"] == external_no]


def sandbox_articles(sandbox):
    return {a["articleNo"]: a for a in sandbox.hooks.state()["articles"]}


def sandbox_customers(sandbox):
    return sandbox.hooks.state(articles=False)["customers"]
