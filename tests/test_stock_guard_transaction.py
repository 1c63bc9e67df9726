"""Issue 23, 1.3: the stock guard never turns the host's commit into an error; and 3: orders go at once.

A small host shop of its own shape (lines behind a ``lazy="dynamic"`` relationship, its own payment and
checkout views that lower stock through the ORM, its own Flask-Admin view of its products) joined with
``SQLAlchemyShopAdapter`` options only. The guard judges the whole transaction whatever the order of its
flushes: each decrement an order of the transaction explains is counted once (a reservation, or undone
when Specter has the order already); what none explains is recorded and shown on the status page, and
refused as a form error only in the host's Flask-Admin model view. Everything reaches the sandbox over HTTP.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from decimal import Decimal

import pytest
from flask import Flask, request
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import SecureForm
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, Numeric, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flask_specter import Specter, SQLAlchemyShopAdapter
from flask_specter.models import Reservation, StockHistory, UnexplainedStock
from flask_specter.shop.kits import Component, share_price

from ._push_fixtures import sandbox_orders
from .conftest import close_shop, drain_outbox, wait_until

pytestmark = pytest.mark.timeout(90)


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Item(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "guard_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    stock: Mapped[int] = mapped_column(default=0)


class Buyer(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "guard_buyer"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))


class Cart(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "guard_cart"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("guard_buyer.id"))
    paid: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default="new")
    lines = relationship("CartLine", lazy="dynamic", order_by="CartLine.id")  # a query, not a list


class CartLine(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "guard_cart_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("guard_cart.id"))
    sku: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    qty: Mapped[int]
    price_excl_vat: Mapped[Decimal] = mapped_column(Numeric(12, 2))


PRODUCT = {"name": "title", "price_excl_vat": "price", "vat_percent": None, "buy_price": None, "barcode": None,
           "weight": None, "active": None, "category_id": None}
CUSTOMER = {"company": None, "org_no": None, "phone": None, "mobile": None, "address": None, "address2": None,
            "zip": None, "city": None, "country": None, "specter_customer_no": None}
ORDER = {"customer_id": "buyer_id", "specter_order_no": None, "transfer_error": None, "invoice_id": None, "tracking_no": None,
         "currency": None, "payment_method": None, "payment_reference": None, "shipping_method": None,
         "shipping_price_excl_vat": None, "shipping_vat_percent": None, "discount_excl_vat": None, "comment": None}
LINE = {"vat_percent": None}


class ItemView(ModelView):  # the host's own admin page of its products, as it was before the extension
    form_base_class = SecureForm
    form_columns = ("sku", "title", "price", "stock")


def _routes(app: Flask) -> None:
    """The host's own shop code: it knows nothing of Specter."""

    @app.post("/pay/<int:cart_id>")
    def pay(cart_id: int):
        cart = db.session.get(Cart, cart_id)
        cart.paid = True
        cart.status = "paid"
        for line in cart.lines:  # a query: the autoflush writes the order's change before any decrement
            item = db.session.execute(select(Item).where(Item.sku == line.sku)).scalar_one()
            if request.args.get("atomic"):  # an UPDATE ... SET stock = stock - n, no lost update
                item.stock = Item.stock - line.qty
            else:
                item.stock -= line.qty
        db.session.commit()
        return "ok"

    @app.post("/notify/<int:cart_id>")
    def notify(cart_id: int):  # the payment provider's notification, for an order whose stock went at checkout
        cart = db.session.get(Cart, cart_id)
        cart.paid = True
        db.session.commit()
        return "ok"

    @app.post("/checkout")
    def checkout():
        body = request.get_json()
        cart = Cart(number=body["number"], buyer_id=body["buyer"])
        db.session.add(cart)
        db.session.flush()  # the order first: its id goes to the payment provider
        for sku, qty in body["lines"]:
            cart.lines.append(CartLine(sku=sku, name=sku, qty=qty, price_excl_vat=Decimal("100.00")))
        db.session.flush()
        for sku, qty in body["lines"]:  # stock lowered in later flushes of the same transaction
            item = db.session.execute(select(Item).where(Item.sku == sku)).scalar_one()
            item.stock -= qty
            db.session.flush()
        db.session.commit()
        return {"id": cart.id}

    @app.post("/stock-take/<sku>")
    def stock_take(sku: str):  # not an order: a count in the store room
        item = db.session.execute(select(Item).where(Item.sku == sku)).scalar_one()
        item.stock = int(request.form["stock"])
        db.session.commit()
        return "ok"


