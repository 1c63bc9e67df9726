"""JSON API for scripts, demos and tests (the HTML shop and the admin sit beside it).

Authentication: set ``SHOP_API_TOKEN`` and every write route, plus the order and customer reads,
needs ``Authorization: Bearer <token>``. When it is unset the API is OPEN, which suits a demo shop on
127.0.0.1 and nothing else. Product reads are always public: they are the catalogue.

Errors are JSON ``{"error": "..."}``: 400 bad input, 401 missing/wrong token, 404 unknown SKU, customer
or order, 409 conflicts (short stock, duplicate SKU or e-mail, stock owned by Specter).
"""

from __future__ import annotations

import hmac
from decimal import Decimal
from functools import wraps

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from flask_specter.sku import InvalidSku
from flask_specter.stock import OutOfStock, StockManagedBySpecter, is_specter_managed

from . import validate as v
from .mail import send_order_confirmation
from .models import PAYMENT_METHODS, Category, Customer, Order, Product, db
from .orders import LineRequest, OrderError, place_order
from .validate import ApiError

bp = Blueprint("api", __name__, url_prefix="/api")

PRODUCT_KEYS = {
    "sku",
    "name",
    "description",
    "price_excl_vat",
    "vat_percent",
    "stock",
    "active",
    "category",
    "category_id",
    "parent_sku",
    "buy_price",
    "barcode",
    "weight",
}
CUSTOMER_TEXT = {
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "org_no": 20,
    "phone": 40,
    "mobile": 40,
    "address": 200,
    "address2": 200,
    "zip": 20,
    "city": 100,
}
CUSTOMER_KEYS = {"email", "country", *CUSTOMER_TEXT}
ORDER_KEYS = {
    "customer_id",
    "lines",
    "payment_method",
    "payment_reference",
    "shipping_method",
    "shipping_price_excl_vat",
    "discount_excl_vat",
    "comment",
}


# --- plumbing --------------------------------------------------------------------------------------
@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return jsonify({"error": exc.message, **exc.details}), exc.status


