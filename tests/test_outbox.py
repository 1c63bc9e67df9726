"""Shop to Specter in real time: the outbox, the pushes and the admin toggles, seen in the sandbox.

Real parts: the example shop, the sandbox Specter over HTTP, a real RQ worker (scheduler on) on real
Redis, SQLite by default and PostgreSQL with ``DATABASE_URL``. Every assertion reads the sandbox's own
state, never a mock. The back-off and give-up test runs the retries itself on a frozen clock (freezegun).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from flask_specter.messages import ORDER, SendState, describe
from flask_specter.models import OutboxEntry, Reservation, utcnow

from ._push_fixtures import (
    add_customer,
    add_product,
    all_sent,
    ctx,
    db,
    entries,
    order_row,
    place,
    sandbox_articles,
    sandbox_customers,
    sandbox_orders,
    set_toggles,
    shop_factory,
)
from .conftest import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def push_shop(make_shop):
    return shop_factory(make_shop)


def _sent(app, n=None):
    return lambda: all_sent(app) and (n is None or len(entries(app)) >= n)


def test_products_created_updated_and_deleted_as_the_toggles_say(push_shop, sandbox, live_worker):
    from example_shop.models import Product

    app = push_shop()
    live_worker(app)
    add_product(app, "KAFFE-1", name="Kaffe Mörk", stock=7, price="89.00")
    wait_until(_sent(app, 1), message="product create sent")
    art = sandbox_articles(sandbox)["KAFFE-1"]
    assert (art["name"], art["priceExclVat"], art["inStock"]) == ("Kaffe Mörk", "89.00", 7)  # initial stock went along

    with ctx(app):
        p = db(app).session.execute(select(Product).where(Product.sku == "KAFFE-1")).scalar_one()
        p.name, p.price_excl_vat = "Kaffe Ljus", Decimal("95.00")
        db(app).session.commit()
    wait_until(_sent(app, 2), message="product update sent")
    art = sandbox_articles(sandbox)["KAFFE-1"]
    assert (art["name"], art["priceExclVat"], art["inStock"]) == ("Kaffe Ljus", "95.00", 7)  # data only, never stock
    assert [e["op"] for e in entries(app)] == ["create", "update"]

    # "Radera från Specter" = false: gone from the shop only.
    set_toggles(app, delete_in_specter=False)
    with ctx(app):
        db(app).session.delete(db(app).session.execute(select(Product).where(Product.sku == "KAFFE-1")).scalar_one())
        db(app).session.commit()
    wait_until(_sent(app, 3), message="product delete handled")
    assert sandbox_articles(sandbox)["KAFFE-1"]["deleted"] is False
    assert "bara i butiken" in entries(app)[-1]["note"]

    # "Radera från Specter" = true (the default): deleted in Specter too.
    set_toggles(app, delete_in_specter=True)
    add_product(app, "TE-1", name="Te", stock=3)
    wait_until(_sent(app, 4), message="second product sent")
    with ctx(app):
        db(app).session.delete(db(app).session.execute(select(Product).where(Product.sku == "TE-1")).scalar_one())
        db(app).session.commit()
    wait_until(_sent(app, 5), message="second delete sent")
    assert sandbox_articles(sandbox)["TE-1"]["deleted"] is True

    # Product sync off: no outbox row at all, nothing reaches Specter.
    set_toggles(app, product_sync=False)
    add_product(app, "KAKAO-1", stock=4)
    assert len(entries(app)) == 5
    assert "KAKAO-1" not in sandbox_articles(sandbox)


def test_customers_arrive_intact_and_specter_only_fields_survive(push_shop, sandbox, live_worker):
    from example_shop.models import Customer

    app = push_shop()
    live_worker(app)
    asa = add_customer(app, "asa@example.se", first_name="Åsa", last_name="Öberg", city="Göteborg")
    firm = add_customer(app, "inkop@arlig.se", first_name="Örjan", last_name="Ek", company="Ärlig Handel AB", org_no="556677-8899")
    wait_until(_sent(app, 2), message="customers sent")
    by_mail = {c["emailAddress"]: c for c in sandbox_customers(sandbox)}
    assert (by_mail["asa@example.se"]["firstName"], by_mail["asa@example.se"]["surName"]) == ("Åsa", "Öberg")
    assert by_mail["asa@example.se"]["city"] == "Göteborg" and by_mail["asa@example.se"]["customerOrganizationalForm"] == "P"
    assert by_mail["inkop@arlig.se"]["name"] == "Ärlig Handel AB" and by_mail["inkop@arlig.se"]["customerOrganizationalForm"] == "C"
    calls = sandbox.hooks.calls(action="newCustomerSubmit")
    assert len(calls) == 2 and all(c["ok"] for c in calls)  # the keys over the latin-1 names verified

    with ctx(app):
        stored = {c.id: c.specter_customer_no for c in db(app).session.execute(select(Customer)).scalars()}
    assert stored[asa] == str(by_mail["asa@example.se"]["customerId"])
    assert stored[firm] == str(by_mail["inkop@arlig.se"]["customerId"])

    # Set in Specter only; an update from the shop must not wipe it.
    sandbox.hooks.set_customer_fields(stored[asa], priority="A", responsibleSalesperson="Lisa")
    with ctx(app):
        db(app).session.get(Customer, asa).city = "Malmö"
        db(app).session.commit()
    wait_until(_sent(app, 3), message="customer update sent")
    again = {c["emailAddress"]: c for c in sandbox_customers(sandbox)}["asa@example.se"]
    assert (again["city"], again["priority"], again["responsibleSalesperson"]) == ("Malmö", "A", "Lisa")
    assert len(sandbox_customers(sandbox)) == 2  # updated, not created again


def test_ignore_org_no_check_makes_specter_create_instead_of_match(push_shop, sandbox, live_worker):
    app = push_shop()
    live_worker(app)
    add_customer(app, "a@firma.se", company="Firma AB", org_no="556000-1111")
    add_customer(app, "b@firma.se", company="Firma AB", org_no="5560001111")
    wait_until(_sent(app, 2), message="customers sent")
    assert len(sandbox_customers(sandbox)) == 1  # matched on orgNo (normalised)

    set_toggles(app, ignore_org_no_check=True)
    add_customer(app, "c@firma.se", company="Firma AB", org_no="556000-1111")
    wait_until(_sent(app, 3), message="third customer sent")
    assert len(sandbox_customers(sandbox)) == 2


def test_new_customer_order_goes_with_klarna_shipping_discount_and_order_mail(push_shop, sandbox, live_worker):
    from example_shop.models import Customer
    from example_shop.orders import LineRequest, place_order

    app = push_shop()
    sandbox.hooks.create_articles([{"articleNo": "frakt", "name": "Frakt"}, {"articleNo": "rabatt", "name": "Rabatt"}])
    add_product(app, "KAFFE-1", stock=10)
    set_toggles(app, send_order_mail=True, delete_orders=False)
    live_worker(app)
    wait_until(_sent(app, 1), message="product sent")
    with ctx(app):  # a first-time customer checks out: customer and order in one transaction
        order = place_order(
            Customer(email="ny@example.se", first_name="Ny", last_name="Kund"),
            [LineRequest("KAFFE-1", 3)],
            payment_method="klarna",
            shipping_method="PostNord",
            shipping_price_excl_vat=Decimal("49"),
            discount_excl_vat=Decimal("20"),
        )
        oid, number = order.id, order.number
    wait_until(_sent(app, 3), message="customer and order sent")
    [sent] = sandbox_orders(sandbox, number)
    assert sent["fields"]["payTypeIdentifier"] == "K" and sent["fields"]["sendOrderMail"] == "1"
    assert [(r["articleNo"], r["qty"]) for r in sent["rows"]] == [("KAFFE-1", 3), ("frakt", 1), ("rabatt", 1)]
    assert len(sandbox_customers(sandbox)) == 1  # the customer was created once, before the order
    assert order_row(app, oid) == {"number": number, "specter_order_no": str(sent["orderNo"]), "transfer_error": None}
    def released():
        with ctx(app):
            return db(app).session.execute(select(Reservation)).first() is None

    # Acknowledged, then released by the stock figure fetched after the acknowledgement (issue 7.5).
    wait_until(released, message="the reservation to be released by a figure that includes the order")

    # "Radera order" false: only in the shop. True: in Specter too.
    from example_shop.models import Order

    with ctx(app):
        db(app).session.delete(db(app).session.get(Order, oid))
        db(app).session.commit()
    wait_until(_sent(app, 4), message="order delete handled")
    assert sandbox_orders(sandbox, number)[0]["removed"] is False
    set_toggles(app, delete_orders=True)
    with ctx(app):
        cid = db(app).session.execute(select(Customer.id)).scalar_one()
    oid2, number2 = place(app, cid, [("KAFFE-1", 1)])
    wait_until(_sent(app, 5), message="second order sent")
    with ctx(app):
        db(app).session.delete(db(app).session.get(Order, oid2))
        db(app).session.commit()
    wait_until(_sent(app, 6), message="second order deleted")
    assert sandbox_orders(sandbox, number2)[0]["removed"] is True


def test_redis_down_at_checkout_then_the_sweep_pushes_the_order_exactly_once(push_shop, sandbox, live_worker):
    from flask_specter.outbound.relay import sweep_outbox
    from flask_specter.queue import SpecterQueue

    from ._push_fixtures import CLOSED_REDIS, REDIS

    app = push_shop(redis=CLOSED_REDIS)
    set_toggles(app, product_sync=False)
    sandbox.hooks.create_articles([{"articleNo": "KAFFE-1", "name": "Kaffe", "inStock": 10}])
    add_product(app, "KAFFE-1", stock=10)
    cid = add_customer(app, "k@example.se")
    oid, number = place(app, cid, [("KAFFE-1", 2)])  # Redis is down: checkout still succeeds
    assert order_row(app, oid)["number"] == number
    assert {e["state"] for e in entries(app)} == {"pending"}

    state = app.extensions["specter"]  # Redis comes back
    state.queue = SpecterQueue(app, url=REDIS, name=state.queue.name, embedded_worker=False)
    with ctx(app):
        assert sweep_outbox() == 2
        sweep_outbox()  # a second sweep (worker start + schedule) must not send anything twice
    live_worker(app)
    wait_until(_sent(app, 2), message="pending rows pushed after Redis returned")
    with ctx(app):
        sweep_outbox()
    assert len(sandbox_orders(sandbox, number)) == 1
    assert len([c for c in sandbox.hooks.calls(action="newOrderSubmit") if c["ok"]]) == 1
    assert order_row(app, oid)["specter_order_no"] == str(sandbox_orders(sandbox, number)[0]["orderNo"])


def test_created_then_500_is_retried_into_exactly_one_order(push_shop, sandbox, live_worker):
    app = push_shop()
    set_toggles(app, product_sync=False)
    sandbox.hooks.create_articles([{"articleNo": "KAFFE-1", "name": "Kaffe", "inStock": 10}])
    add_product(app, "KAFFE-1", stock=10)
    cid = add_customer(app, "k@example.se")
    sandbox.hooks.fault("newOrderSubmit", "after", 1)  # Specter creates the order, then answers 500
    live_worker(app)
    oid, number = place(app, cid, [("KAFFE-1", 1)])
    wait_until(_sent(app, 2), message="order acknowledged after the retry")
    [order] = sandbox_orders(sandbox, number)
    assert len(sandbox.hooks.calls(action="newOrderSubmit")) == 2  # the lost answer, then code 23
    row = entries(app, "order")[0]
    assert row["attempts"] == 1 and row["remote_id"] == str(order["orderNo"]) and "fanns redan" in row["note"]
    assert order_row(app, oid) == {"number": number, "specter_order_no": str(order["orderNo"]), "transfer_error": None}


def test_permanent_failure_shows_why_and_two_admins_resending_at_once_send_once(push_shop, sandbox, live_worker):
    import threading

    from flask_specter.outbound.resend import order_transfer_status, resend_order

    app = push_shop()
    set_toggles(app, product_sync=False)
    add_product(app, "NYHET-1", stock=5)  # not in Specter: the order will be refused with code 21
    cid = add_customer(app, "k@example.se")
    live_worker(app)
    oid, number = place(app, cid, [("NYHET-1", 1)])
    wait_until(lambda: entries(app, "order") and entries(app, "order")[0]["state"] == "failed", message="order failed")
    row = entries(app, "order")[0]
    assert row["permanent"] and row["attempts"] == 1  # not retried: a person must act
    assert "Artikeln 'NYHET-1' finns inte i Specter" in order_row(app, oid)["transfer_error"]
    with ctx(app):
        assert order_transfer_status(oid)["state"] == "failed"

    sandbox.hooks.create_articles([{"articleNo": "NYHET-1", "name": "Nyhet", "inStock": 5}])  # the admin fixes it
    sandbox.hooks.fault("newOrderSubmit", "slow", 2, seconds=0.7)  # both presses overlap the call
    barrier, messages = threading.Barrier(2), []

    def press():
        with app.app_context():
            barrier.wait()
            messages.append(resend_order(oid))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(sandbox_orders(sandbox, number)) == 1
    assert len([c for c in sandbox.hooks.calls(action="newOrderSubmit") if c["ok"]]) == 1
    states = sorted(r.state for r in messages)  # one sends it; the other finds it busy or already sent
    assert states.count(SendState.SENT) == 1 and set(states) <= {SendState.SENT, SendState.BUSY, SendState.ALREADY_SENT}, messages
    assert order_row(app, oid)["transfer_error"] is None  # the reason (and the button) disappear
    with ctx(app):
        status = order_transfer_status(oid)
    assert (status["state"], status["error"], status["specter_order_no"]) == ("sent", None, str(sandbox_orders(sandbox, number)[0]["orderNo"]))


def test_transient_failures_back_off_then_give_up_and_resend_succeeds(make_shop, sandbox):
    """On a frozen clock, with no worker: the test runs the retry jobs itself, when they fall due."""
    from flask_specter.outbound.relay import push_entry, sweep_outbox
    from flask_specter.outbound.resend import resend_order

    # The embedded queue and no worker: retries wait in fakeredis; the back-off is long, the clock is moved.
    app = make_shop(REDIS_URL=None, SPECTER_REDIS_URL=None, SPECTER_PUSH_RETRIES=2, SPECTER_RETRY_BACKOFF=60.0, SPECTER_RETRY_BACKOFF_MAX=90.0)
    set_toggles(app, product_sync=False)
    sandbox.hooks.create_articles([{"articleNo": "KAFFE-1", "name": "Kaffe", "inStock": 10}])
    add_product(app, "KAFFE-1", stock=10)
    cid = add_customer(app, "k@example.se")
    sandbox.hooks.fault("newOrderSubmit", "fail", 50)
    with freeze_time(dt.datetime.now(dt.UTC)) as clock:
        oid, number = place(app, cid, [("KAFFE-1", 1)])
        entry_id = entries(app, "order")[0]["id"]
        waits = []
        for _ in range(2):
            failed_at = utcnow()
            with ctx(app):
                assert push_entry(entry_id)["state"] == "pending"
                due = db(app).session.get(OutboxEntry, entry_id).next_attempt_at
            waits.append((due - failed_at).total_seconds())
            clock.move_to(due - dt.timedelta(seconds=1))
            with ctx(app):
                assert sweep_outbox() == 0 and "skipped" in push_entry(entry_id)  # not yet: nothing is sent
            clock.move_to(due)
        with ctx(app):
            assert push_entry(entry_id)["state"] == "failed"  # the third failure is the last
        clock.tick(dt.timedelta(days=1))
        with ctx(app):
            assert sweep_outbox() == 0 and "skipped" in push_entry(entry_id)  # given up: no later retry
    assert 60.0 <= waits[0] <= 66.0 and waits[1] == 90.0  # doubling (with jitter), capped at SPECTER_RETRY_BACKOFF_MAX
    assert len(sandbox.hooks.calls(action="newOrderSubmit")) == 3
    row = entries(app, "order")[0]
    assert row["attempts"] == 3 and not row["permanent"]
    assert "Gav upp efter 3 försök" in row["last_error"] and "Specter gick inte att nå" in order_row(app, oid)["transfer_error"]
    assert sandbox_orders(sandbox, number) == []

    sandbox.hooks.clear_faults()
    with ctx(app):
        result = resend_order(oid)
    assert result.state is SendState.SENT and result.specter_no == str(sandbox_orders(sandbox, number)[0]["orderNo"])
    assert "Ordern är överförd till Specter" in describe(result, ORDER)
    assert len(sandbox_orders(sandbox, number)) == 1 and order_row(app, oid)["transfer_error"] is None


def test_no_personnummer_or_email_in_logs(push_shop, sandbox, live_worker, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    app = push_shop()
    # Specter quotes the value back in its refusal: the admin sees it, the logs must not.
    sandbox.hooks.fault("newCustomerSubmit", "body", 1, body="0;20;orgNo '19121212-1212' is not valid")
    live_worker(app)
    cid = add_customer(app, "tolvan@example.se", first_name="Tolvan", last_name="Tolvansson", org_no="19121212-1212")
    wait_until(lambda: entries(app) and entries(app)[0]["state"] == "failed", message="refused")
    assert "19121212-1212" in entries(app)[0]["last_error"]
    with ctx(app):
        from example_shop.models import Customer

        db(app).session.get(Customer, cid).phone = "0701234567"
        db(app).session.commit()
    wait_until(lambda: entries(app)[-1]["state"] == "sent", message="customer sent")
    text = caplog.text
    assert "outbox" in text  # the pushes were logged...
    for secret in ("19121212", "1212-1212", "tolvan@example.se"):
        assert secret not in text  # ...without the personnummer or the e-mail


def test_rolled_back_change_writes_no_outbox_row(push_shop, sandbox):
    from example_shop.models import Product

    app = push_shop()
    with ctx(app):
        db(app).session.add(Product(sku="X-1", name="X", stock=1, price_excl_vat=1, vat_percent=25))
        db(app).session.flush()
        db(app).session.rollback()
        assert "specter_outbox_ids" not in db(app).session.info
    assert entries(app) == []


def test_cli_drain_and_resend_order(push_shop, sandbox):
    from ._push_fixtures import CLOSED_REDIS

    app = push_shop(redis=CLOSED_REDIS)  # no queue at all: the CLI does the work in-process
    sandbox.hooks.create_articles([{"articleNo": "frakt", "name": "Frakt"}])
    add_product(app, "KAFFE-1", stock=10)
    cid = add_customer(app, "k@example.se", first_name="Åsa", last_name="Öberg")
    oid, number = place(app, cid, [("KAFFE-1", 2)])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["specter", "drain"])
    assert result.exit_code == 0, result.output
    assert "sent 3" in result.output and "order create" in result.output
    assert len(sandbox_orders(sandbox, number)) == 1

    result = runner.invoke(args=["specter", "resend-order", str(oid)])
    assert result.exit_code == 0 and "redan överförd" in result.output
    assert len(sandbox_orders(sandbox, number)) == 1
