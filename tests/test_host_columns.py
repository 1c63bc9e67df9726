"""Stock writes honour the host's model (issue 23, 1.1): ``onupdate``, server defaults, ``version_id_col``.

A plain product model and a variant model carry the columns real shops have: ``updated_at`` with a
Python ``onupdate``, a column with an SQL ``onupdate``, a context-sensitive ``onupdate``, server defaults
and a version counter (SQLAlchemy's own counter on one, a custom generator on the other). A real stock
feed from the sandbox (a callback, the pull, the apply in several chunks by a worker) lands; every
changed row's ``onupdate`` columns move and its version moves as the ORM would move it, so the host's
optimistic lock notices our write. ``decrement_for_order`` at checkout does the same inside the host's
transaction, and the host's own later flush of the product in that transaction still works.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, FetchedValue, ForeignKey, Integer, Numeric, String, TypeDecorator, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.orm.exc import StaleDataError

from flask_specter import Specter, SQLAlchemyShopAdapter, signals
from flask_specter.stock import decrement_for_order

from .conftest import close_shop, wait_until

pytestmark = pytest.mark.timeout(120)

OLD = dt.datetime(2020, 1, 1, 12, 0, 0)
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"  # IsoStamp's text
N = 250  # three chunks of 100


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def stock_seen(context: Any) -> int | None:
    """A context-sensitive onupdate: the stock the UPDATE writes, when it writes one."""
    return context.get_current_parameters().get("stock")


class IsoStamp(TypeDecorator[dt.datetime]):
    """A timestamp the host keeps as text of its own format: its bind processor must run on our write too."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return value.strftime(STAMP) if value is not None else None

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        return dt.datetime.strptime(value, STAMP) if value is not None else None


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Item(db.Model):  # type: ignore[name-defined,misc]
    """A plain product with every kind of column a host manages itself; SQLAlchemy's version counter."""

    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    stock: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)  # a Python onupdate
    touched_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=func.now())  # an SQL onupdate
    last_stock: Mapped[int | None] = mapped_column(Integer, onupdate=stock_seen)  # a context-sensitive one
    edits: Mapped[str | None] = mapped_column(String(20), onupdate="edited")  # a plain value
    stamped: Mapped[dt.datetime | None] = mapped_column(IsoStamp, onupdate=utcnow)  # a type of the host's own
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    flags: Mapped[int] = mapped_column(Integer, server_default=text("0"), server_onupdate=FetchedValue())
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}


class Colour(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "colour"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    base_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    variants: Mapped[list[Variant]] = relationship(back_populates="colour")


class Variant(db.Model):  # type: ignore[name-defined,misc]
    """A variant with an ``updated_at`` and a custom version generator (a new id per change)."""

    __tablename__ = "variant"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    on_hand: Mapped[int] = mapped_column(default=0)
    colour_id: Mapped[int] = mapped_column(ForeignKey("colour.id"))
    colour: Mapped[Colour] = relationship(back_populates="variants")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    revision: Mapped[str] = mapped_column(String(32), nullable=False)
    __mapper_args__ = {"version_id_col": revision, "version_id_generator": lambda _old: uuid.uuid4().hex}


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "shop_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))


class Purchase(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "purchase"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("shop_user.id"))
    items: Mapped[list[PurchaseItem]] = relationship(order_by="PurchaseItem.id")


class PurchaseItem(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "purchase_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchase.id"))
    code: Mapped[str] = mapped_column(String(50))
    count: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))


ORDERS: dict[str, Any] = {
    "customer_model": User,
    "order_model": Purchase,
    "customer_fields": {"specter_customer_no": None},
    "order_fields": {"number": "ref", "customer_id": "user_id", "lines": "items", "specter_order_no": None, "transfer_error": None},
    "line_fields": {"sku": "code", "qty": "count", "price_excl_vat": "unit_price"},
}
SHAPES: dict[str, dict[str, Any]] = {
    "product": {
        **ORDERS, "product_model": Item,
        "product_fields": {"sku": "sku", "name": "name", "price_excl_vat": "price", "vat_percent": None, "stock": "stock", "active": None},
    },
    "variant": {
        **ORDERS, "product_model": Variant, "parent": "colour",
        "product_fields": {"sku": "code", "name": "label", "price_excl_vat": None, "vat_percent": None, "stock": "on_hand", "active": None},
        "parent_fields": {"name": "title", "price_excl_vat": "base_price"},
    },
}


class Shape:
    """One shape's model and its columns under the names the tests use."""

    def __init__(self, name: str):
        self.name = name
        self.model: Any = Item if name == "product" else Variant
        self.sku = self.model.sku if name == "product" else Variant.code
        self.stock = self.model.stock if name == "product" else Variant.on_hand
        self.version = self.model.version if name == "product" else Variant.revision

    def add(self, skus: list[str], stock: int) -> None:
        """The host's own products, made through its ORM (versions set by the mapper)."""
        if self.name == "product":
            db.session.add_all([Item(sku=s, name=f"Vara {s}", price=Decimal("100"), stock=stock) for s in skus])
        else:
            colour = Colour(title="Tröja", base_price=Decimal("400"))
            colour.variants = [Variant(code=s, label=f"Storlek {i}", on_hand=stock) for i, s in enumerate(skus)]
            db.session.add(colour)
        db.session.commit()
        # Every row last changed long ago: the apply must move it.
        db.session.execute(self.model.__table__.update().values(updated_at=OLD))
        db.session.commit()

    def rows(self) -> dict[str, Any]:
        return {row.sku: row for row in db.session.execute(select(self.sku.label("sku"), self.stock.label("stock"), self.version.label("version"), self.model.updated_at.label("updated_at")))}


