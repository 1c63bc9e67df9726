"""The HTML shop: catalogue, product page, a session cart, checkout and the order confirmation."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import contains_eager, selectinload
from wtforms import EmailField, HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from flask_specter.stock import OutOfStock

from . import checkout_keys
from .mail import confirmation_sender, send_order_confirmation
from .models import Category, Customer, Order, Product, db, with_vat
from .orders import SHIPPING_METHODS, LineRequest, OrderError, find_customer_by_email, place_order

try:  # WTForms 3.2+: a choice is a SelectChoice (plain tuples are deprecated there and go in 3.4)
    from wtforms.fields.choices import SelectChoice as Choice
except ImportError:  # WTForms 3.0/3.1 (beside Flask-Admin 1.6): a (value, label) tuple
    def Choice(value, label):  # noqa: N802  # the class's name on WTForms 3.2+
        return (value, label)

bp = Blueprint("shop", __name__)
CART = "cart"
MY_ORDERS = "my_orders"  # orders placed in this session: the only ones its confirmation page shows
CHECKOUT_KEY = "checkout_key"  # this cart's idempotency key, until its order is placed
MAX_QTY = 99
PER_PAGE = 48  # top-level products on one storefront page
MAX_PAGE = 100_000
PAYMENT_LABELS = {"invoice": "Faktura", "klarna": "Klarna", "card": "Kort", "swish": "Swish"}


class AddToCartForm(FlaskForm):
    sku = SelectField("Variant", validators=[DataRequired()])
    qty = IntegerField("Antal", default=1, validators=[NumberRange(1, MAX_QTY)])


class CartForm(FlaskForm):
    """Only the CSRF token: quantities come as qty-<sku> fields."""


class CheckoutForm(FlaskForm):
    email = EmailField(
        "E-post",
        validators=[DataRequired(), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Ange en giltig e-postadress."), Length(max=254)],
    )
    first_name = StringField("Förnamn", validators=[DataRequired(), Length(max=100)])
    last_name = StringField("Efternamn", validators=[DataRequired(), Length(max=100)])
    company = StringField("Företag", validators=[Optional(), Length(max=200)])
    org_no = StringField("Person-/organisationsnummer", validators=[Optional(), Length(max=20)])
    phone = StringField("Telefon", validators=[Optional(), Length(max=40)])
    address = StringField("Adress", validators=[DataRequired(), Length(max=200)])
    zip = StringField("Postnummer", validators=[DataRequired(), Length(max=20)])
    city = StringField("Ort", validators=[DataRequired(), Length(max=100)])
    country = StringField("Land", default="SE", validators=[DataRequired(), Regexp(r"^[A-Za-z]{2}$", message="Två bokstäver, t.ex. SE")])
    payment_method = RadioField("Betalning", choices=[Choice(key, label) for key, label in PAYMENT_LABELS.items()], default="invoice")
    shipping_method = RadioField(
        "Frakt",
        choices=[Choice(key, f"{label} ({with_vat(price, 25)} kr)") for key, (label, price) in SHIPPING_METHODS.items()],
        default="postnord",
    )
    comment = TextAreaField("Meddelande", validators=[Optional(), Length(max=2000)])
    checkout_key = HiddenField()


# --- cart in the session: {sku: qty} ----------------------------------------------------------------
def get_cart() -> dict[str, int]:
    cart = session.get(CART)
    return dict(cart) if isinstance(cart, dict) else {}


def save_cart(cart: dict[str, int]) -> None:
    session[CART] = {sku: qty for sku, qty in cart.items() if qty > 0}


def cart_items(cart: dict[str, int]) -> tuple[list[dict], Decimal]:
    """Cart rows with current products and prices; SKUs no longer for sale drop out."""
    if not cart:
        return [], Decimal("0")
    products = {p.sku: p for p in db.session.execute(select(Product).where(Product.sku.in_(list(cart)))).scalars()}
    items, total = [], Decimal("0")
    for sku, qty in cart.items():
        product = products.get(sku)
        if product is None or not product.active:
            continue
        line_total = product.price_incl_vat * qty
        items.append({"product": product, "qty": qty, "total": line_total})
        total += line_total
    return items, total


@bp.app_context_processor
def _cart_count():
    return {"cart_count": sum(get_cart().values()) if session.get(CART) else 0}


@bp.app_template_filter("sek")
def format_sek(value) -> str:
    """249.5 -> '249,50 kr' (Swedish decimal comma, thin-space thousands)."""
    number = Decimal(str(value or 0)).quantize(Decimal("0.01"))
    whole, _, frac = f"{number:,.2f}".partition(".")
    return f"{whole.replace(',', ' ')},{frac} kr"


# --- pages -----------------------------------------------------------------------------------------
def catalogue_page(page: int) -> tuple[list[tuple[Category | None, list[Product]]], bool]:
    """One page of the catalogue, grouped by category (categories by name, "Övrigt" last), and whether
    another page follows. One page costs the same whatever the catalogue's size: listing 100,000
    products in one answer took 15 s and 16.5 MB, and a few such requests at once starved the workers."""
    visible = (
        select(Product)
        .outerjoin(Category, Product.category_id == Category.id)
        .where(Product.active.is_(True), Product.parent_id.is_(None), or_(Product.category_id.is_(None), Category.active.is_(True)))
        .options(selectinload(Product.variants), contains_eager(Product.category))
        .order_by(Category.id.is_(None), Category.name, Category.id, Product.name, Product.id)
    )
    rows = db.session.execute(visible.offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)).unique().scalars().all()
    sections: list[tuple[Category | None, list[Product]]] = []
    for product in rows[:PER_PAGE]:
        if not sections or sections[-1][0] is not product.category:
            sections.append((product.category, []))
        sections[-1][1].append(product)
    return sections, len(rows) > PER_PAGE


def page_number(raw: str | None) -> int:
    """``?page=`` as a visitor may type it: ASCII digits, 1 to MAX_PAGE; anything else is a 400."""
    if raw is None:
        return 1
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= MAX_PAGE:
        abort(400, "page must be a number from 1")
    return int(raw)


@bp.get("/")
def index():
    page = page_number(request.args.get("page"))
    sections, more = catalogue_page(page)
    if not sections and page > 1:
        abort(404)
    return render_template("shop/index.html", sections=sections, page=page, more=more)


def _product_for_sale(sku: str) -> Product:
    product = db.session.execute(select(Product).where(Product.sku == sku)).scalar_one_or_none()
    if product is None or not product.active or (product.parent is not None and not product.parent.active):
        abort(404)
    return product


def _choices(product: Product) -> list:
    variants = [v for v in product.variants if v.active]
    if variants:
        return [Choice(v.sku, f"{v.name} ({v.sku}) – {'i lager' if v.stock > 0 else 'slut'}") for v in variants]
    return [Choice(product.sku, product.name)]


@bp.route("/product/<path:sku>", methods=["GET", "POST"])
def product(sku: str):
    product = _product_for_sale(sku)
    form = AddToCartForm()
    form.sku.choices = _choices(product)
    if form.validate_on_submit():
        cart = get_cart()
        chosen = form.sku.data
        cart[chosen] = min(MAX_QTY, cart.get(chosen, 0) + form.qty.data)
        save_cart(cart)
        flash(f"{chosen} ligger i varukorgen.", "info")
        return redirect(url_for("shop.cart"))
    return render_template("shop/product.html", product=product, form=form)


def parse_qty(raw: str) -> int | None:
    """A cart quantity typed by a visitor: ASCII digits only ("²" is a digit to Python), capped."""
    raw = raw.strip()
    if not raw or len(raw) > 4 or not raw.isascii() or not raw.isdigit():
        return None
    return max(0, min(MAX_QTY, int(raw)))


@bp.route("/cart", methods=["GET", "POST"])
def cart():
    form = CartForm()
    cart = get_cart()
    status = 200
    if form.validate_on_submit():
        bad = []
        for sku in list(cart):
            raw = request.form.get(f"qty-{sku}")
            if raw is None:
                continue
            qty = parse_qty(raw)
            if qty is None:
                bad.append(sku)
            else:
                cart[sku] = qty
        if not bad:
            save_cart(cart)
            return redirect(url_for("shop.cart"))
        flash(f"Ogiltigt antal för {', '.join(bad)}: skriv ett heltal mellan 0 och {MAX_QTY}. Varukorgen ändrades inte.", "error")
        cart, status = get_cart(), 400
    items, total = cart_items(cart)
    return render_template("shop/cart.html", items=items, total=total, form=form), status


@bp.route("/checkout", methods=["GET", "POST"])
def checkout():
    items, total = cart_items(get_cart())
    if not items:
        flash("Varukorgen är tom.", "info")
        return redirect(url_for("shop.index"))
    form = CheckoutForm()
    status = 200
    if form.validate_on_submit():
        key = checkout_keys.valid_key(form.checkout_key.data) or _checkout_key()
        order, status = _place_once(form, items, key)
        if order is not None:
            return _placed(order)
    elif request.method == "POST":
        status = 400  # the form says what is wrong, field by field
    form.checkout_key.data = _checkout_key()
    shipping_label, shipping_price = SHIPPING_METHODS.get(form.shipping_method.data, SHIPPING_METHODS["postnord"])
    body = render_template("shop/checkout.html", form=form, items=items, total=total, shipping=with_vat(shipping_price, 25))
    return body, status


def _checkout_key() -> str:
    """The session's checkout key (made on first use): every submit of this cart carries it."""
    if not checkout_keys.valid_key(session.get(CHECKOUT_KEY)):
        session[CHECKOUT_KEY] = checkout_keys.new_key()
    return session[CHECKOUT_KEY]


