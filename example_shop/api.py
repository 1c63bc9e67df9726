"""JSON API for scripts, demos and tests (the HTML shop and the admin sit beside it).

Authentication: every write route, plus the order and customer reads, needs
``Authorization: Bearer <SHOP_API_TOKEN>``; without ``SHOP_API_TOKEN`` those routes are closed (403),
so a copied shop is never open by accident. Product reads are always public: they are the catalogue.

Errors are JSON ``{"error": "..."}``: 400 bad input, 401 missing/wrong token, 403 API closed (no token configured), 404 unknown SKU, customer
or order, 409 conflicts (short stock, duplicate SKU or e-mail, stock owned by Specter).
"""

from __future__ import annotations

import hmac
from decimal import Decimal
from functools import wraps

from flask import Blueprint, current_app, jsonify, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from flask_specter.sku import InvalidSku
from flask_specter.stock import StockManagedBySpecter, is_specter_managed

from . import validate as v
from .models import Category, Product, db
from .validate import ApiError

bp = Blueprint("api", __name__, url_prefix="/api")

DEFAULT_PER_PAGE = 100  # products per page of GET /api/products ...
MAX_PER_PAGE = 1000  # ... and the most one page gives (a larger per_page is cut to this)

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
    """Require ``Authorization: Bearer <SHOP_API_TOKEN>``; no token configured means closed."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = current_app.config.get("SHOP_API_TOKEN")
        if not token:
            return jsonify({"error": "the API is closed: set SHOP_API_TOKEN and send Authorization: Bearer <SHOP_API_TOKEN>"}), 403
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            return jsonify({"error": "missing or wrong API token (Authorization: Bearer <SHOP_API_TOKEN>)"}), 401
        return view(*args, **kwargs)

    return wrapper


def _body() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than Python's parser goes: a bad body (400), not a crash (500)
        body = None
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
    """One page of the catalogue by SKU: ``?page=`` (from 1), ``?per_page=`` (default 100, at most 1000).

    The body stays a JSON list of products; the paging is in the headers, so scripts that read the list
    keep working: ``Link: <url>; rel="next"`` (absent on the last page) and ``X-Total-Count``. A page is
    three statements whatever its size: the count, the products with category and parent joined, and
    their variants (product_json touches all three; loaded one by one, 20,000 products took minutes).
    """
    page = v.integer(request.args.get("page", "1"), "page", minimum=1)
    per_page = min(v.integer(request.args.get("per_page", str(DEFAULT_PER_PAGE)), "per_page", minimum=1), MAX_PER_PAGE)
    active = request.args.get("active") in ("1", "true")
    query = select(Product).options(joinedload(Product.category), joinedload(Product.parent), selectinload(Product.variants))
    count = select(func.count()).select_from(Product)
    if active:
        query, count = query.where(Product.active.is_(True)), count.where(Product.active.is_(True))
    total = db.session.execute(count).scalar_one()
    products = db.session.execute(query.order_by(Product.sku).limit(per_page).offset((page - 1) * per_page)).scalars().all()
    response = jsonify([product_json(p) for p in products])
    response.headers["X-Total-Count"] = str(total)
    if page * per_page < total:
        args = {"page": page + 1, "per_page": per_page, **({"active": "1"} if active else {})}
        response.headers["Link"] = f'<{url_for("api.list_products", _external=True, **args)}>; rel="next"'
    return response


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


from . import api_sales  # noqa: E402,F401  (registers the customer and order routes on bp)
