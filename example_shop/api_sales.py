"""The JSON API's customer and order routes (on ``api.bp``; ``api.py`` has the plumbing and products)."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from flask_specter.stock import OutOfStock

from . import validate as v
from .api import CUSTOMER_KEYS, CUSTOMER_TEXT, ORDER_KEYS, _body, _commit, _money, bp, protected
from .mail import send_order_confirmation
from .models import PAYMENT_METHODS, Customer, Order, db
from .orders import LineRequest, OrderError, place_order
from .validate import ApiError


# --- customers -------------------------------------------------------------------------------------
def customer_json(c: Customer) -> dict:
    data = {"id": c.id, "email": c.email, "country": c.country, "specter_customer_no": c.specter_customer_no}
    data.update({key: getattr(c, key) for key in CUSTOMER_TEXT})
    data["created_at"] = c.created_at.isoformat() if c.created_at else None
    return data


def _apply_customer_fields(customer: Customer, body: dict) -> None:
    if "email" in body:
        email = v.email(body["email"])
        other = db.session.execute(select(Customer.id).where(Customer.email == email)).scalar_one_or_none()
        if other is not None and other != customer.id:
            raise ApiError(f"a customer with e-mail {email} exists already", 409, customer_id=other)
        customer.email = email
    for key, max_len in CUSTOMER_TEXT.items():
        if key in body:
            setattr(customer, key, v.text(body, key, max_len=max_len))
    if "country" in body:
        customer.country = v.country(body["country"])


def _customer_or_404(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id) if 0 < customer_id <= v.INT_MAX else None
    if customer is None:
        raise ApiError(f"no customer with id {customer_id}", 404)
    return customer


@bp.post("/customers")
@protected
def create_customer():
    body = _body()
    v.only_known(body, CUSTOMER_KEYS)
    if body.get("email") is None:
        raise ApiError("email is required")
    customer = Customer(country="SE")
    _apply_customer_fields(customer, body)
    db.session.add(customer)
    _commit("a customer with that e-mail exists already")
    return jsonify(customer_json(customer)), 201


@bp.get("/customers/<int:customer_id>")
@protected
def get_customer(customer_id: int):
    return jsonify(customer_json(_customer_or_404(customer_id)))


@bp.patch("/customers/<int:customer_id>")
@protected
def update_customer(customer_id: int):
    body = _body()
    v.only_known(body, CUSTOMER_KEYS | {"id"})
    customer = _customer_or_404(customer_id)
    if "id" in body and body["id"] != customer_id:
        raise ApiError("the id of a customer cannot be changed")
    if "email" in body and body["email"] is None:
        raise ApiError("email cannot be removed")
    _apply_customer_fields(customer, body)
    _commit("a customer with that e-mail exists already")
    return jsonify(customer_json(customer))


# --- orders ----------------------------------------------------------------------------------------
def order_json(o: Order) -> dict:
    return {
        "id": o.id,
        "number": o.number,
        "customer_id": o.customer_id,
        "status": o.status,
        "currency": o.currency,
        "payment_method": o.payment_method,
        "payment_reference": o.payment_reference,
        "shipping_method": o.shipping_method,
        "shipping_price_excl_vat": _money(o.shipping_price_excl_vat),
        "discount_excl_vat": _money(o.discount_excl_vat),
        "comment": o.comment,
        "created_at": o.created_at.isoformat() if o.created_at else None,
        "specter_order_no": o.specter_order_no,
        "transfer_error": o.transfer_error,
        "tracking_no": o.tracking_no,
        "invoice_id": o.invoice_id,
        "total_incl_vat": _money(o.total_incl_vat),
        "lines": [
            {
                "sku": line.sku,
                "name": line.name,
                "qty": line.qty,
                "price_excl_vat": _money(line.price_excl_vat),
                "vat_percent": _money(line.vat_percent),
            }
            for line in o.lines
        ],
    }


def _order_or_404(ref: str) -> Order:
    """By id (digits) or by order number (``WEB-000123``)."""
    order_id = v.record_id(ref)
    if order_id is not None:
        order = db.session.get(Order, order_id)
    else:
        order = db.session.execute(select(Order).where(Order.number == ref)).scalar_one_or_none()
    if order is None:
        raise ApiError(f"no order {ref!r}", 404)
    return order


def _line_requests(raw) -> list[LineRequest]:
    if not isinstance(raw, list) or not raw:
        raise ApiError("lines must be a non-empty list of {sku, qty}")
    if len(raw) > 500:
        raise ApiError("at most 500 lines per order")
    lines = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ApiError(f"lines[{i}] must be an object {{sku, qty}}")
        v.only_known(item, {"sku", "qty"})
        if "qty" not in item:
            raise ApiError(f"lines[{i}].qty is required")
        lines.append(LineRequest(sku=v.sku(item.get("sku"), f"lines[{i}].sku"), qty=v.integer(item["qty"], f"lines[{i}].qty", minimum=1)))
    return lines


@bp.post("/orders")
@protected
def create_order():
    body = _body()
    v.only_known(body, ORDER_KEYS)
    if body.get("customer_id") is None:
        raise ApiError("customer_id is required")
    customer = _customer_or_404(v.integer(body["customer_id"], "customer_id", minimum=1))
    lines = _line_requests(body.get("lines"))
    payment = v.text(body, "payment_method", max_len=20) or "invoice"
    if payment not in PAYMENT_METHODS:
        raise ApiError(f"payment_method must be one of {', '.join(PAYMENT_METHODS)}")
    try:
        order = place_order(
            customer,
            lines,
            payment_method=payment,
            payment_reference=v.text(body, "payment_reference", max_len=100),
            shipping_method=v.text(body, "shipping_method", max_len=100),
            shipping_price_excl_vat=v.decimal(body.get("shipping_price_excl_vat", 0), "shipping_price_excl_vat"),
            discount_excl_vat=v.decimal(body.get("discount_excl_vat", 0), "discount_excl_vat"),
            comment=v.text(body, "comment", max_len=2000),
        )
    except OrderError as exc:
        raise ApiError(str(exc), exc.status, **exc.details) from None
    except OutOfStock as exc:
        raise ApiError(f"not enough in stock of {exc.sku} for {exc.wanted}", 409, sku=exc.sku, wanted=exc.wanted) from None
    data = order_json(order)
    data["confirmation_sent_by"] = send_order_confirmation(order)
    return jsonify(data), 201


@bp.get("/orders/<ref>")
@protected
def get_order(ref: str):
    return jsonify(order_json(_order_or_404(ref)))


@bp.delete("/orders/<ref>")
@protected
def delete_order(ref: str):
    order = _order_or_404(ref)
    number, order_id = order.number, order.id
    db.session.delete(order)
    _commit(f"order {number} cannot be deleted")
    return jsonify({"deleted": order_id, "number": number})