def _placed(order: Order):
    """The cart became ``order`` (in this request or a twin of it): show its confirmation."""
    first = order.number not in session.get(MY_ORDERS, [])
    session.pop(CART, None)
    session.pop(CHECKOUT_KEY, None)
    if first:
        session[MY_ORDERS] = [*session.get(MY_ORDERS, [])[-19:], order.number]
    return redirect(url_for("shop.order_confirmation", number=order.number))


def _place_once(form: CheckoutForm, items: list[dict], key: str) -> tuple[Order | None, int]:
    """(order, status): this key's order, placed now or found (a double submit); never a second one."""
    for _attempt in range(2):
        existing = checkout_keys.order_for_key(key)
        if existing is not None:
            return existing, 200
        try:
            order = _place(form, items, key)
        except DBAPIError:  # a twin request won the key (or the new customer's e-mail): look again
            db.session.rollback()
            continue
        if order is None:
            return None, 200  # short stock or a refused line: the flash says which
        send_order_confirmation(order)
        return order, 200
    existing = checkout_keys.order_for_key(key)
    if existing is not None:
        return existing, 200
    flash("Beställningen kunde inte läggas just nu. Försök igen om en stund.", "error")
    return None, 503


def _place(form: CheckoutForm, items: list[dict], key: str | None = None) -> Order | None:
    """Create the customer if new and the order; None (with a flash) when stock is short."""
    customer = find_customer_by_email(form.email.data)
    if customer is None:
        customer = Customer(
            email=form.email.data.strip().lower(),
            first_name=form.first_name.data.strip(),
            last_name=form.last_name.data.strip(),
            company=(form.company.data or "").strip() or None,
            org_no=(form.org_no.data or "").strip() or None,
            phone=(form.phone.data or "").strip() or None,
            address=form.address.data.strip(),
            zip=form.zip.data.strip(),
            city=form.city.data.strip(),
            country=form.country.data.strip().upper(),
        )
    label, price = SHIPPING_METHODS.get(form.shipping_method.data, SHIPPING_METHODS["postnord"])
    try:
        return place_order(
            customer,
            [LineRequest(sku=item["product"].sku, qty=item["qty"]) for item in items],
            payment_method=form.payment_method.data,
            shipping_method=label,
            shipping_price_excl_vat=price,
            comment=form.comment.data,
            idempotency_key=key,
        )
    except OutOfStock as exc:
        flash(f"Tyvärr finns inte tillräckligt många i lager av {exc.sku} (du ville ha {exc.wanted}). Ändra antalet i varukorgen.", "error")
    except OrderError as exc:
        flash(f"Beställningen kunde inte läggas: {exc}", "error")
    return None


@bp.get("/order/<number>")
def order_confirmation(number: str):
    if number not in session.get(MY_ORDERS, []):
        abort(404)
    order = db.session.execute(select(Order).where(Order.number == number)).scalar_one_or_none()
    if order is None:
        abort(404)
    return render_template("shop/order.html", order=order, sender=confirmation_sender(), payment_labels=PAYMENT_LABELS)
