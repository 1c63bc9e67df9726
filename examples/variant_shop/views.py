"""The storefront's JSON routes: the catalogue (cached, keyed by the variants' ``updated_at``), checkout, the payment provider's notification and
the customer's address book."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .cache import LISTING, get_cache, product_key
from .checkout import CartItem, CheckoutError, place_order
from .models import Address, Order, Product, User, Variant, db
from .payment import confirm_payment

bp = Blueprint("variant_shop", __name__)


def _product(product: Product) -> dict[str, Any]:
    return {
        "id": product.id, "title": product.title, "price": str(product.base_price),
        "variants": [{"sku": v.sku, "name": v.name, "price": str(v.unit_price), "available": v.available} for v in product.variants],
    }


def _stamp(*where: Any) -> str:
    """The latest ``updated_at`` of the variants shown: it moves whenever one of them is written."""
    return str(db.session.execute(select(func.max(Variant.updated_at)).where(*where)).scalar())


@bp.get("/products")
def products() -> Any:
    cache, stamp = get_cache(), _stamp()
    listing = cache.get(LISTING, stamp)
    if listing is None:
        rows = db.session.execute(select(Product).where(Product.published).options(selectinload(Product.variants)).order_by(Product.id)).scalars()
        listing = [_product(p) for p in rows]
        cache.set(LISTING, listing, stamp)
    return jsonify(listing)


@bp.get("/products/<int:product_id>")
def product(product_id: int) -> Any:
    cache, stamp = get_cache(), _stamp(Variant.product_id == product_id)
    page = cache.get(product_key(product_id), stamp)
    if page is None:
        page = _product(db.get_or_404(Product, product_id))
        cache.set(product_key(product_id), page, stamp)
    return jsonify(page)


@bp.post("/checkout")
def checkout() -> Any:
    data = request.get_json(force=True)
    user = db.get_or_404(User, data.get("user_id"))
    try:
        items = [CartItem(str(i["sku"]), int(i["quantity"])) for i in data.get("items", [])]
        order = place_order(user, items, payment_method=str(data.get("payment_method", "card")), shipping_method=str(data.get("shipping_method", "postnord")))
    except (CheckoutError, KeyError, TypeError, ValueError) as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify({"order": order.reference, "id": order.id}), 201


@bp.post("/payments/notify")
def payment_notification() -> Any:
    data = request.get_json(force=True)
    order = db.session.execute(select(Order).where(Order.reference == data.get("order"))).scalar_one_or_none()
    if order is None:
        abort(404)
    confirm_payment(order, str(data.get("transaction", "")))
    return jsonify({"order": order.reference, "paid": True})


@bp.post("/account/<int:user_id>/addresses")
def add_address(user_id: int) -> Any:
    """A new address; ``"default": true`` makes it the one orders go to."""
    user = db.get_or_404(User, user_id)
    data = request.get_json(force=True)
    fields = ("recipient", "line1", "line2", "postcode", "city", "country")
    address = Address(user=user, **{k: data[k] for k in fields if k in data})
    db.session.add(address)
    if data.get("default"):
        user.default_address = address
    db.session.commit()
    return jsonify({"id": address.id}), 201


@bp.put("/account/<int:user_id>/addresses/<int:address_id>")
def edit_address(user_id: int, address_id: int) -> Any:
    address = db.get_or_404(Address, address_id)
    if address.user_id != user_id:
        abort(404)
    data = request.get_json(force=True)
    for key in ("recipient", "line1", "line2", "postcode", "city", "country"):
        if key in data:
            setattr(address, key, data[key])
    db.session.commit()
    return jsonify({"id": address.id})
