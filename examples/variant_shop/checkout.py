"""Checkout in two commits, as the shop always did it: the order row first (so the payment provider can
be handed its reference), its lines in a second commit that also allocates the variants' stock."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from .cache import get_cache
from .models import Order, OrderLine, OrderStatus, User, Variant, db

SHIPPING = {"postnord": ("PostNord", 49), "pickup": ("Hämta i butik", 0)}


class CheckoutError(Exception):
    pass


@dataclass(frozen=True)
class CartItem:
    sku: str
    quantity: int


def place_order(user: User, items: list[CartItem], *, payment_method: str, shipping_method: str = "postnord") -> Order:
    if not items or any(item.quantity <= 0 for item in items):
        raise CheckoutError("the cart is empty")
    if shipping_method not in SHIPPING:
        raise CheckoutError(f"unknown shipping method {shipping_method!r}")
    order = Order(
        reference=f"VS-{secrets.token_hex(4).upper()}", user=user, shipping_address=user.default_address,
        status=OrderStatus.PENDING, payment_method=payment_method, shipping_method=shipping_method,
        shipping_cost=SHIPPING[shipping_method][1],
    )
    db.session.add(order)
    db.session.commit()  # step 1: the order row

    try:
        for item in items:
            variant = db.session.execute(select(Variant).where(Variant.sku == item.sku).with_for_update()).scalar_one_or_none()
            if variant is None:
                raise CheckoutError(f"no such article {item.sku}")
            if variant.available < item.quantity:
                raise CheckoutError(f"only {variant.available} of {item.sku} left")
            variant.allocated += item.quantity
            db.session.add(OrderLine(order=order, variant=variant, sku=variant.sku, quantity=item.quantity, unit_price=variant.unit_price))
        db.session.commit()  # step 2: the lines and the allocation
    except CheckoutError:
        db.session.rollback()
        order.status = OrderStatus.CANCELLED
        db.session.commit()
        raise
    get_cache().forget_products(line.variant.product_id for line in order.lines)
    return order
