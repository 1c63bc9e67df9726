"""A new order's outbox row goes with its transaction's COMMIT, whatever way that transaction ends.

On PostgreSQL the row of a new order or customer is held on the connection and sent with the COMMIT
(``held_rows``: one round trip for both); elsewhere it is written in the flush. Either way it must be
in the database exactly when the order is: these tests end the transaction every way a shop can
(commit, rollback, a session closed without either, a savepoint rolled back, a COMMIT that fails) and
read the table from outside the session. Each shop has a pool of one connection, so a row left held
on it would ride along with the next transaction's commit.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from flask_specter.models import OutboxEntry
from flask_specter.outbound.held_rows import held

from ._push_fixtures import add_customer, add_product, ctx, db, entries, shop_factory

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def one_connection_shop(make_shop):
    factory = shop_factory(make_shop)

    def make():
        app = factory(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})
        add_product(app, "HELD-1", stock=50)
        return app, add_customer(app, "hilda@example.se")  # also the engine's first row: it starts holding after it

    return make


def _order(customer_id):
    from example_shop.models import Customer, Order, OrderLine

    session = _session()
    order = Order(customer=session.get(Customer, customer_id), payment_method="invoice")
    order.lines.append(OrderLine(sku="HELD-1", name="Held", qty=1, price_excl_vat=100, vat_percent=25))
    session.add(order)
    session.flush()
    return order


def _session():
    from flask import current_app

    return current_app.extensions["specter"].db.session


def _orders_rows(app):
    return [(e["op"], e["ref"]) for e in entries(app, "order")]


def _rows_seen_from_outside(app) -> int:
    """Outbox rows committed, counted on a connection of its own (the shop's pool has one)."""
    with ctx(app):
        outside = create_engine(db(app).engine.url, poolclass=NullPool)
    try:
        with outside.connect() as conn:
            return conn.execute(select(func.count()).select_from(OutboxEntry.__table__)).scalar_one()
    finally:
        outside.dispose()


def _holds(app) -> bool:
    with ctx(app):
        return db(app).engine.dialect.driver == "psycopg"


def test_a_new_orders_row_is_committed_with_the_order_and_not_before(one_connection_shop):
    app, customer_id = one_connection_shop()
    before = _rows_seen_from_outside(app)
    with ctx(app) as state:
        order = _order(customer_id)
        ref = str(state.adapter.order_ref(order))
        if _holds(app):
            assert [row["ref"] for row in held(db(app).session())] == [ref]  # held, to go with the COMMIT
        assert _rows_seen_from_outside(app) == before
        db(app).session.commit()
        assert list(held(db(app).session())) == []
    assert _rows_seen_from_outside(app) == before + 1
    assert ("create", ref) in _orders_rows(app)


def test_a_rolled_back_checkout_leaves_no_row_now_or_with_the_next_commit(one_connection_shop):
    app, customer_id = one_connection_shop()
    with ctx(app):
        _order(customer_id)
        db(app).session.rollback()
        add_customer(app, "nils@example.se")  # the next transaction, on the same (only) connection
    assert _orders_rows(app) == []
    assert len(entries(app, "customer")) == 2


def test_a_session_closed_without_commit_leaves_no_row_for_the_next_commit(one_connection_shop):
    app, customer_id = one_connection_shop()
    with ctx(app):
        _order(customer_id)
        db(app).session.remove()  # the request ended without commit or rollback
    add_customer(app, "nils@example.se")
    assert _orders_rows(app) == []


def test_an_order_flushed_in_a_rolled_back_savepoint_leaves_no_row(one_connection_shop):
    app, customer_id = one_connection_shop()
    with ctx(app) as state:
        session = db(app).session
        kept = _order(customer_id)  # before the savepoint: held (PostgreSQL) and kept
        savepoint = session.begin_nested()
        inside = _order(customer_id)  # inside it: written at once, so that its rollback takes it away
        held_refs = [row["ref"] for row in held(session())]
        assert str(state.adapter.order_ref(inside)) not in held_refs
        assert held_refs == ([str(state.adapter.order_ref(kept))] if _holds(app) else [])
        savepoint.rollback()
        released = session.begin_nested()
        third = _order(customer_id)
        released.commit()
        session.commit()
        refs = {str(state.adapter.order_ref(kept)), str(state.adapter.order_ref(third))}
    assert {ref for _op, ref in _orders_rows(app)} == refs


def test_a_new_customer_changed_again_before_commit_gets_one_row(one_connection_shop):
    app, _customer_id = one_connection_shop()
    from example_shop.models import Customer

    with ctx(app) as state:
        session = db(app).session
        customer = Customer(email="greta@example.se", first_name="Greta", last_name="Kund", country="SE")
        session.add(customer)
        session.flush()  # its row is held (PostgreSQL) or written
        customer.city = "Kiruna"
        session.flush()  # a change in the same transaction: its row is there already
        session.commit()
        ref = str(state.adapter.customer_ref(customer))
    assert [(e["op"], e["ref"]) for e in entries(app, "customer") if e["ref"] == ref] == [("update", ref)]


def test_a_commit_whose_outbox_row_fails_keeps_neither_order_nor_row(one_connection_shop):
    """The row refused (here by a constraint added for the test) fails the checkout as one: on PostgreSQL
    at the COMMIT, as SQLAlchemy's own error; the order is not there and the session goes on after a
    rollback."""
    app, customer_id = one_connection_shop()
    from example_shop.models import Order

    with ctx(app):
        session = db(app).session
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE specter_outbox ADD CONSTRAINT no_orders_test CHECK (kind <> 'order') NOT VALID"))
        else:
            session.execute(
                text("CREATE TRIGGER no_orders_test BEFORE INSERT ON specter_outbox WHEN NEW.kind = 'order' BEGIN SELECT RAISE(ABORT, 'no orders'); END")
            )
        session.commit()
        before = session.execute(select(func.count()).select_from(Order)).scalar_one()
        with pytest.raises(IntegrityError):
            _order(customer_id)
            session.commit()
        session.rollback()
        assert session.execute(select(func.count()).select_from(Order)).scalar_one() == before
    assert _orders_rows(app) == []
    add_customer(app, "efter@example.se")  # the connection works on
    assert len(entries(app, "customer")) == 2


def test_a_connection_back_in_the_pool_carries_no_held_rows_to_its_next_user(one_connection_shop):
    """However a transaction ended (one that SQLAlchemy deactivated after an error is closed without a
    rollback event), rows still held when the connection goes back to the pool are dropped there."""
    app, _customer_id = one_connection_shop()
    if not _holds(app):
        pytest.skip("rows are held on PostgreSQL with psycopg only")
    from flask_specter.outbound.held_rows import KEY

    with ctx(app):
        engine = db(app).engine
        pooled = engine.raw_connection()
        pooled.info[KEY] = [("never sent", [{"kind": "order", "op": "create", "ref": "0"}])]
        pooled.close()  # back to the pool (of one), with no commit or rollback event
        again = engine.raw_connection()
        try:
            assert KEY not in again.info
        finally:
            again.close()