@pytest.fixture
def host(shop_config):
    made = []

    def factory(**options):
        app = Flask("guard_host")
        app.config.update(shop_config, SPECTER_ADMIN_ACCESS=lambda: True)
        db.init_app(app)
        admin = Admin(app, name="Host")
        admin.add_view(ItemView(Item, db.session, endpoint="host_items", url="items"))
        _routes(app)
        adapter = SQLAlchemyShopAdapter(
            db, product_model=Item, customer_model=Buyer, order_model=Cart, line_model=CartLine,
            product_fields=PRODUCT, customer_fields=CUSTOMER, order_fields=ORDER, line_fields=LINE, **options,
        )
        Specter(app, db=db, adapter=adapter, create_tables=True)
        with app.app_context():
            db.create_all()
        made.append(app)
        return app

    yield factory
    for app in made:
        close_shop(app)


def _stocked(app, sandbox, stocks=(("KORG-1", 10), ("SKAL-2", 10))) -> int:
    """Products the shop pushed to Specter (so Specter manages their stock) and a buyer."""
    sandbox.hooks.create_articles([{"articleNo": "frakt", "name": "Frakt"}])
    with app.app_context():
        for sku, stock in stocks:
            db.session.add(Item(sku=sku, title=f"Vara {sku}", price=Decimal("100.00"), stock=stock))
        buyer = Buyer(email="ylva@example.se", first_name="Ylva", last_name="Åkesson")
        db.session.add(buyer)
        db.session.commit()
        buyer_id = buyer.id
    assert drain_outbox(app)["sent"] == len(stocks) + 1
    _pull_stock(app)
    return buyer_id


def _cart(app, buyer_id, number, lines) -> int:
    with app.app_context():
        cart = Cart(number=number, buyer_id=buyer_id)
        db.session.add(cart)
        for sku, qty in lines:
            cart.lines.append(CartLine(sku=sku, name=sku, qty=qty, price_excl_vat=Decimal("100.00")))
        db.session.commit()
        return cart.id


def _pull_stock(app):
    from flask_specter.inbound.pulls import run_pull
    from flask_specter.inbound.stock_apply import run_apply_chunk

    with app.app_context():
        run_pull("stock")
        while run_apply_chunk()["remaining"]:
            pass


def _stock(app) -> dict[str, int]:
    with app.app_context():
        db.session.remove()
        return dict(db.session.execute(select(Item.sku, Item.stock).order_by(Item.sku)).all())


def _held(app) -> list[tuple[str, str, int]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(select(Reservation.order_ref, Reservation.sku, Reservation.qty).order_by(Reservation.sku))]


def _unexplained(app) -> list[tuple[str, int | None, int | None, int, str | None]]:
    with app.app_context():
        rows = db.session.execute(select(UnexplainedStock).order_by(UnexplainedStock.id)).scalars()
        return [(r.sku, r.old, r.new, r.unexplained, r.detail) for r in rows]


@pytest.mark.parametrize("atomic", ["", "1"], ids=["python", "sql-expression"])
def test_a_payment_view_that_autoflushes_before_it_lowers_stock_answers_and_the_order_reaches_specter(host, sandbox, atomic):
    app = host(order_ready=lambda cart: cart.paid)
    buyer_id = _stocked(app, sandbox)
    cart_id = _cart(app, buyer_id, "G-1", [("KORG-1", 3), ("SKAL-2", 2)])
    assert drain_outbox(app)["pending"] == 1  # not paid yet: waits

    resp = app.test_client().post(f"/pay/{cart_id}?atomic={atomic}")
    assert resp.status_code == 200
    assert _stock(app) == {"KORG-1": 7, "SKAL-2": 8}
    assert _held(app) == [(str(cart_id), "KORG-1", 3), (str(cart_id), "SKAL-2", 2)]
    assert _unexplained(app) == []

    assert drain_outbox(app)["sent"] == 1
    [order] = sandbox_orders(sandbox, "G-1")
    assert sorted((r["articleNo"], r["qty"]) for r in order["rows"]) == [("KORG-1", 3), ("SKAL-2", 2)]
    _pull_stock(app)  # Specter's figure holds the order now: counted once
    assert _stock(app) == {"KORG-1": 7, "SKAL-2": 8}