def protected(view):
    """Require the bearer token when ``SHOP_API_TOKEN`` is set."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = current_app.config.get("SHOP_API_TOKEN")
        if token:
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
                return jsonify({"error": "missing or wrong API token (Authorization: Bearer <SHOP_API_TOKEN>)"}), 401
        return view(*args, **kwargs)

    return wrapper


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("send a JSON object with Content-Type: application/json")
    return body


def _commit(conflict: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(conflict, 409) from None
    except StockManagedBySpecter as exc:
        db.session.rollback()
        raise ApiError(str(exc), 409, sku=exc.sku) from None
    except InvalidSku as exc:  # refused by flask_specter when the product is saved: Specter could not take it
        db.session.rollback()
        raise ApiError(str(exc), 400, sku=exc.sku, error_sv=exc.message_sv) from None


def _money(value, places: int = 2) -> str | None:
    if value is None:
        return None
    return format(Decimal(str(value)).quantize(Decimal(1).scaleb(-places)), "f")


# --- products --------------------------------------------------------------------------------------
def product_json(p: Product) -> dict:
    return {
        "id": p.id,
        "sku": p.sku,
        "name": p.name,
        "description": p.description,
        "stock": p.stock,
        "price_excl_vat": _money(p.price_excl_vat),
        "vat_percent": _money(p.vat_percent),
        "category": p.category.name if p.category else None,
        "category_id": p.category_id,
        "active": bool(p.active),
        "parent_sku": p.parent.sku if p.parent else None,
        "variants": [variant.sku for variant in p.variants],
        "buy_price": _money(p.buy_price),
        "barcode": p.barcode,
        "weight": _money(p.weight, 3),
    }


def _product_or_404(sku: str) -> Product:
    product = db.session.execute(select(Product).where(Product.sku == sku)).scalar_one_or_none()
    if product is None:
        raise ApiError(f"no product with sku {sku!r}", 404)
    return product


def _category(body: dict) -> tuple[bool, Category | None]:
    """(given, category) from ``category_id`` or ``category`` (a name; created when new)."""
    if body.get("category_id") is not None:
        category = db.session.get(Category, v.integer(body["category_id"], "category_id", minimum=1))
        if category is None:
            raise ApiError(f"no category with id {body['category_id']}", 404)
        return True, category
    if "category" in body:
        name = v.text(body, "category", max_len=200)
        if name is None:
            return True, None
        category = db.session.execute(select(Category).where(Category.name == name)).scalars().first()
        if category is None:
            category = Category(name=name, active=True)
            db.session.add(category)
        return True, category
    return ("category_id" in body), None


def _apply_product_fields(product: Product, body: dict, *, creating: bool) -> None:
    if "name" in body or creating:
        product.name = v.text(body, "name", max_len=300, required=True)
    if "description" in body:
        product.description = v.text(body, "description", max_len=20000)
    if "price_excl_vat" in body or creating:
        if body.get("price_excl_vat") is None:
            raise ApiError("price_excl_vat is required")
        product.price_excl_vat = v.decimal(body["price_excl_vat"], "price_excl_vat")
    if "vat_percent" in body:
        product.vat_percent = v.decimal(body["vat_percent"], "vat_percent", maximum=Decimal(100))
    if "active" in body:
        product.active = v.boolean(body["active"], "active")
    for key, places in (("buy_price", 2), ("weight", 3)):
        if key in body:
            setattr(product, key, None if body[key] is None else v.decimal(body[key], key, places=places))
    if "barcode" in body:
        product.barcode = v.text(body, "barcode", max_len=64)
    given, category = _category(body)
    if given:
        product.category = category
    if "parent_sku" in body:
        if body["parent_sku"] in (None, ""):
            product.parent = None
        else:
            parent = _product_or_404(v.sku(body["parent_sku"], "parent_sku"))
            if parent is product or parent.sku == product.sku:
                raise ApiError("a product cannot be its own parent")
            if parent.parent_id is not None:
                raise ApiError(f"{parent.sku} is itself a variant; variants have one level")
            if product.variants:
                raise ApiError(f"{product.sku} has variants and cannot become a variant")
            product.parent = parent
            if not given and product.category is None:
                product.category = parent.category


@bp.get("/products")
def list_products():
    query = select(Product).order_by(Product.sku)
    if request.args.get("active") in ("1", "true"):
        query = query.where(Product.active.is_(True))
    return jsonify([product_json(p) for p in db.session.execute(query).scalars()])


@bp.get("/products/<path:sku>")
def get_product(sku: str):
    return jsonify(product_json(_product_or_404(sku)))


@bp.post("/products")
@protected
def create_product():
    body = _body()
    v.only_known(body, PRODUCT_KEYS)
    sku = v.sku(body.get("sku"))
    if db.session.execute(select(Product.id).where(Product.sku == sku)).first():
        raise ApiError(f"a product with sku {sku!r} exists already", 409)
    product = Product(sku=sku, stock=0, active=True, vat_percent=Decimal("25"))
    with db.session.no_autoflush:
        _apply_product_fields(product, body, creating=True)
    if body.get("stock") is not None:
        product.stock = v.integer(body["stock"], "stock", minimum=0)
    db.session.add(product)
    _commit(f"a product with sku {sku!r} exists already")
    return jsonify(product_json(product)), 201


@bp.patch("/products/<path:sku>")
@protected
def update_product(sku: str):
    body = _body()
    v.only_known(body, PRODUCT_KEYS)
    product = _product_or_404(sku)
    if "sku" in body and body["sku"] != product.sku:
        raise ApiError("the sku of a product cannot be changed; create a new product instead")
    with db.session.no_autoflush:
        _apply_product_fields(product, body, creating=False)
        if "stock" in body:
            stock = v.integer(body["stock"], "stock", minimum=0)
            if stock != product.stock and is_specter_managed(product.sku):
                db.session.rollback()
                raise ApiError(str(StockManagedBySpecter(product.sku)), 409, sku=product.sku)
            product.stock = stock
    _commit("the change conflicts with another product")
    return jsonify(product_json(product))


@bp.delete("/products/<path:sku>")
@protected
def delete_product(sku: str):
    product = _product_or_404(sku)
    if product.variants:
        raise ApiError(f"{sku} has variants ({', '.join(p.sku for p in product.variants)}); delete them first", 409)
    db.session.delete(product)
    _commit(f"{sku} is still referenced and cannot be deleted")
    return jsonify({"deleted": sku})


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
    customer = db.session.get(Customer, customer_id)
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
    if ref.isdigit():
        order = db.session.get(Order, int(ref))
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
