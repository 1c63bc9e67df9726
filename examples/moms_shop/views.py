"""The storefront: the catalogue, the cart, the checkout form, the payment provider's return, and the
admin's login."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select

from .checkout import Buyer, CheckoutError, place_order
from .models import Cart, CartItem, Order, Product, Variant, db, kit_parts
from .payment import payment_returned

bp = Blueprint("shop", __name__)


def current_cart() -> Cart:
    """This visitor's cart; the first page view makes one (a row, committed at once)."""
    cart = db.session.get(Cart, session["cart_id"]) if "cart_id" in session else None
    if cart is None:
        cart = Cart()
        db.session.add(cart)
        db.session.commit()
        session["cart_id"] = cart.id
    return cart


def cart_context() -> dict[str, Any]:
    """Every page shows the cart's size in the header."""
    cart = current_cart()
    return {"cart_count": sum(item.quantity for item in cart.items)}


def available(variant: Variant, product: Product) -> int:
    if product.is_kit:
        parts = kit_parts(product.id)
        return min((part.stock // per_kit for part, per_kit in parts), default=0)
    return variant.stock


@bp.get("/")
def index() -> str:
    products = db.session.execute(select(Product).where(Product.published).order_by(Product.id)).scalars().all()
    variants = db.session.execute(select(Variant).order_by(Variant.id)).scalars().all()
    rows = [
        {"product": p, "variant": v, "price": v.list_price, "available": available(v, p)}
        for p in products for v in variants if v.product_id == p.id
    ]
    return render_template("index.html", rows=rows)


@bp.get("/produkt/<int:product_id>")
def product(product_id: int) -> str:
    item = db.get_or_404(Product, product_id)
    if not item.published:
        abort(404)
    variants = db.session.execute(select(Variant).where(Variant.product_id == item.id).order_by(Variant.id)).scalars().all()
    rows = [{"variant": v, "price": v.list_price, "available": available(v, item)} for v in variants]
    parts = kit_parts(item.id) if item.is_kit else []
    return render_template("product.html", product=item, rows=rows, parts=parts)


@bp.post("/varukorg")
def add_to_cart() -> Any:
    variant = db.get_or_404(Variant, request.form.get("variant_id", type=int))
    quantity = max(1, request.form.get("quantity", 1, type=int) or 1)
    cart = current_cart()
    item = next((i for i in cart.items if i.variant_id == variant.id), None)
    if item is None:
        cart.items.append(CartItem(variant_id=variant.id, quantity=quantity))
    else:
        item.quantity += quantity
    db.session.commit()
    return redirect(url_for("shop.checkout_form"))


@bp.get("/kassa")
def checkout_form() -> str:
    cart = current_cart()
    lines = []
    for item in cart.items:
        variant = db.session.get(Variant, item.variant_id)
        product = db.session.get(Product, variant.product_id) if variant else None
        if variant and product:
            lines.append({"name": product.name, "label": variant.label, "quantity": item.quantity, "price": variant.list_price})
    return render_template("checkout.html", lines=lines)


@bp.post("/kassa")
def checkout() -> Any:
    form = request.form
    buyer = Buyer(**{field: form.get(field, "") for field in ("email", "name", "phone", "street", "postcode", "city")})
    try:
        order = place_order(current_cart(), buyer, user_id=session.get("user_id"))
    except CheckoutError as exc:
        flash(str(exc))
        return redirect(url_for("shop.checkout_form"))
    session.pop("cart_id", None)
    return redirect(url_for("shop.pay", number=order.number))


@bp.get("/betala/<number>")
def pay(number: str) -> str:
    """Stands for the payment provider's page: its "Betala" link comes back to ``payment_return``."""
    order = db.first_or_404(select(Order).where(Order.number == number))
    return render_template("pay.html", order=order)


@bp.get("/betalning/klar")
def payment_return() -> str:
    """The payment provider sends the buyer back here: ``?order=<number>&transaction_id=<its id>``."""
    order = db.first_or_404(select(Order).where(Order.number == request.args.get("order", "")))
    transaction_id = request.args.get("transaction_id", "").strip()
    if not transaction_id:
        abort(400)
    payment_returned(order, transaction_id)
    return render_template("thanks.html", order=order)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The shop owner's login to /admin (one password, ``ADMIN_PASSWORD``)."""
    if request.method == "POST":
        expected = current_app.config.get("ADMIN_PASSWORD") or ""
        if expected and hmac.compare_digest(request.form.get("password", ""), expected):
            session["admin"] = True
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//") else "/admin/")
        flash("Fel lösenord.")
    return render_template("login.html")
