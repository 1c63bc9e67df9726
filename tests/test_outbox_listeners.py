"""The outbox listeners see a change of a customer however it was made, and nothing else.

The listeners look only at the attributes set since the object was loaded (those with an old value in
SQLAlchemy's ``committed_state``): the drain's own records set the Specter number of each customer and
order it sends, and building the history of every column of each cost it a tenth of its time. These
tests hold the cases that shortcut must not lose: a value set while the attribute was not loaded, an
in-place change flagged with ``flag_modified``; and the ones it must still pass over.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm.attributes import flag_modified

from flask_specter.models import OutboxEntry

from ._push_fixtures import add_customer, ctx, db, entries, shop_factory

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def push_shop(make_shop):
    return shop_factory(make_shop)


def _all_sent(app):
    with ctx(app):
        db(app).session.execute(update(OutboxEntry).values(state="sent"))
        db(app).session.commit()


def _unsent(app):
    return [(e["kind"], e["op"], e["ref"]) for e in entries(app) if e["state"] == "pending"]


def _change(app, customer_id, change):
    from example_shop.models import Customer

    with ctx(app) as state:
        session = db(app).session
        customer = session.get(Customer, customer_id)
        change(session, customer)
        session.commit()
        return str(state.adapter.customer_ref(customer))


def test_a_customer_changed_while_its_attributes_were_not_loaded_is_sent(push_shop):
    app = push_shop()
    customer_id = add_customer(app, "olof@example.se", city="Umeå")
    _all_sent(app)

    def set_unloaded(session, customer):
        session.expire(customer)  # its old city is not known when the new one is set
        customer.city = "Luleå"

    ref = _change(app, customer_id, set_unloaded)
    assert _unsent(app) == [("customer", "update", ref)]


def test_a_customer_changed_in_place_and_flagged_is_sent(push_shop):
    app = push_shop()
    customer_id = add_customer(app, "stina@example.se", city="Kiruna")
    _all_sent(app)
    ref = _change(app, customer_id, lambda session, customer: flag_modified(customer, "city"))
    assert _unsent(app) == [("customer", "update", ref)]


def test_the_specter_number_alone_or_a_value_set_to_itself_sends_nothing(push_shop):
    app = push_shop()
    customer_id = add_customer(app, "nils@example.se", city="Gävle")
    _all_sent(app)

    def same_city_and_a_number(session, customer):
        customer.city = "Gävle"
        customer.specter_customer_no = "1234"

    _change(app, customer_id, same_city_and_a_number)
    assert _unsent(app) == []
    _change(app, customer_id, lambda session, customer: setattr(customer, "city", "Falun"))
    assert _unsent(app) != []  # the customer's own change still is
