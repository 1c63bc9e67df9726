"""The variant shop's data, shaped the way many open-source Flask shops shape it.

- A ``Product`` (title, description, base price, VAT rate) has ``Variant`` rows; the variant is what is
  sold and stocked: its SKU, its stock, its ``allocated`` quantity (raised at checkout, lowered with the
  stock at payment), an optional price of its own and ``updated_at`` (``onupdate``: the cache's key).
- A ``User`` has ``Address`` rows and points at the default one.
- An ``Order`` is committed first, its ``OrderLine`` rows after it; ``paid`` is set by the payment code;
  ``status`` is an integer (``OrderStatus``).

Prices are excluding VAT, as the shop's accounting keeps them.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class OrderStatus(enum.IntEnum):
    PENDING = 1  # placed, not paid
    PAID = 2
    PROCESSING = 3  # picked and packed by the warehouse
    PARTLY_SHIPPED = 4
    CANCELLED = 5
    SHIPPED = 6


class Product(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "vs_product"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(default="")
    base_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("25"))
    published: Mapped[bool] = mapped_column(default=True)
    variants: Mapped[list[Variant]] = relationship(back_populates="product", order_by="Variant.id", cascade="all, delete-orphan")


class Variant(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "vs_variant"
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("vs_product.id"))
    product: Mapped[Product] = relationship(back_populates="variants")
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))  # "Röd, M"; None: the product's only variant
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # None: the product's base price
    ean: Mapped[str | None] = mapped_column(String(20))
    stock: Mapped[int] = mapped_column(default=0)
    allocated: Mapped[int] = mapped_column(default=0)  # in unpaid orders
    updated_at: Mapped[dt.datetime] = mapped_column(default=_now, onupdate=_now)  # the listing cache's key

    @property
    def unit_price(self) -> Decimal:
        return self.price if self.price is not None else self.product.base_price

    @property
    def available(self) -> int:
        return self.stock - self.allocated


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "vs_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    default_address_id: Mapped[int | None] = mapped_column(ForeignKey("vs_address.id", use_alter=True))
    default_address: Mapped[Address | None] = relationship(foreign_keys=[default_address_id], post_update=True)
    addresses: Mapped[list[Address]] = relationship(back_populates="user", foreign_keys="Address.user_id", order_by="Address.id")


class Address(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "vs_address"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("vs_user.id"))
    user: Mapped[User] = relationship(back_populates="addresses", foreign_keys=[user_id])
    recipient: Mapped[str] = mapped_column(String(200))
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="SE")


class Order(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "vs_order"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("vs_user.id"))
    user: Mapped[User] = relationship()
    shipping_address_id: Mapped[int | None] = mapped_column(ForeignKey("vs_address.id"))
    shipping_address: Mapped[Address | None] = relationship()
    status: Mapped[int] = mapped_column(default=OrderStatus.PENDING)
    paid: Mapped[bool] = mapped_column(default=False)
    paid_at: Mapped[dt.datetime | None]
    payment_method: Mapped[str] = mapped_column(String(20))
    payment_reference: Mapped[str | None] = mapped_column(String(100))
    shipping_method: Mapped[str] = mapped_column(String(40), default="postnord")
    shipping_cost: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    note: Mapped[str | None] = mapped_column(String(500))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.id")


class OrderLine(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "vs_order_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("vs_order.id"))
    order: Mapped[Order] = relationship(back_populates="lines")
    variant_id: Mapped[int] = mapped_column(ForeignKey("vs_variant.id"))
    variant: Mapped[Variant] = relationship()
    sku: Mapped[str] = mapped_column(String(50))  # copied at checkout: the line keeps it if the variant goes
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
