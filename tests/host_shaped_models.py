"""A small shop shaped the way a stranger writes one (issue 23, 2.3/2.4/2.6/2.7/2.8): ids without
``relationship()``, a user with one name field and several address rows pointing at it by id, guest
orders that carry the buyer, variants tied to their product by ``product_id`` only. The Specter wiring
below is configuration alone: no subclass, no listener."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flask_specter import Specter, SQLAlchemyShopAdapter


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Product(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # no "vat_percent", no "active": defaults it lacks


class Variant(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "variants"
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))  # no relationship()
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    stock: Mapped[int] = mapped_column(default=0)


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(40))


class Address(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # the user has no "addresses" attribute
    street: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(default=False)


class Member(db.Model):  # type: ignore[name-defined,misc]
    """A user whose addresses are a one-to-many relationship, the main one flagged ``main``."""

    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(100))
    addresses: Mapped[list[MemberAddress]] = relationship()


class MemberAddress(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "member_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    city: Mapped[str] = mapped_column(String(100))
    main: Mapped[bool] = mapped_column(default=False)


class Order(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: a guest
    email: Mapped[str | None] = mapped_column(String(200))
    buyer_name: Mapped[str | None] = mapped_column(String(200))
    buyer_phone: Mapped[str | None] = mapped_column(String(40))
    street: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    payment: Mapped[str] = mapped_column(String(20), default="card")
    lines: Mapped[list[OrderLine]] = relationship(order_by="OrderLine.id")


class OrderLine(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    sku: Mapped[str] = mapped_column(String(50))
    qty: Mapped[int]
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))


ADDRESS = "Address[user_id]"  # the user's Address rows: the default one, else the latest
OPTIONS: dict[str, Any] = {
    "product_model": Variant,
    "customer_model": User,
    "order_model": Order,
    "product_fields": {"sku": "sku", "name": "label", "price_excl_vat": "price", "stock": "stock", "vat_percent": None},
    "parent": "product_id",  # a foreign-key id, no relationship()
    "parent_fields": {"name": "title", "price_excl_vat": "price"},
    "customer_fields": {
        "name": "full_name", "address": f"{ADDRESS}.street", "zip": f"{ADDRESS}.postcode", "city": f"{ADDRESS}.city",
        "specter_customer_no": None,
    },
    "order_fields": {
        "number": "number", "customer_id": "user_id", "lines": "lines", "payment_method": "payment",
        "delivery_name": "user_id.full_name", "specter_order_no": None, "transfer_error": None,
    },
    "line_fields": {"sku": "sku", "qty": "qty", "price_excl_vat": "price"},
    "guest_customer_fields": {
        "email": "email", "name": "buyer_name", "phone": "buyer_phone", "address": "street", "zip": "postcode", "city": "city",
    },
}


def make_adapter(**changes: Any) -> SQLAlchemyShopAdapter:
    return SQLAlchemyShopAdapter(db, **{**OPTIONS, **changes})


def make_app(shop_config: dict[str, Any], adapter: SQLAlchemyShopAdapter | None = None) -> Flask:
    app = Flask("host_shaped")
    app.config.update(shop_config)
    db.init_app(app)
    Specter(app, db=db, adapter=adapter or make_adapter(), create_tables=True)
    with app.app_context():
        db.create_all()
    return app


def add_catalogue() -> None:
    """A sweater in two colours, one at its product's price."""
    sweater = Product(title="Tröja", price=Decimal("400.00"))
    db.session.add(sweater)
    db.session.flush()
    db.session.add_all([
        Variant(product_id=sweater.id, sku="TR-R", label="Röd", stock=5),
        Variant(product_id=sweater.id, sku="TR-B", label="Blå", price=Decimal("380.00"), stock=5),
    ])
    db.session.commit()


def line(sku: str = "TR-R", qty: int = 1, price: str = "400.00") -> OrderLine:
    return OrderLine(sku=sku, qty=qty, price=Decimal(price))
