"""Placing an order: customer, order and lines, stock decrement and commit in ONE transaction.

Storefront and JSON API both come through ``place_order`` so the stock rule (Specter is master, the
shop only decrements for its own orders, never below zero) lives in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from flask_specter.stock import decrement_for_order

from . import checkout_keys
from .models import PAYMENT_METHODS, Customer, Order, OrderLine, Product, db

log = logging.getLogger("example_shop")

# Shipping choices of the storefront: key -> (label, price excl. VAT).
SHIPPING_METHODS: dict[str, tuple[str, Decimal]] = {
    "postnord": ("PostNord ombud", Decimal("49.00")),
    "hemleverans": ("Hemleverans", Decimal("119.00")),
    "hamta": ("Hämta i butik", Decimal("0.00")),
}


class OrderError(Exception):
    """Bad order input; ``status`` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 400, **details):
        super().__init__(message)
        self.status = status
        self.details = details


@dataclass
class LineRequest:
    sku: str
    qty: int


def place_order(
    customer: Customer,
    lines: list[LineRequest],
    *,
    payment_method: str = "invoice",
    payment_reference: str | None = None,
    shipping_method: str | None = None,
    shipping_price_excl_vat: Decimal = Decimal("0"),
    discount_excl_vat: Decimal = Decimal("0"),
    comment: str | None = None,
    idempotency_key: str | None = None,
) -> Order:
    """Add the order (and ``customer``, if new) and commit.

    ``idempotency_key`` (the checkout form's) is claimed first: a second checkout with the same key
    fails with ``IntegrityError`` before it touches stock, and ``checkout_keys.order_for_key`` finds
    the first one's order. Raises ``OrderError`` (bad input) or ``flask_specter.stock.OutOfStock``
    after rolling back.
    """
    try:
        key_row = checkout_keys.claim(idempotency_key) if idempotency_key else None
        if not lines:
            raise OrderError("an order needs at least one line")
        if payment_method not in PAYMENT_METHODS:
            raise OrderError(f"payment_method must be one of {', '.join(PAYMENT_METHODS)}")
        skus = {line.sku for line in lines}
        products = {p.sku: p for p in db.session.execute(select(Product).where(Product.sku.in_(skus))).scalars()}
        order = Order(
            customer=customer,
            payment_method=payment_method,
            payment_reference=payment_reference or None,
            shipping_method=shipping_method,
            shipping_price_excl_vat=shipping_price_excl_vat,
            discount_excl_vat=discount_excl_vat,
            comment=comment or None,
        )
        for line in lines:
            product = products.get(line.sku)
            if product is None:
                raise OrderError(f"unknown sku {line.sku!r}", 404, sku=line.sku)
            if not product.active:
                raise OrderError(f"{line.sku} is not for sale", 400, sku=line.sku)
            if line.qty < 1:
                raise OrderError(f"qty of {line.sku} must be at least 1", 400, sku=line.sku)
            order.lines.append(
                OrderLine(
                    sku=product.sku, name=product.name, qty=line.qty, price_excl_vat=product.price_excl_vat, vat_percent=product.vat_percent
                )
            )
        db.session.add(order)
        db.session.flush()  # the order needs its id (and number) before the stock decrement
        if key_row is not None:
            key_row.order_id = order.id
        decrement_for_order(order)
        db.session.commit()
    except Exception:  # OrderError, OutOfStock or anything else: nothing of the order may stay
        db.session.rollback()
        raise
    log.info("order %s placed: %d line(s), customer %s", order.number, len(order.lines), customer.id)
    return order


def find_customer_by_email(email: str) -> Customer | None:
    return db.session.execute(select(Customer).where(Customer.email == email.strip().lower())).scalar_one_or_none()
