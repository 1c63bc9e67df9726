"""A shop of another shape joined by SQLAlchemyShopAdapter's options alone (issue 10, items 1, 2, 9).

Products are variants under a style (``parent``, ``parent_fields``, ``variant_name``); a user's address
lives on its own model (dotted paths in ``customer_fields``); an order has a delivery address on a
related model (``order_fields`` delivery keys); the shop keeps no Specter numbers (map values None).
A style change reaches Specter once per variant, an address change updates the customer, the delivery
address reaches the sandbox over HTTP, and a misspelled option stops init_app.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, Numeric, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flask_specter import Specter, SQLAlchemyShopAdapter
from flask_specter.outbound import wire
from flask_specter.remote.errors import SpecterConfigError
from flask_specter.remote.parsing import ArticleInfo
from flask_specter.shop import Address, Order

from ._push_fixtures import sandbox_articles, sandbox_customers, sandbox_orders
from .conftest import close_shop, drain_outbox, unsent_rows

pytestmark = pytest.mark.timeout(60)


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Style(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "style"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    base_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    vat: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("25"))
    active: Mapped[bool] = mapped_column(default=True)
    variants: Mapped[list[Variant]] = relationship(back_populates="style", order_by="Variant.code")


class Variant(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "variant"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # None: the style's base price
    on_hand: Mapped[int] = mapped_column(default=0)
    style_id: Mapped[int] = mapped_column(ForeignKey("style.id"))
    style: Mapped[Style] = relationship(back_populates="variants")


class PostalAddress(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "postal_address"
    id: Mapped[int] = mapped_column(primary_key=True)
    street: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(20))
    town: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="SE")


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "shop_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    given: Mapped[str] = mapped_column(String(100))
    family: Mapped[str] = mapped_column(String(100))
    address_id: Mapped[int | None] = mapped_column(ForeignKey("postal_address.id"))
    default_address: Mapped[PostalAddress | None] = relationship()


class Purchase(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "purchase"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("shop_user.id"))
    pay: Mapped[str] = mapped_column(String(20), default="invoice")
    ship_to: Mapped[str | None] = mapped_column(String(200))
    ship_address_id: Mapped[int | None] = mapped_column(ForeignKey("postal_address.id"))
    ship_address: Mapped[PostalAddress | None] = relationship()
    items: Mapped[list[PurchaseItem]] = relationship(order_by="PurchaseItem.id")


class PurchaseItem(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "purchase_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchase.id"))
    code: Mapped[str] = mapped_column(String(50))
    count: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))


OPTIONS: dict[str, Any] = {
    "product_model": Variant,
    "customer_model": User,
    "order_model": Purchase,
    "product_fields": {"sku": "code", "name": "label", "price_excl_vat": "price", "vat_percent": None, "stock": "on_hand"},
    "parent": "style",
    "parent_fields": {"name": "title", "price_excl_vat": "base_price", "vat_percent": "vat", "active": "active"},
    "customer_fields": {
        "first_name": "given", "last_name": "family", "address": "default_address.street",
        "zip": "default_address.postcode", "city": "default_address.town", "country": "default_address.country",
        "specter_customer_no": None,
    },
    "order_fields": {
        "number": "ref", "customer_id": "user_id", "lines": "items", "payment_method": "pay",
        "delivery_name": "ship_to", "delivery_address": "ship_address.street", "delivery_zip": "ship_address.postcode",
        "delivery_city": "ship_address.town", "delivery_country": "ship_address.country",
        "specter_order_no": None, "transfer_error": None,
    },
    "line_fields": {"sku": "code", "qty": "count", "price_excl_vat": "unit_price"},
}


def make_adapter(**changes: Any) -> SQLAlchemyShopAdapter:
    return SQLAlchemyShopAdapter(db, **{**OPTIONS, **changes})


def make_app(shop_config: dict[str, Any], adapter: SQLAlchemyShopAdapter) -> Flask:
    app = Flask("variants")
    app.config.update(shop_config)
    db.init_app(app)
    Specter(app, db=db, adapter=adapter, create_tables=True)
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def variant_shop(shop_config):
    app = make_app(shop_config, make_adapter())
    yield app
    close_shop(app)




# -- the rules, on plain objects ----------------------------------------------------------------------


def test_a_variants_name_and_price_come_from_its_own_values_or_its_parents():
    adapter = SQLAlchemyShopAdapter(None, **OPTIONS)
    style = SimpleNamespace(title="Tröja Ull", base_price=Decimal("400"), vat=Decimal("12"))

    def record(**own: Any) -> tuple[str, Decimal, Decimal]:
        variant = SimpleNamespace(**{"code": "T-1", "label": None, "price": None, "on_hand": 3, "style": style, **own})
        rec = adapter.product_record(variant)
        return rec.name, rec.price_excl_vat, rec.vat_percent

    assert record(label="Röd, M") == ("Tröja Ull (Röd, M)", Decimal("400"), Decimal("12"))
    assert record(label="Röd, M", price=Decimal("350")) == ("Tröja Ull (Röd, M)", Decimal("350"), Decimal("12"))
    assert record(price=Decimal("0"))[1] == Decimal("0")  # the variant's own value, 0 included, overrides
    # No title of its own (None, empty or blank): the parent's name, never an empty name_1.
    for label in (None, "", "   "):
        assert record(label=label)[0] == "Tröja Ull"
    style.title = ""
    assert record()[0] == "T-1"  # neither has a name: the SKU
    assert record(label="Blå")[0] == "Blå"
    # A product without a parent is an ordinary product: its own values only.
    assert record(style=None, label="Lös", price=Decimal("10")) == ("Lös", Decimal("10"), Decimal("25"))  # no VAT attribute: 25

    own_format = SQLAlchemyShopAdapter(None, **{**OPTIONS, "variant_name": "{parent} - {variant}"})
    style.title = "Mössa"
    assert own_format.product_record(SimpleNamespace(code="M-1", label="Grön", price=None, on_hand=0, style=style)).name == "Mössa - Grön"
    # Dotted paths and None read empty values, never an error.
    assert adapter.customer_record(SimpleNamespace(id=4, email="a@b.se", given="A", family="B", default_address=None)).city == ""


def test_the_order_header_carries_the_delivery_address():
    config = {"SPECTER_CURRENCY": "SEK", "SPECTER_LANGUAGE": "SE"}
    delivered = Order(ref="1", number="N1", customer_ref="1", delivery=Address(name="Åsa Ek ", address="Storgatan 1", zip="111 22", city="Västerås"))
    header = wire.order_header(delivered, config, {})
    assert {k: v for k, v in header.items() if k.startswith("delivery")} == {
        "deliveryAttention": "Åsa Ek", "deliveryAddress": "Storgatan 1", "deliveryZipCodeEng": "111 22",
        "deliveryCity": "Västerås", "deliveryCountryCode": "SE",
    }
    assert not any(k.startswith("delivery") for k in wire.order_header(Order(ref="2", number="N2", customer_ref="1"), config, {}))
    adapter = SQLAlchemyShopAdapter(None, **OPTIONS)
    bare = SimpleNamespace(id=2, ref="N2", user_id=1, items=[], pay="card", ship_to=None, ship_address=None)
    assert adapter.order_record(bare).delivery is None  # nothing but defaults: no delivery address


# -- over HTTP --------------------------------------------------------------------------------------------


def test_a_parent_change_sends_one_update_per_variant(variant_shop, sandbox):
    app = variant_shop
    with app.app_context():
        style = Style(title="Tröja", base_price=Decimal("400.00"), vat=Decimal("25"))
        style.variants = [
            Variant(code="TR-R", label="Röd", on_hand=4),
            Variant(code="TR-B", label=None, on_hand=2),
            Variant(code="TR-G", label="Grön", price=Decimal("450.00"), on_hand=1),
        ]
        db.session.add(style)
        db.session.commit()
    assert sorted(unsent_rows(app)) == [("product", "create", "TR-B"), ("product", "create", "TR-G"), ("product", "create", "TR-R")]
    assert drain_outbox(app)["sent"] == 3
    articles = sandbox_articles(sandbox)
    assert {sku: (articles[sku]["name"], articles[sku]["priceExclVat"]) for sku in ("TR-R", "TR-B", "TR-G")} == {
        "TR-R": ("Tröja (Röd)", "400.00"), "TR-B": ("Tröja", "400.00"), "TR-G": ("Tröja (Grön)", "450.00"),
    }

    # The style's title and base price: one update per variant, and nothing for the style itself.
    with app.app_context():
        style = db.session.execute(select(Style)).scalar_one()
        style.title = "Tröja Ull"
        style.base_price = Decimal("420.00")
        db.session.commit()
    assert sorted(unsent_rows(app)) == [("product", "update", "TR-B"), ("product", "update", "TR-G"), ("product", "update", "TR-R")]
    assert drain_outbox(app)["sent"] == 3
    articles = sandbox_articles(sandbox)
    assert {sku: (articles[sku]["name"], articles[sku]["priceExclVat"]) for sku in ("TR-R", "TR-B", "TR-G")} == {
        "TR-R": ("Tröja Ull (Röd)", "420.00"), "TR-B": ("Tröja Ull", "420.00"), "TR-G": ("Tröja Ull (Grön)", "450.00"),
    }

    # A field the variants do not read (active) sends nothing; a variant moved to another style is sent.
    with app.app_context():
        db.session.execute(select(Style)).scalar_one().active = False
        db.session.commit()
        assert unsent_rows(app) == []
        other = Style(title="Kofta", base_price=Decimal("500.00"))
        db.session.add(other)
        db.session.execute(select(Variant).where(Variant.code == "TR-B")).scalar_one().style = other
        db.session.commit()
    assert unsent_rows(app) == [("product", "update", "TR-B")]
    assert drain_outbox(app)["sent"] == 1
    assert (sandbox_articles(sandbox)["TR-B"]["name"], sandbox_articles(sandbox)["TR-B"]["priceExclVat"]) == ("Kofta", "500.00")


def test_specters_article_data_for_a_variant_keeps_what_it_inherits(variant_shop):
    from flask_specter.origin import suppress_outbox

    app = variant_shop
    with app.app_context():
        style = Style(title="Tröja", base_price=Decimal("400.00"))
        style.variants = [Variant(code="TR-R", label="Röd"), Variant(code="TR-B", label="Blå")]
        db.session.add(style)
        db.session.commit()
    drain_outbox(app)
    adapter = app.extensions["specter"].adapter
    with app.app_context(), suppress_outbox():
        red = adapter.get_product("TR-R")
        blue = adapter.get_product("TR-B")
        # Specter reports what the variant shows already: no override is written, nor the composed name.
        assert adapter.apply_article(ArticleInfo(article_no="TR-R", name="Tröja (Röd)", price_excl_vat=Decimal("400.00")), {}) == "updated"
        assert adapter.apply_article(ArticleInfo(article_no="TR-B", name="Något annat", price_excl_vat=Decimal("380.00")), {}) == "updated"
        db.session.commit()
        assert (red.label, red.price) == ("Röd", None)
        assert (blue.label, blue.price) == ("Blå", Decimal("380.00"))  # a price of its own now
    assert unsent_rows(app) == []  # Specter's own values are not sent back


def test_an_address_change_on_the_related_model_updates_specters_customer(variant_shop, sandbox):
    app = variant_shop
    with app.app_context():
        home = PostalAddress(street="Storgatan 1", postcode="722 10", town="Västerås")
        user = User(email="asa@example.se", given="Åsa", family="Ek", default_address=home)
        partner = User(email="bo@example.se", given="Bo", family="Ek", default_address=home)
        db.session.add_all([user, partner])
        db.session.commit()
    assert drain_outbox(app)["sent"] == 2
    assert {c["emailAddress"]: (c["address"], c["zipCodeEng"], c["city"]) for c in sandbox_customers(sandbox)} == {
        "asa@example.se": ("Storgatan 1", "722 10", "Västerås"), "bo@example.se": ("Storgatan 1", "722 10", "Västerås"),
    }

    # The shared address is edited: both customers are updated.
    with app.app_context():
        db.session.execute(select(PostalAddress)).scalar_one().street = "Kungsgatan 5"
        db.session.commit()
    assert sorted(op for _k, op, _r in unsent_rows(app)) == ["update", "update"]
    assert drain_outbox(app)["sent"] == 2
    assert {c["address"] for c in sandbox_customers(sandbox)} == {"Kungsgatan 5"}

    # One of them moves: a new address object chosen is a change of the customer too.
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == "asa@example.se")).scalar_one()
        user.default_address = PostalAddress(street="Åvägen 3", postcode="113 50", town="Stockholm")
        db.session.commit()
        user_ref = str(user.id)
    assert unsent_rows(app) == [("customer", "update", user_ref)]
    assert drain_outbox(app)["sent"] == 1
    assert {c["emailAddress"]: c["city"] for c in sandbox_customers(sandbox)} == {"asa@example.se": "Stockholm", "bo@example.se": "Västerås"}


def test_an_order_with_a_delivery_address_carries_it_to_specter(variant_shop, sandbox):
    app = variant_shop
    with app.app_context():
        style = Style(title="Mössa", base_price=Decimal("150.00"))
        style.variants = [Variant(code="MO-1", label="Grå", on_hand=5)]
        user = User(email="asa@example.se", given="Åsa", family="Ek", default_address=PostalAddress(street="Storgatan 1", postcode="722 10", town="Västerås"))
        db.session.add_all([style, user])
        db.session.commit()
        gift = PostalAddress(street="Byvägen 7", postcode="930 90", town="Arjeplog", country="se")
        db.session.add(Purchase(ref="K-1", user_id=user.id, ship_to="Farmor Ek", ship_address=gift, items=[PurchaseItem(code="MO-1", count=1, unit_price=Decimal("150.00"))]))
        db.session.add(Purchase(ref="K-2", user_id=user.id, items=[PurchaseItem(code="MO-1", count=2, unit_price=Decimal("150.00"))]))
        db.session.commit()
    assert drain_outbox(app)["sent"] == 4
    [gift_order] = sandbox_orders(sandbox, "K-1")
    assert gift_order["delivery"] == {
        "deliveryAttention": "Farmor Ek", "deliveryAddress": "Byvägen 7", "deliveryZipCodeEng": "930 90",
        "deliveryCity": "Arjeplog", "deliveryCountryCode": "SE",
    }
    assert [(r["articleNo"], r["qty"]) for r in gift_order["rows"]] == [("MO-1", 1)]
    [plain] = sandbox_orders(sandbox, "K-2")
    assert plain["delivery"] is None  # no delivery address of its own: Specter uses the customer's


# -- init_app refuses a misspelled option ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"customer_fields": {**OPTIONS["customer_fields"], "city": "default_adress.town"}}, ["customer_fields['city']", "User", "'default_adress'"]),
        ({"customer_fields": {**OPTIONS["customer_fields"], "zip": "default_address.zipcode"}}, ["customer_fields['zip']", "PostalAddress", "'zipcode'"]),
        ({"product_fields": {**OPTIONS["product_fields"], "nmae": "label"}}, ["product_fields", "'nmae' is not a field"]),
        ({"product_fields": {**OPTIONS["product_fields"], "stock": "onhand"}}, ["product_fields['stock']", "Variant", "'onhand'"]),
        ({"parent": "styel"}, ["parent = 'styel'", "Variant", "'styel'"]),
        ({"parent_fields": {**OPTIONS["parent_fields"], "name": "titel"}}, ["parent_fields['name']", "Style", "'titel'"]),
        ({"order_fields": {**OPTIONS["order_fields"], "delivery_city": "ship_address.city"}}, ["order_fields['delivery_city']", "PostalAddress", "'city'"]),
        ({"line_fields": {**OPTIONS["line_fields"], "qty": "cnt"}}, ["line_fields['qty']", "PurchaseItem", "'cnt'"]),
        ({"variant_name": "{parent} {colour}"}, ["variant_name", "{parent} {colour}"]),
        ({"line_model": Style}, ["line_model Style", "Purchase"]),
    ],
)
def test_a_misspelled_option_fails_at_init_app_naming_model_field_and_attribute(shop_config, changes, expected):
    app = Flask("misspelled")
    app.config.update(shop_config)
    with pytest.raises(SpecterConfigError) as failure:
        Specter(app, db=db, adapter=make_adapter(**changes))
    message = str(failure.value)
    assert all(part in message for part in expected), message
    assert "specter" not in app.extensions  # nothing registered