@pytest.fixture(params=["product", "variant"])
def shape_shop(request, shop_config):
    app = Flask(f"host-columns-{request.param}")
    app.config.update(shop_config)
    db.init_app(app)
    Specter(app, db=db, adapter=SQLAlchemyShopAdapter(db, **SHAPES[request.param]), create_tables=True)
    with app.app_context():
        db.create_all()
    yield app, Shape(request.param)
    close_shop(app)


def test_a_stock_feed_moves_the_hosts_onupdate_columns_and_version(shape_shop, sandbox, live_worker):
    app, shape = shape_shop
    skus = [f"HC-{i:04d}" for i in range(N)]
    sandbox.hooks.create_articles([{"articleNo": s, "name": s, "priceExclVat": "100.00", "vatPercent": 25, "inStock": 5 + i % 9} for i, s in enumerate(skus)])
    with app.app_context():
        shape.add(skus, stock=0)
        before = shape.rows()
        stale = db.session.execute(select(shape.model).where(shape.sku == skus[0])).scalar_one()  # a host session's object, read before
        db.session.expunge(stale)
    chunks: list[int] = []

    def on_chunk(sender: Any, **kw: Any) -> None:
        chunks.append(kw["rows"])

    signals.stock_chunk_applied.connect(on_chunk, app)
    try:
        with app.test_client() as c:
            assert c.get(f"/specter/callback/stock?token={app.config['SPECTER_CALLBACK_TOKEN']}").data == b"1;Done"
        live_worker(app)
        expected = {s: 5 + i % 9 for i, s in enumerate(skus)}

        def landed() -> bool:
            if sum(chunks) < N:  # the signal follows each chunk's commit
                return False
            with app.app_context():
                return {sku: row.stock for sku, row in shape.rows().items()} == expected

        wait_until(landed, timeout=90, message="Specter's stock in the shop")
    finally:
        signals.stock_chunk_applied.disconnect(on_chunk, app)
    assert len(chunks) >= 3 and sum(chunks) == N  # several chunks, each of which wrote

    with app.app_context():
        after = shape.rows()
        for sku in skus:
            assert after[sku].updated_at > OLD, sku  # the Python onupdate, evaluated for our UPDATE
            assert after[sku].version != before[sku].version, sku
        if shape.name == "product":
            assert {after[s].version for s in skus} == {before[skus[0]].version + 1}  # the ORM's counter: +1
            extra = {r.sku: r for r in db.session.execute(select(Item.sku, Item.touched_at, Item.last_stock, Item.edits, Item.stamped, Item.created_at, Item.flags))}
            assert all(r.touched_at is not None and r.edits == "edited" and r.created_at is not None and r.flags == 0 for r in extra.values())
            assert all(r.stamped is not None and r.stamped > OLD for r in extra.values())
            assert {sku: r.last_stock for sku, r in extra.items()} == expected  # each row's own parameters
        else:
            assert len({after[s].version for s in skus}) == N  # the host's generator, once per row

        # The host's optimistic lock notices our write: a change made from what it read before is refused.
        stale = db.session.merge(stale, load=False)
        stale.updated_at = utcnow()
        with pytest.raises(StaleDataError):
            db.session.commit()
        db.session.rollback()


def test_decrement_for_order_moves_the_version_and_the_hosts_flush_after_it_works(shape_shop, sandbox):
    app, shape = shape_shop
    with app.app_context():
        shape.add(["HC-A", "HC-B"], stock=10)
        before = shape.rows()
        product = db.session.execute(select(shape.model).where(shape.sku == "HC-A")).scalar_one()  # loaded by the checkout
        user = User(email="asa@example.se", first_name="Åsa", last_name="Ek")
        db.session.add(user)
        db.session.flush()
        order = Purchase(ref="O-1", user_id=user.id, items=[PurchaseItem(code="HC-A", count=3, unit_price=Decimal("100")), PurchaseItem(code="HC-B", count=1, unit_price=Decimal("100"))])
        db.session.add(order)
        db.session.flush()
        decrement_for_order(order)
        if shape.name == "product":
            product.name = "Vara A, nytt namn"  # the checkout changes the product it loaded: no StaleDataError
        else:
            product.label = "Nytt namn"
        db.session.commit()
        after = shape.rows()
    assert (after["HC-A"].stock, after["HC-B"].stock) == (7, 9)
    for sku in ("HC-A", "HC-B"):
        assert after[sku].updated_at > OLD and after[sku].version != before[sku].version
    if shape.name == "product":
        assert (after["HC-A"].version, after["HC-B"].version) == (before["HC-A"].version + 2, before["HC-B"].version + 1)  # ours, then the host's
