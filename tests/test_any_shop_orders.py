"""Issue 10, items 3-6, on a shop of another shape joined with ``SQLAlchemyShopAdapter`` options only.

The shop commits an order and its lines in two steps, sends only paid orders, keeps an integer (or Enum)
status, has no column for Specter's numbers or the transfer error, lowers stock itself at payment and
keeps its own allocated column. Everything reaches the sandbox over HTTP.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Enum, ForeignKey, Numeric, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flask_specter import Specter, SQLAlchemyShopAdapter, shop_stock_change
from flask_specter.messages import ORDER_NOT_READY
from flask_specter.models import Link, OrderEvent, OutboxEntry, Reservation, UnexplainedStock, linked

from ._push_fixtures import sandbox_orders
from .conftest import close_shop, drain_outbox

pytestmark = pytest.mark.timeout(90)


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Phase(enum.Enum):
    NEW = "new"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class Ware(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "ware"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    vat: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("25"))
    stock: Mapped[int] = mapped_column(default=0)
    allocated: Mapped[int] = mapped_column(default=0)  # the shop's own reservation column


class Patron(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "patron"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))


class Basket(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "basket"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"))
    payment_method: Mapped[str] = mapped_column(String(20), default="invoice")
    paid: Mapped[bool] = mapped_column(default=False)
    status: Mapped[int] = mapped_column(default=1)
    phase: Mapped[Phase] = mapped_column(Enum(Phase), default=Phase.NEW)
    invoice_no: Mapped[str | None] = mapped_column(String(40))
    lines: Mapped[list[BasketLine]] = relationship(order_by="BasketLine.id", back_populates="basket")


class BasketLine(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "basket_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    basket_id: Mapped[int] = mapped_column(ForeignKey("basket.id"))
    sku: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    qty: Mapped[int]
    price_excl_vat: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    vat_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("25"))
    basket: Mapped[Basket] = relationship(back_populates="lines")


# Every field these models lack is None: the shop has no such attribute.
PRODUCT = {"name": "title", "price_excl_vat": "price", "vat_percent": "vat", "reserved": "allocated",
           "buy_price": None, "barcode": None, "weight": None, "active": None, "category_id": None}
CUSTOMER = {"company": None, "org_no": None, "phone": None, "mobile": None, "address": None, "address2": None,
            "zip": None, "country": None, "specter_customer_no": None}
ORDER = {"customer_id": "patron_id", "invoice_id": "invoice_no", "specter_order_no": None, "transfer_error": None,
         "tracking_no": None, "currency": None, "payment_reference": None, "shipping_method": None,
         "shipping_price_excl_vat": None, "shipping_vat_percent": None, "discount_excl_vat": None, "comment": None}


def _adapter(**options):
    return SQLAlchemyShopAdapter(
        db, product_model=Ware, customer_model=Patron, order_model=Basket, line_model=BasketLine,
        product_fields=PRODUCT, customer_fields=CUSTOMER, order_fields={**ORDER, **options.pop("order_fields", {})}, **options,
    )


@pytest.fixture
def any_shop(shop_config):
    """``any_shop(**adapter options)``: an app on the test database and queue; no worker runs."""
    made = []

    def factory(**options):
        app = Flask("any_shop")
        app.config.update(shop_config)
        db.init_app(app)
        Specter(app, db=db, adapter=_adapter(**options), create_tables=True)
        with app.app_context():
            db.create_all()
        made.append(app)
        return app

    yield factory
    for app in made:
        close_shop(app)



def _order_rows(app):
    with app.app_context():
        rows = db.session.execute(select(OutboxEntry).where(OutboxEntry.kind == "order").order_by(OutboxEntry.id)).scalars()
        return [(r.op, r.state, r.last_error, r.permanent, r.next_attempt_at) for r in rows]


def _stocked(app, sandbox, sku="KORG-1", stock=10):
    """A product the shop pushed to Specter (so Specter manages its stock) and a customer."""
    sandbox.hooks.create_articles([{"articleNo": "frakt", "name": "Frakt"}])
    with app.app_context():
        db.session.add(Ware(sku=sku, title="Korg Björk", price=Decimal("200.00"), stock=stock))
        patron = Patron(email="ylva@example.se", first_name="Ylva", last_name="Åkesson", city="Umeå")
        db.session.add(patron)
        db.session.commit()
        patron_id = patron.id
    assert drain_outbox(app)["sent"] == 2
    return patron_id


def _basket(app, patron_id, number, lines=(), **fields):
    with app.app_context():
        basket = Basket(number=number, patron_id=patron_id, **fields)
        basket.lines = [BasketLine(sku=sku, name=sku, qty=qty, price_excl_vat=Decimal("200.00")) for sku, qty in lines]
        db.session.add(basket)
        db.session.commit()
        return basket.id


def _ware(app, sku="KORG-1"):
    with app.app_context():
        db.session.remove()
        return db.session.execute(select(Ware).where(Ware.sku == sku)).scalar_one()


def test_an_order_committed_before_its_lines_waits_and_is_sent_once_with_them(any_shop, sandbox):
    from flask_specter.outbound.claims import unsent_ids
    from flask_specter.outbound.resend import order_transfer_status, resend_order

    app = any_shop()
    patron_id = _stocked(app, sandbox)
    basket_id = _basket(app, patron_id, "B-1")  # step one: the order, no lines yet

    counts = drain_outbox(app)
    assert counts["pending"] == 1 and counts["failed"] == 0
    [(op, state, reason, permanent, due)] = _order_rows(app)
    assert (op, state, reason, permanent) == ("create", "pending", ORDER_NOT_READY, False)
    assert due is not None  # not due again until a change or the sweep
    assert sandbox_orders(sandbox, "B-1") == []
    with app.app_context():
        assert unsent_ids(due_only=True) == []
        status = order_transfer_status(basket_id)
        assert (status["state"], status["error"]) == ("pending", ORDER_NOT_READY)
        assert resend_order(basket_id).state.value == "not_ready"  # "Överför order" says so, sends nothing

    with app.app_context():  # step two: the lines, in a commit of their own
        db.session.add_all([BasketLine(basket_id=basket_id, sku="KORG-1", name="Korg", qty=2, price_excl_vat=Decimal("200.00"))])
        db.session.commit()
        assert len(unsent_ids(due_only=True)) == 1  # due at once: the line woke it
    assert drain_outbox(app)["sent"] == 1
    [order] = sandbox_orders(sandbox, "B-1")
    assert [(r["articleNo"], r["qty"]) for r in order["rows"]] == [("KORG-1", 2)]
    assert [(op, state) for op, state, *_ in _order_rows(app)] == [("create", "sent")]
    with app.app_context():  # a later line change sends nothing more
        db.session.add(BasketLine(basket_id=basket_id, sku="KORG-1", name="Korg", qty=1, price_excl_vat=Decimal("200.00")))
        db.session.commit()
    assert drain_outbox(app)["sent"] == 0
    assert len(sandbox_orders(sandbox, "B-1")) == 1


def test_specter_refusing_an_order_without_rows_is_not_a_failure(any_shop, sandbox, monkeypatch):
    from flask_specter.remote.errors import SpecterNoRowsError, api_error

    exc = api_error(20, "articleNo_1 is required")
    assert isinstance(exc, SpecterNoRowsError) and exc.transient
    assert not isinstance(api_error(20, "customerId 'x' is not a customer number"), SpecterNoRowsError)

    app = any_shop()
    patron_id = _stocked(app, sandbox)
    _basket(app, patron_id, "B-2", [("KORG-1", 1)])
    client = app.extensions["specter"].client
    real = client.submit_order
    # The lines went between the read and the call (say, deleted meanwhile): Specter's own answer.
    monkeypatch.setattr(client, "submit_order", lambda header, rows, **kw: real(header, [], **kw))
    assert drain_outbox(app)["pending"] == 1
    [(_op, state, reason, permanent, _due)] = _order_rows(app)
    assert (state, reason, permanent) == ("pending", ORDER_NOT_READY, False)
    monkeypatch.setattr(client, "submit_order", real)
    with app.app_context():
        from flask_specter.outbound.resend import resend_orders

        assert resend_orders([_basket_id(app, "B-2")])[0].ok
    assert len(sandbox_orders(sandbox, "B-2")) == 1


def _basket_id(app, number):
    with app.app_context():
        return db.session.execute(select(Basket.id).where(Basket.number == number)).scalar_one()


def test_a_paid_rule_holds_an_unpaid_order_and_the_shops_own_decrement_at_payment_passes(any_shop, sandbox):
    app = any_shop(order_ready=lambda basket: basket.paid)
    patron_id = _stocked(app, sandbox, stock=10)
    basket_id = _basket(app, patron_id, "B-3", [("KORG-1", 3)])
    assert drain_outbox(app)["pending"] == 1
    assert sandbox_orders(sandbox, "B-3") == []

    with app.app_context():  # the shop's payment code: mark paid, lower stock, raise its allocated column
        basket = db.session.get(Basket, basket_id)
        ware = db.session.execute(select(Ware).where(Ware.sku == "KORG-1")).scalar_one()
        basket.paid = True
        ware.stock -= 3
        ware.allocated += 3
        db.session.commit()
        held = db.session.execute(select(Reservation.order_ref, Reservation.sku, Reservation.qty)).all()
        assert [tuple(r) for r in held] == [(str(basket_id), "KORG-1", 3)]
    assert (_ware(app).stock, _ware(app).allocated) == (7, 3)

    assert drain_outbox(app)["sent"] == 1
    [order] = sandbox_orders(sandbox, "B-3")
    assert [(r["articleNo"], r["qty"]) for r in order["rows"]] == [("KORG-1", 3)]

    # Specter's figure (it reserved the order: available 7) comes back; counted once, allocated untouched.
    _pull_stock(app)
    assert (_ware(app).stock, _ware(app).allocated) == (7, 3)

    with app.app_context():  # a manual edit is not the shop's to make: recorded, never raised into its commit
        ware = db.session.execute(select(Ware).where(Ware.sku == "KORG-1")).scalar_one()
        ware.stock = 50
        db.session.commit()
        ware.stock = 51  # a rise with an order in the transaction is not order-driven either
        db.session.get(Basket, basket_id).status = 2
        db.session.commit()
        ware.stock -= 1  # a decrement flushed on its own, and no order of its transaction explains it
        db.session.flush()
        db.session.commit()
        recorded = db.session.execute(select(UnexplainedStock.sku, UnexplainedStock.old, UnexplainedStock.new, UnexplainedStock.unexplained).order_by(UnexplainedStock.id)).all()
        assert [tuple(r) for r in recorded] == [("KORG-1", 7, 50, 43), ("KORG-1", 50, 51, 1), ("KORG-1", 51, 50, -1)]
        assert db.session.execute(select(Reservation)).first() is None  # none of them holds stock back
    assert _ware(app).stock == 50


def test_a_decrement_for_an_order_already_in_specter_is_not_counted_twice(any_shop, sandbox):
    app = any_shop()  # default rule: sent as soon as it has lines, paid later
    patron_id = _stocked(app, sandbox, stock=10)
    basket_id = _basket(app, patron_id, "B-4", [("KORG-1", 2)])
    assert drain_outbox(app)["sent"] == 1
    _pull_stock(app)
    assert _ware(app).stock == 8  # Specter's figure: the order is reserved there
    with app.app_context():
        basket = db.session.get(Basket, basket_id)
        ware = db.session.execute(select(Ware).where(Ware.sku == "KORG-1")).scalar_one()
        basket.paid = True
        ware.stock -= 2
        db.session.commit()
    assert _ware(app).stock == 8


def _pull_stock(app):
    from flask_specter.inbound.pulls import run_pull
    from flask_specter.inbound.stock_apply import run_apply_chunk

    with app.app_context():
        run_pull("stock")
        while run_apply_chunk()["remaining"]:
            pass


def test_the_one_line_alternative_lets_the_shops_stock_code_through(any_shop, sandbox):
    app = any_shop()
    _stocked(app, sandbox, stock=10)
    with app.app_context():
        ware = db.session.execute(select(Ware).where(Ware.sku == "KORG-1")).scalar_one()
        with shop_stock_change():
            ware.stock -= 4  # flushed when the block ends
        db.session.commit()
        assert db.session.execute(select(UnexplainedStock)).first() is None  # the shop said so: nothing to record
        ware.stock -= 1  # outside the block: let through, and recorded
        db.session.commit()
        assert db.session.execute(select(UnexplainedStock.unexplained)).scalars().all() == [-1]
    assert _ware(app).stock == 5


@pytest.mark.parametrize(
    ("options", "column", "shipped", "cancelled", "untouched"),
    [
        ({"order_status_map": {"shipped": 6, "cancelled": 5}}, "status", 6, 5, 1),
        ({"order_status_map": {"shipped": Phase.SHIPPED, "cancelled": Phase.CANCELLED}, "order_fields": {"status": "phase"}},
         "phase", Phase.SHIPPED, Phase.CANCELLED, Phase.NEW),
    ],
    ids=["int", "enum"],
)
def test_statuses_come_back_as_the_shops_values_and_orders_are_found_through_the_link_table(any_shop, sandbox, options, column, shipped, cancelled, untouched):
    from flask_specter.inbound.order_events import apply_order_events, cancel_order_from_specter, record_invoice
    from flask_specter.inbound.pulls import run_pull

    app = any_shop(**options)
    patron_id = _stocked(app, sandbox)
    basket_id = _basket(app, patron_id, "B-5", [("KORG-1", 1)])
    assert drain_outbox(app)["sent"] == 1
    with app.app_context():
        specter_no = linked(db.session, "order", str(basket_id))  # the shop has no column for it
    assert specter_no and [o["orderNo"] for o in sandbox_orders(sandbox, "B-5")] == [int(specter_no)]

    def value():
        with app.app_context():
            db.session.remove()
            return getattr(db.session.get(Basket, basket_id), column)

    sandbox.hooks.set_order_status(specter_no, 2)  # "confirmed": the shop has no value for it
    with app.app_context():
        run_pull("orders")
        assert apply_order_events()["applied"] == 1
        details = db.session.execute(select(OrderEvent.detail)).scalars().all()
        assert details == ["status confirmed has no shop value"]
    assert value() == untouched

    sandbox.hooks.set_order_status(specter_no, 4)
    with app.app_context():
        run_pull("orders")
        assert apply_order_events()["applied"] == 1
    assert value() == shipped

    with app.app_context():
        assert record_invoice(specter_no, "F-77")["invoice_id"] == "F-77"
        assert cancel_order_from_specter(specter_no)["result"] == "cancelled"
        db.session.remove()
        assert db.session.get(Basket, basket_id).invoice_no == "F-77"
    assert value() == cancelled


def test_a_shop_without_specter_columns_transfers_and_shows_the_error(any_shop, sandbox):
    from flask_specter.outbound.resend import order_transfer_status

    app = any_shop()
    patron_id = _stocked(app, sandbox)
    with app.app_context():
        customer_no = linked(db.session, "customer", str(patron_id))
    assert customer_no  # Specter's customer number lives in the link table only
    sandbox.hooks.remove_article("KORG-1")  # Specter refuses the order for good: code 21
    basket_id = _basket(app, patron_id, "B-6", [("KORG-1", 1)])
    assert drain_outbox(app)["failed"] == 1
    with app.app_context():
        status = order_transfer_status(basket_id)
        assert status["state"] == "failed" and "KORG-1" in status["error"]
        assert db.session.execute(select(Link).where(Link.kind == "order")).first() is None


def test_status_map_names_are_checked():
    from flask_specter.remote.errors import SpecterConfigError

    with pytest.raises(SpecterConfigError, match="shiped"):
        _adapter(order_status_map={"shiped": 6})
    legacy = _adapter(order_status_map={4: "sent"})  # the older form, by Specter's statusId
    assert (legacy.order_status("shipped"), legacy.order_status("received")) == ("sent", "received")
    typed = _adapter(order_status_map={"shipped": 6})
    assert (typed.order_status("shipped"), typed.order_status("received")) == (6, None)
