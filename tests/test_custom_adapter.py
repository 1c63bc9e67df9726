"""A shop with its own adapter: ``ShopAdapter`` is the whole contract.

The adapter below is not ``SQLAlchemyShopAdapter``: it implements the protocol's required members on
models whose names share nothing with the example shop's (``Gadget.code``, ``Gadget.on_hand``, ...),
returns neutral records and never names a Specter field. The product, the customer and the order reach
the sandbox over HTTP; Specter's stock and article changes come back, and the stock guard and the
no-echo marks work through the same contract.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, Numeric, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flask_specter import Specter
from flask_specter.models import UnexplainedStock
from flask_specter.remote.parsing import ArticleInfo
from flask_specter.shop import Customer, Order, OrderLine, Product, ShopAdapter
from flask_specter.shop.adapter import StockTarget

from ._push_fixtures import sandbox_articles, sandbox_customers, sandbox_orders
from .conftest import close_shop, drain_outbox, unsent_rows

pytestmark = pytest.mark.timeout(60)


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Gadget(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "gadget"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    net_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    vat: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("25"))
    on_hand: Mapped[int] = mapped_column(default=0)


class Buyer(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "buyer"
    id: Mapped[int] = mapped_column(primary_key=True)
    mail: Mapped[str] = mapped_column(String(200))
    given: Mapped[str] = mapped_column(String(100))
    family: Mapped[str] = mapped_column(String(100))
    firm: Mapped[str | None] = mapped_column(String(200))
    org: Mapped[str | None] = mapped_column(String(20))
    town: Mapped[str | None] = mapped_column(String(100))


class Purchase(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "purchase"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyer.id"))
    pay: Mapped[str] = mapped_column(String(20))
    freight: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    state: Mapped[str] = mapped_column(String(40), default="new")
    items: Mapped[list[PurchaseItem]] = relationship(order_by="PurchaseItem.id")


class PurchaseItem(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "purchase_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchase.id"))
    code: Mapped[str] = mapped_column(String(50))
    count: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))


class ShelfAdapter(ShopAdapter):
    """The required members, and ``product_attribute`` so the listeners and the stock guard can watch."""

    product_model = Gadget
    customer_model = Buyer
    order_model = Purchase
    ATTRIBUTES = {"sku": "code", "name": "title", "price_excl_vat": "net_price", "vat_percent": "vat", "stock": "on_hand"}

    def get_product(self, sku: str) -> Gadget | None:
        return db.session.execute(select(Gadget).where(Gadget.code == sku)).scalar_one_or_none()

    def iter_products(self) -> Iterator[Gadget]:
        return iter(db.session.execute(select(Gadget).order_by(Gadget.code)).scalars().all())

    def product_sku(self, product: Gadget) -> str:
        return product.code

    def product_record(self, product: Gadget) -> Product:
        return Product(sku=product.code, name=product.title, price_excl_vat=product.net_price, vat_percent=product.vat, stock=product.on_hand)

    def product_attribute(self, field: str) -> str | None:
        return self.ATTRIBUTES.get(field)

    def stock_target(self) -> StockTarget:
        table = Gadget.__table__
        return table, table.c.code, table.c.on_hand

    def apply_article(self, info: ArticleInfo, options: Mapping[str, Any]) -> str:
        gadget = self.get_product(info.article_no)
        if gadget is None:
            return "skipped"
        if info.name:
            gadget.title = info.name
        if info.price_excl_vat is not None:
            gadget.net_price = info.price_excl_vat
        return "updated"

    def get_customer(self, ref: str) -> Buyer | None:
        return db.session.get(Buyer, int(ref))

    def iter_customers(self) -> Iterator[Buyer]:
        return iter(db.session.execute(select(Buyer).order_by(Buyer.id)).scalars().all())

    def customer_ref(self, customer: Buyer) -> str:
        return str(customer.id)

    def customer_record(self, customer: Buyer) -> Customer:
        return Customer(
            ref=str(customer.id), email=customer.mail, first_name=customer.given, last_name=customer.family,
            company=customer.firm or "", org_no=customer.org or "", city=customer.town or "",
        )

    def get_order(self, ref: str) -> Purchase | None:
        return db.session.get(Purchase, int(ref))

    def find_order(self, *, number: str | None = None, specter_order_no: str | None = None) -> Purchase | None:
        if number is None:
            return None  # this shop keeps no Specter order number: the connector's links know it
        return db.session.execute(select(Purchase).where(Purchase.ref == number)).scalar_one_or_none()

    def order_ref(self, order: Purchase) -> str:
        return str(order.id)

    def order_record(self, order: Purchase) -> Order:
        return Order(
            ref=str(order.id), number=order.ref, customer_ref=str(order.buyer_id), payment_method=order.pay,
            shipping_method="Schenker", shipping_price_excl_vat=order.freight,
            lines=tuple(OrderLine(sku=i.code, qty=i.count, price_excl_vat=i.unit_price) for i in order.items),
        )

    def apply_order_change(self, order: Purchase, *, status: str | None = None, tracking_no: str | None = None, invoice_id: str | None = None) -> None:
        if status:
            order.state = status


@pytest.fixture
def shelf_shop(shop_config):
    """A shop app on the test database and queue; no worker runs: the test does the work in-process."""
    app = Flask("shelf")
    app.config.update(shop_config)
    db.init_app(app)
    Specter(app, db=db, adapter=ShelfAdapter(), create_tables=True)
    with app.app_context():
        db.create_all()
    yield app
    close_shop(app)




def test_a_custom_adapter_pushes_product_customer_and_order_and_takes_stock_and_articles(shelf_shop, sandbox):
    from flask_specter.inbound.articles import apply_article_rows
    from flask_specter.inbound.pulls import run_pull
    from flask_specter.inbound.stock_apply import run_apply_chunk

    app = shelf_shop
    assert isinstance(app.extensions["specter"].adapter, ShopAdapter)
    sandbox.hooks.create_articles([{"articleNo": "frakt", "name": "Frakt"}])
    with app.app_context():
        db.session.add(Gadget(code="HYLLA-1", title="Hylla Ek Åre", net_price=Decimal("499.00"), vat=Decimal("25"), on_hand=5))
        db.session.commit()
        buyer = Buyer(mail="inkop@arlig.se", given="Örjan", family="Ek", firm="Ärlig Handel AB", org="556677-8899", town="Västerås")
        db.session.add(buyer)
        db.session.commit()
        purchase = Purchase(ref="K-1001", buyer_id=buyer.id, pay="invoice", freight=Decimal("59"), items=[PurchaseItem(code="HYLLA-1", count=2, unit_price=Decimal("499.00"))])
        db.session.add(purchase)
        db.session.commit()
    assert [(kind, op) for kind, op, _ref in unsent_rows(app)] == [("product", "create"), ("customer", "update"), ("order", "create")]

    assert drain_outbox(app)["sent"] == 3
    assert unsent_rows(app) == []
    article = sandbox_articles(sandbox)["HYLLA-1"]
    assert (article["name"], article["priceExclVat"], article["inStock"]) == ("Hylla Ek Åre", "499.00", 5)
    [customer] = sandbox_customers(sandbox)
    assert (customer["name"], customer["customerOrganizationalForm"], customer["city"]) == ("Ärlig Handel AB", "C", "Västerås")
    [order] = sandbox_orders(sandbox, "K-1001")
    assert order["fields"]["payTypeIdentifier"] == "I" and str(order["fields"]["customerId"]) == str(customer["customerId"])
    assert [(r["articleNo"], r["qty"]) for r in order["rows"]] == [("HYLLA-1", 2), ("frakt", 1)]

    # Specter's stock comes back into the adapter's stock column; the shop's own edit is recorded, not refused.
    sandbox.hooks.adjust_stock("HYLLA-1", 12)
    with app.app_context():
        run_pull("stock")
        while run_apply_chunk()["remaining"]:
            pass
        available = {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"]}["HYLLA-1"]
        db.session.remove()
        gadget = db.session.execute(select(Gadget).where(Gadget.code == "HYLLA-1")).scalar_one()
        assert gadget.on_hand == available and available != 5
        gadget.on_hand = 100
        db.session.commit()
        [(sku, old, new)] = db.session.execute(select(UnexplainedStock.sku, UnexplainedStock.old, UnexplainedStock.new)).all()
        assert (sku, old, new) == ("HYLLA-1", available, 100)

    # An article change made in Specter is applied through apply_article, and not echoed back.
    with app.app_context():
        app.extensions["specter"].settings.update({"import_products": True})
    sandbox.hooks.change_price("HYLLA-1", "549.00", name="Hylla Ek, ny")
    with app.app_context():
        run_pull("articles")
        assert apply_article_rows(follow_up=False).get("updated") == 1
        db.session.commit()
        db.session.remove()
        gadget = db.session.execute(select(Gadget).where(Gadget.code == "HYLLA-1")).scalar_one()
        assert (gadget.title, gadget.net_price) == ("Hylla Ek, ny", Decimal("549.00"))
    assert unsent_rows(app) == []

    # The shop's own edit of a watched attribute is sent.
    with app.app_context():
        db.session.execute(select(Gadget).where(Gadget.code == "HYLLA-1")).scalar_one().title = "Hylla Ek, blå"
        db.session.commit()
    assert unsent_rows(app) == [("product", "update", "HYLLA-1")]
    assert drain_outbox(app)["sent"] == 1
    assert sandbox_articles(sandbox)["HYLLA-1"]["name"] == "Hylla Ek, blå"
