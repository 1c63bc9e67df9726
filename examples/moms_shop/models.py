"""The moms shop's data, as a small Swedish web shop keeps it.

- Prices are what the customer pays: including moms (VAT), with the product's VAT rate (25 % for most
  goods, 12 % for food).
- Every ``Product`` has one or more ``Variant`` rows, tied to it by ``product_id`` only; the variant is
  what is sold and stocked. A variant's ``price`` of 0 means "the product's price".
- A kit (``Product.is_kit``) is sold as one article and ships other articles: its ``KitItem`` rows name
  the component variants and how many of each one kit holds. Its own variant keeps no stock.
- Checkout is for guests: the buyer's e-mail, name, phone and address are on the ``Order``; ``user_id``
  is set only when a registered ``User`` is logged in. People have one ``name`` field.
- A ``Cart`` row is made for every visitor on the first page view.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, Numeric, String, select
from sqlalchemy.orm import DeclarativeBase, DynamicMapped, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Product(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(default="")
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))  # including moms
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal("25"))
    is_kit: Mapped[bool] = mapped_column(default=False)
    published: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now, onupdate=now)

    def __str__(self) -> str:
        return self.name


class Variant(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "variants"
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))  # "Röd"; None: the product's only variant
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))  # including moms; 0: the product's
    stock: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now, onupdate=now)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.sku

    @property
    def list_price(self) -> Decimal:
        """What one costs, moms included: its own price, or its product's when it has none (0)."""
        return self.price or db.session.get_one(Product, self.product_id).price


class KitItem(db.Model):  # type: ignore[name-defined,misc]
    """One kind of article in a kit: ``qty`` of the variant ``component_id`` in each kit ``kit_id`` (a product)."""

    __tablename__ = "kit_items"
    kit_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), primary_key=True)
    qty: Mapped[int] = mapped_column(default=1)


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    street: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))


class Order(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)  # from the id, after the first flush
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: a guest
    email: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40), default="")
    street: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="SE")
    status: Mapped[str] = mapped_column(String(20), default="ny")  # ny, betald, skickad, makulerad
    shipping_price: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))  # including moms
    transaction_id: Mapped[str | None] = mapped_column(String(100))
    paid_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    lines: DynamicMapped[OrderLine] = relationship(lazy="dynamic", order_by="OrderLine.id")


class OrderLine(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    sku: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))  # including moms
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(4, 2))

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity

    def shipments(self) -> list[tuple[str, int, Decimal, Decimal]]:
        """What the line ships: (sku, quantity, unit price with moms, VAT rate). A kit ships its components,
        its price split over them by their own prices, as the receipt must split a package whose goods have
        different VAT rates; any other line ships itself."""
        parts = [(v, n, db.session.get_one(Product, v.product_id)) for v, n in kit_parts(self.product_id)]
        if not parts:
            return [(self.sku, self.quantity, self.unit_price, self.vat_rate)]
        worth = sum(v.list_price * n for v, n, _p in parts)
        return [(v.sku, n * self.quantity, self.unit_price * v.list_price / worth, p.vat_rate) for v, n, p in parts]


class Cart(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "carts"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    items: Mapped[list[CartItem]] = relationship(cascade="all, delete-orphan", order_by="CartItem.id")


class CartItem(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "cart_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[int] = mapped_column(default=1)


def kit_parts(product_id: int) -> list[tuple[Variant, int]]:
    """What one kit ``product_id`` ships: (component variant, how many), in the kit's order; [] for a non-kit."""
    rows = db.session.execute(
        select(Variant, KitItem.qty).join(KitItem, KitItem.component_id == Variant.id).where(KitItem.kit_id == product_id).order_by(Variant.id)
    )
    return [(variant, qty) for variant, qty in rows.tuples()]