def test_a_payment_after_specter_has_the_order_is_not_counted_twice(host, sandbox):
    app = host()  # sent as soon as it has lines; paid later
    buyer_id = _stocked(app, sandbox)
    cart_id = _cart(app, buyer_id, "G-2", [("KORG-1", 2)])
    assert drain_outbox(app)["sent"] == 1
    _pull_stock(app)
    assert _stock(app)["KORG-1"] == 8  # Specter reserved the order

    assert app.test_client().post(f"/pay/{cart_id}").status_code == 200
    assert _stock(app)["KORG-1"] == 8  # the shop's second decrement is undone
    assert _held(app) == [] and _unexplained(app) == []


def test_a_checkout_that_flushes_the_order_first_and_lowers_stock_later_holds_each_unit_once(host, sandbox):
    app = host(line_rows=kit_rows)
    buyer_id = _stocked(app, sandbox)
    resp = app.test_client().post("/checkout", json={"number": "G-3", "buyer": buyer_id, "lines": [["KORG-1", 4], ["SKAL-2", 1]]})
    assert resp.status_code == 200
    cart_id = resp.get_json()["id"]
    assert _stock(app) == {"KORG-1": 6, "SKAL-2": 9}
    assert _held(app) == [(str(cart_id), "KORG-1", 4), (str(cart_id), "SKAL-2", 1)]
    assert _unexplained(app) == []

    _pull_stock(app)  # a figure from before the order reached Specter hands nothing out again
    assert _stock(app) == {"KORG-1": 6, "SKAL-2": 9}
    assert drain_outbox(app)["sent"] == 1
    _pull_stock(app)
    assert _stock(app) == {"KORG-1": 6, "SKAL-2": 9}
    assert len(sandbox_orders(sandbox, "G-3")) == 1


def kit_rows(line):
    """The host's kit (``line_rows=``): a KIT-1 line ships one KORG-1 and one SKAL-2 per kit, the kit's
    price shared out equally; any other line is an ordinary one (None)."""
    if line.sku != "KIT-1":
        return None
    return share_price(line.price_excl_vat, line.qty, [Component("KORG-1", name="Korg"), Component("SKAL-2", name="Skål")])


def test_a_kits_components_lowered_by_the_checkout_are_held_once_each(host, sandbox):
    app = host(line_rows=kit_rows)
    buyer_id = _stocked(app, sandbox, stocks=(("KORG-1", 10), ("SKAL-2", 10), ("KIT-1", 5)))
    client = app.test_client()
    resp = client.post("/checkout", json={"number": "G-4", "buyer": buyer_id, "lines": [["KORG-1", 1]]})
    assert resp.status_code == 200
    with app.app_context():  # the kit's checkout: one line, the components' stock lowered
        cart = Cart(number="G-5", buyer_id=buyer_id)
        db.session.add(cart)
        db.session.flush()
        cart.lines.append(CartLine(sku="KIT-1", name="Kit", qty=2, price_excl_vat=Decimal("100.00")))
        db.session.flush()
        for sku in ("KORG-1", "SKAL-2"):
            db.session.execute(select(Item).where(Item.sku == sku)).scalar_one().stock -= 2
        db.session.commit()
        kit_id = cart.id
    assert _stock(app) == {"KIT-1": 5, "KORG-1": 7, "SKAL-2": 8}
    assert [h for h in _held(app) if h[0] == str(kit_id)] == [(str(kit_id), "KORG-1", 2), (str(kit_id), "SKAL-2", 2)]
    assert _unexplained(app) == []
    assert drain_outbox(app)["sent"] == 2
    [order] = sandbox_orders(sandbox, "G-5")
    assert [(r["articleNo"], int(r["noOfItems"]), Decimal(r["priceExclVAT"])) for r in order["rows"]] == [
        ("KORG-1", 2, Decimal("50.00")), ("SKAL-2", 2, Decimal("50.00"))]  # the kit as its components, its price shared out
    _pull_stock(app)
    assert _stock(app) == {"KIT-1": 5, "KORG-1": 7, "SKAL-2": 8}


