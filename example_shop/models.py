"""The shop's tables, with the field names ``SQLAlchemyShopAdapter`` expects by default.

Order numbers (``WEB-000123``) are derived from the id in the same flush that inserts the order, so
every path that creates orders (storefront, API, admin) gets one before anything reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Numeric, event, update
from sqlalchemy.orm import attributes
from werkzeug.security import check_password_hash, generate_password_hash

from flask_specter import SKU_MAX_LENGTH  # a SKU is Specter's articleNo: at most 50 characters

db = SQLAlchemy()

ORDER_NUMBER_PREFIX = "WEB-"
PAYMENT_METHODS = ("invoice", "klarna", "card", "swish")


def _now() -> datetime:
    return datetime.now(UTC)


class Category(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(200), nullable=False)
    active = db.Column(db.Boolean, nullable=False, default=True)
    parent_id = db.Column(db.Integer, db.ForeignKey("category.id"), nullable=True)

    parent = db.relationship("Category", remote_side=[id], backref="children")

    def __str__(self) -> str:
        return self.name


class Product(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    sku = db.Column(db.String(SKU_MAX_LENGTH), unique=True, nullable=False, index=True)
    name = db.Column(db.String(300), nullable=False)
    description = db.Column(db.Text, nullable=True)
    price_excl_vat = db.Column(Numeric(12, 2, asdecimal=True), nullable=False, default=Decimal("0.00"))
    vat_percent = db.Column(Numeric(5, 2, asdecimal=True), nullable=False, default=Decimal("25"))
    stock = db.Column(db.Integer, nullable=False, default=0)
    active = db.Column(db.Boolean, nullable=False, default=True)
    category_id = db.Column(db.Integer, db.ForeignKey("category.id"), nullable=True)
    parent_id = db.Column(db.Integer, db.ForeignKey("product.id"), nullable=True)
    buy_price = db.Column(Numeric(12, 2, asdecimal=True), nullable=True)
    barcode = db.Column(db.String(64), nullable=True)
    weight = db.Column(Numeric(10, 3, asdecimal=True), nullable=True)

    category = db.relationship("Category", backref="products")
    parent = db.relationship("Product", remote_side=[id], backref=db.backref("variants", order_by="Product.sku"))

    @property
    def price_incl_vat(self) -> Decimal:
        return with_vat(self.price_excl_vat, self.vat_percent)

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Customer(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(254), unique=True, nullable=False, index=True)
    first_name = db.Column(db.String(100), nullable=True)
    last_name = db.Column(db.String(100), nullable=True)
    company = db.Column(db.String(200), nullable=True)
    org_no = db.Column(db.String(20), nullable=True)
    phone = db.Column(db.String(40), nullable=True)
    mobile = db.Column(db.String(40), nullable=True)
    address = db.Column(db.String(200), nullable=True)
    address2 = db.Column(db.String(200), nullable=True)
    zip = db.Column(db.String(20), nullable=True)
    city = db.Column(db.String(100), nullable=True)
    country = db.Column(db.String(2), nullable=False, default="SE")
    specter_customer_no = db.Column(db.String(40), nullable=True)
    password_hash = db.Column(db.String(255), nullable=True)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=_now)

    def __str__(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return self.company or name or self.email


class Order(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    number = db.Column(db.String(40), unique=True, nullable=True, index=True)
    customer_id = db.Column(db.Integer, db.ForeignKey("customer.id"), nullable=False)
    status = db.Column(db.String(40), nullable=False, default="received")
    currency = db.Column(db.String(3), nullable=False, default="SEK")
    payment_method = db.Column(db.String(20), nullable=False, default="invoice")
    payment_reference = db.Column(db.String(100), nullable=True)
    shipping_method = db.Column(db.String(100), nullable=True)
    shipping_price_excl_vat = db.Column(Numeric(12, 2, asdecimal=True), nullable=False, default=Decimal("0.00"))
    shipping_vat_percent = db.Column(Numeric(5, 2, asdecimal=True), nullable=False, default=Decimal("25"))
    discount_excl_vat = db.Column(Numeric(12, 2, asdecimal=True), nullable=False, default=Decimal("0.00"))
    comment = db.Column(db.Text, nullable=True)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=_now)
    specter_order_no = db.Column(db.String(40), nullable=True, index=True)
    transfer_error = db.Column(db.Text, nullable=True)
    tracking_no = db.Column(db.String(100), nullable=True)
    invoice_id = db.Column(db.String(40), nullable=True)

    customer = db.relationship("Customer", backref="orders")
    lines = db.relationship("OrderLine", back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id")

    @property
    def total_excl_vat(self) -> Decimal:
        goods = sum((line.total_excl_vat for line in self.lines), Decimal("0"))
        return goods + (self.shipping_price_excl_vat or 0) - (self.discount_excl_vat or 0)

    @property
    def shipping_incl_vat(self) -> Decimal:
        return with_vat(self.shipping_price_excl_vat or 0, self.shipping_vat_percent)

    @property
    def total_incl_vat(self) -> Decimal:
        goods = sum((line.total_incl_vat for line in self.lines), Decimal("0"))
        return goods + self.shipping_incl_vat - with_vat(self.discount_excl_vat or 0, 25)

    def __str__(self) -> str:
        return self.number or f"order {self.id}"


class OrderLine(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(db.Integer, db.ForeignKey("order.id", ondelete="CASCADE"), nullable=False, index=True)
    sku = db.Column(db.String(SKU_MAX_LENGTH), nullable=False)
    name = db.Column(db.String(300), nullable=False)
    qty = db.Column(db.Integer, nullable=False)
    price_excl_vat = db.Column(Numeric(12, 2, asdecimal=True), nullable=False)
    vat_percent = db.Column(Numeric(5, 2, asdecimal=True), nullable=False, default=Decimal("25"))

    order = db.relationship("Order", back_populates="lines")

    @property
    def total_excl_vat(self) -> Decimal:
        return Decimal(self.price_excl_vat or 0) * int(self.qty or 0)

    @property
    def total_incl_vat(self) -> Decimal:
        return with_vat(self.price_excl_vat or 0, self.vat_percent) * int(self.qty or 0)

    def __str__(self) -> str:
        return f"{self.qty} × {self.sku}"


class AdminUser(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(80), unique=True, nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __str__(self) -> str:
        return self.username


class AdminSession(db.Model):
    """Each admin's session version: a login stores it in the (client-side) session cookie, every request
    compares it, and logout bumps it, so a copied cookie is worth nothing once its admin has logged out.
    A table of its own (not a column on ``admin_user``): ``create_all`` adds it to an existing demo database."""

    admin_id = db.Column(db.Integer, db.ForeignKey("admin_user.id", ondelete="CASCADE"), primary_key=True)
    version = db.Column(db.Integer, nullable=False, default=0)


class LoginFailure(db.Model):
    """Failed logins per key (``user:<name>``, ``ip:<address>``) in the shop's database, so that every
    process of the shop counts them together; ``auth_throttle`` reads and writes it."""

    key = db.Column(db.String(200), primary_key=True)
    failures = db.Column(db.Integer, nullable=False, default=0)
    window_start = db.Column(db.Float, nullable=False)  # epoch seconds: no time zone to get wrong
    locked_until = db.Column(db.Float, nullable=True)


def with_vat(price_excl_vat, vat_percent) -> Decimal:
    """Price including VAT, rounded to öre."""
    price = Decimal(str(price_excl_vat or 0))
    vat = Decimal(str(vat_percent if vat_percent is not None else 25))
    return (price * (100 + vat) / 100).quantize(Decimal("0.01"))


def format_order_number(order_id: int) -> str:
    return f"{ORDER_NUMBER_PREFIX}{order_id:06d}"


@event.listens_for(Order, "after_insert")
def _assign_order_number(mapper, connection, target) -> None:  # noqa: ARG001
    """Number the order from its id inside the inserting flush (no second round trip for callers)."""
    if target.number:
        return
    number = format_order_number(target.id)
    connection.execute(update(Order.__table__).where(Order.__table__.c.id == target.id).values(number=number))
    attributes.set_committed_value(target, "number", number)
