"""Checkout as the shop does it: the order is flushed first (its number comes from its id), then its lines
are added and the stock of what ships goes down: a kit's components, not the kit. One commit at the end."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from .models import Cart, Order, OrderLine, Product, Variant, db, kit_parts

SHIPPING = Decimal("59.00")  # PostNord, moms included
FREE_SHIPPING_FROM = Decimal("800.00")


class CheckoutError(Exception):
    pass


@dataclass(frozen=True)
class Buyer:
    email: str
    name: str
    phone: str
    street: str
    postcode: str
    city: str


def place_order(cart: Cart, buyer: Buyer, user_id: int | None = None) -> Order:
    """The cart becomes an order; raises ``CheckoutError`` (nothing changed) when it is empty or short."""
    if not cart.items:
        raise CheckoutError("Varukorgen är tom.")
    if "@" not in buyer.email or not buyer.name.strip() or not buyer.street.strip():
        raise CheckoutError("Fyll i e-post, namn och adress.")
    order = Order(user_id=user_id, status="ny", email=buyer.email.strip().lower(), name=buyer.name.strip(), phone=buyer.phone.strip(),
                  street=buyer.street.strip(), postcode=buyer.postcode.strip(), city=buyer.city.strip())
    db.session.add(order)
    db.session.flush()  # the id gives the order number
    order.number = str(10000 + order.id)

    total = Decimal("0")
    needed: dict[int, int] = {}  # variant id -> how many ship
    for item in cart.items:
        variant = db.session.get(Variant, item.variant_id)
        product = db.session.get(Product, variant.product_id) if variant else None
        if variant is None or product is None or not product.published:
            raise _cancel(f"Artikeln finns inte längre ({item.variant_id}).")
        price = variant.list_price
        name = f"{product.name} ({variant.label})" if variant.label else product.name
        db.session.add(OrderLine(order_id=order.id, product_id=product.id, variant_id=variant.id, sku=variant.sku, name=name,
                                 quantity=item.quantity, unit_price=price, vat_rate=product.vat_rate))
        total += price * item.quantity
        for part, per_item in kit_parts(product.id) if product.is_kit else [(variant, 1)]:
            needed[part.id] = needed.get(part.id, 0) + per_item * item.quantity
    # Lock what ships, always in the same order, and as FOR NO KEY UPDATE: the lines just inserted hold
    # key-share locks on these rows (their foreign keys), which a plain FOR UPDATE would wait for.
    locked = db.session.execute(
        select(Variant).where(Variant.id.in_(needed)).order_by(Variant.id).with_for_update(key_share=True).execution_options(populate_existing=True)
    ).scalars().all()
    for variant in locked:
        if variant.stock < needed[variant.id]:
            raise _cancel(f"Bara {variant.stock} kvar av {variant.sku}.")
        variant.stock -= needed[variant.id]
    order.shipping_price = Decimal("0") if total >= FREE_SHIPPING_FROM else SHIPPING
    db.session.delete(cart)
    db.session.commit()
    return order


def _cancel(message: str) -> CheckoutError:
    db.session.rollback()
    return CheckoutError(message)