def test_a_stock_change_no_order_explains_is_recorded_shown_and_replaced_by_specters_next_figure(host, sandbox):
    app = host(line_rows=kit_rows)
    _stocked(app, sandbox)
    resp = app.test_client().post("/stock-take/KORG-1", data={"stock": "4"})
    assert resp.status_code == 200
    assert _stock(app)["KORG-1"] == 4
    assert _unexplained(app) == [("KORG-1", 10, 4, -6, "POST /stock-take/KORG-1")]
    assert _held(app) == []
    with app.app_context():
        [source] = db.session.execute(select(StockHistory.source).where(StockHistory.sku == "KORG-1", StockHistory.new == 4)).scalars()
        assert source == "unexplained"

    admin = app.test_client()
    html = admin.get("/admin/specter/status/").get_data(as_text=True)
    card = html[html.index('id="unexplained"') :]
    card = card[: card.index('id="history"')]
    assert "Lagerändringar i butiken utan order" in card and "KORG-1" in card and "10 &rarr; 4" in card and "-6" in card
    assert "POST /stock-take/KORG-1" in card
    history = admin.get("/admin/specter/status/?sku=KORG-1").get_data(as_text=True)
    assert "butiken, utan order" in history

    sandbox.hooks.adjust_stock("KORG-1", 9)  # Specter's next figure for the SKU wins
    _pull_stock(app)
    assert _stock(app)["KORG-1"] == 9


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def test_an_admin_editing_stock_in_the_hosts_own_flask_admin_view_gets_a_form_error(host, sandbox):
    app = host(line_rows=kit_rows)
    _stocked(app, sandbox)
    with app.app_context():
        item_id = db.session.execute(select(Item.id).where(Item.sku == "KORG-1")).scalar_one()
    client = app.test_client()
    url = f"/admin/items/edit/?id={item_id}"
    form = {"sku": "KORG-1", "title": "Vara KORG-1", "price": "100.00", "stock": "25"}

    resp = client.post(url, data={**form, "csrf_token": _csrf(client.get(url).get_data(as_text=True))})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200  # the form again, filled in, with the error: no 500, no redirect
    assert "Lagersaldot för KORG-1 styrs av Specter" in html and "Failed to update record" not in html
    assert 'value="25"' in html
    assert _stock(app)["KORG-1"] == 10 and _unexplained(app) == []

    resp = client.post(url, data={**form, "stock": "10", "title": "Korg, ny", "csrf_token": _csrf(client.get(url).get_data(as_text=True))})
    assert resp.status_code == 302  # the rest of the product is the host's to edit, as before
    with app.app_context():
        assert db.session.execute(select(Item.title).where(Item.sku == "KORG-1")).scalar_one() == "Korg, ny"


# Issue 23, 3: orders go at once ---------------------------------------------------------------------


def test_an_order_paid_while_its_first_attempt_runs_leaves_at_once(host, sandbox, live_worker):
    """The payment lands while the first attempt reads the order as unpaid: the row must not wait for the
    not-ready recheck (a minute) but leave as soon as the payment is committed."""
    from flask_specter.models import OutboxEntry
    from flask_specter.outbound.relay import push_entry
    from flask_specter.sqlite import reading_only

    payments: list = []

    def ready(cart):
        if payments and not cart.paid:  # the attempt has read the order: the payment lands now, and commits
            payment = threading.Thread(target=payments.pop())
            payment.start()
            payment.join(timeout=30)
        return cart.paid  # as the attempt read it, before the payment

    app = host(order_ready=ready)
    buyer_id = _stocked(app, sandbox)
    cart_id = _cart(app, buyer_id, "G-9", [("KORG-1", 1)])
    with app.app_context():
        entry_id = db.session.execute(select(OutboxEntry.id).where(OutboxEntry.kind == "order")).scalar_one()
    answers: list[int] = []
    payments.append(lambda: answers.append(app.test_client().post(f"/notify/{cart_id}").status_code))

    # On SQLite a job's transaction holds the one write lock from its start: the attempt reads in a
    # deferred transaction here so that the payment can land inside it, as it can on PostgreSQL.
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    with app.app_context(), (reading_only() if sqlite else contextlib.nullcontext()):
        first = push_entry(entry_id)
    assert first.get("not_ready") and answers == [200]
    with app.app_context():
        row = db.session.get(OutboxEntry, entry_id)
        assert (row.state, row.next_attempt_at, row.woken_at) == ("pending", None, None)  # due at once, not in a minute

    started = time.monotonic()
    live_worker(app)
    wait_until(lambda: sandbox_orders(sandbox, "G-9"), timeout=15, message="the paid order in Specter")
    took = time.monotonic() - started
    assert took < 3, f"the paid order waited {took:.1f}s"
    assert len(sandbox_orders(sandbox, "G-9")) == 1
