"""Issue 23, 2.3, 2.4, 2.6, 2.7, 2.8: a stranger's shop (``host_shaped_models``) joined by configuration
alone, over HTTP against the sandbox: guest orders carry their buyer, one name field is split, paths go
through foreign-key ids and address rows that point at the user, a user's first address updates the
customer, and a default parent field the host never named does not stop ``init_app``."""

from __future__ import annotations

import logging
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from flask_specter import SQLAlchemyShopAdapter
from flask_specter.models import Link, OutboxEntry
from flask_specter.outbound.guests import NO_CUSTOMER, NO_GUEST_EMAIL
from flask_specter.remote.errors import SpecterConfigError
from flask_specter.shop.names import person_names, split_name

from . import host_shaped_models as shop
from ._push_fixtures import sandbox_articles, sandbox_customers, sandbox_orders
from .conftest import close_shop, drain_outbox, unsent_rows
from .host_shaped_models import Address, Member, MemberAddress, Order, Product, User, Variant, db, line

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def host_shop(shop_config):
    app = shop.make_app(shop_config)
    yield app
    close_shop(app)


def _customer(sandbox, email: str) -> dict:
    [found] = [c for c in sandbox_customers(sandbox) if c["emailAddress"].lower() == email.lower()]
    return found


# -- 2.4 names -----------------------------------------------------------------------------------------


def test_one_name_field_is_split_on_its_first_space_and_one_word_fills_both():
    assert split_name("Anna Maria  Ek") == ("Anna", "Maria Ek")
    assert split_name("Cher") == ("Cher", "Cher")
    assert split_name("  ") == ("", "")
    assert person_names("Åsa", "", "") == ("Åsa", "Åsa")  # a last name missing: the first fills it
    assert person_names("", "", "Bo Ek") == ("Bo", "Ek")
    assert person_names("Bo", "Eriksson", "Bo Ek") == ("Bo", "Eriksson")  # mapped names win
    adapter = SQLAlchemyShopAdapter(None, product_model=Variant, customer_fields={"name": "username"})
    record = adapter.customer_record(SimpleNamespace(id=1, email="k@x.se", username="kalle_anka"))
    assert (record.first_name, record.last_name) == ("kalle_anka", "kalle_anka")


def test_init_app_warns_when_the_customer_map_reads_no_usable_name(shop_config, caplog):
    with caplog.at_level(logging.WARNING, logger="flask_specter.adapter"):
        app = shop.make_app(shop_config, shop.make_adapter(customer_fields={**shop.OPTIONS["customer_fields"], "name": None}))
    close_shop(app)
    warned = [r.getMessage() for r in caplog.records if r.name == "flask_specter.adapter"]
    assert len(warned) == 1, warned
    assert "customer_fields reads no first_name nor last_name from User" in warned[0]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flask_specter.adapter"):
        app = shop.make_app(shop_config)  # "name" mapped, on the users and on the guest orders
    close_shop(app)
    assert [r for r in caplog.records if r.name == "flask_specter.adapter"] == []


# -- 2.3 guest checkout -------------------------------------------------------------------------------------


def test_guest_orders_arrive_with_the_buyer_and_one_e_mail_is_one_customer(host_shop, sandbox):
    app = host_shop
    with app.app_context():
        shop.add_catalogue()
        db.session.add(Order(number="G-1", user_id=None, email="Greta.Gast@example.se", buyer_name="Greta Gast", buyer_phone="070-111",
                             street="Gästvägen 1", postcode="111 22", city="Gävle", lines=[line()]))
        db.session.commit()
    assert drain_outbox(app)["failed"] == 0
    [first] = sandbox_orders(sandbox, "G-1")
    buyer = _customer(sandbox, "greta.gast@example.se")
    assert first["customerId"] == buyer["customerId"]
    assert (buyer["firstName"], buyer["surName"], buyer["phoneNo"], buyer["address"], buyer["city"]) == ("Greta", "Gast", "070-111", "Gästvägen 1", "Gävle")

    with app.app_context():  # the same buyer again, the e-mail in other letters: the same customer
        db.session.add(Order(number="G-2", email="greta.gast@EXAMPLE.se", buyer_name="Greta Gast", lines=[line("TR-B", 2, "380.00")]))
        db.session.commit()
    assert drain_outbox(app)["failed"] == 0
    [second] = sandbox_orders(sandbox, "G-2")
    assert second["customerId"] == first["customerId"]
    assert len([c for c in sandbox_customers(sandbox) if c["emailAddress"].lower() == "greta.gast@example.se"]) == 1
    assert len(sandbox.hooks.calls("newCustomerSubmit")) == 1  # the kept number is reused, not the buyer sent again
    with app.app_context():
        links = db.session.execute(select(Link.kind, Link.local_id, Link.remote_id).where(Link.kind == "guest")).all()
    assert [tuple(link) for link in links] == [("guest", "greta.gast@example.se", str(buyer["customerId"]))]

    # A guest order without an e-mail: a permanent failure that says what to do, nothing sent.
    with app.app_context():
        db.session.add(Order(number="G-3", buyer_name="Utan Post", lines=[line()]))
        db.session.commit()
    drain_outbox(app)
    assert sandbox_orders(sandbox, "G-3") == []
    with app.app_context():
        row = db.session.execute(select(OutboxEntry).where(OutboxEntry.kind == "order", OutboxEntry.state == "failed")).scalar_one()
        assert (row.last_error, row.permanent) == (NO_GUEST_EMAIL, True)


def test_an_order_without_a_customer_and_no_guest_fields_names_the_remedy(shop_config, sandbox):
    app = shop.make_app(shop_config, shop.make_adapter(guest_customer_fields=None))
    try:
        with app.app_context():
            shop.add_catalogue()
            db.session.add(Order(number="G-9", email="x@example.se", lines=[line()]))
            db.session.commit()
        drain_outbox(app)
        assert sandbox_orders(sandbox, "G-9") == []
        with app.app_context():
            row = db.session.execute(select(OutboxEntry).where(OutboxEntry.kind == "order")).scalar_one()
            assert row.last_error == NO_CUSTOMER and "guest_customer_fields" in row.last_error
    finally:
        close_shop(app)


# -- 2.4, 2.6, 2.7: the registered user, its address rows, the variant's product by id ------------------------


def test_a_users_name_and_address_rows_reach_specter_and_each_change_updates_the_customer(host_shop, sandbox):
    app = host_shop
    with app.app_context():
        anna, cher = User(email="anna@example.se", full_name="Anna Maria Ek"), User(email="cher@example.se", full_name="Cher")
        db.session.add_all([anna, cher])
        db.session.commit()
        anna_ref = str(anna.id)
    assert drain_outbox(app)["sent"] == 2
    assert (_customer(sandbox, "anna@example.se")["firstName"], _customer(sandbox, "anna@example.se")["surName"]) == ("Anna", "Maria Ek")
    assert (_customer(sandbox, "cher@example.se")["firstName"], _customer(sandbox, "cher@example.se")["surName"]) == ("Cher", "Cher")
    assert "address" not in _customer(sandbox, "anna@example.se")

    # 2.7: the user's FIRST address, an insert of a row that points at the user by id only.
    with app.app_context():
        db.session.add(Address(user_id=int(anna_ref), street="Storgatan 1", postcode="722 10", city="Västerås"))
        db.session.commit()
    assert unsent_rows(app) == [("customer", "update", anna_ref)]
    assert drain_outbox(app)["sent"] == 1
    assert (_customer(sandbox, "anna@example.se")["address"], _customer(sandbox, "anna@example.se")["city"]) == ("Storgatan 1", "Västerås")

    # A later address is the one read (the latest by id) until one is flagged default.
    with app.app_context():
        db.session.add(Address(user_id=int(anna_ref), street="Sjövägen 2", postcode="113 50", city="Stockholm"))
        db.session.commit()
    assert drain_outbox(app)["sent"] == 1
    assert _customer(sandbox, "anna@example.se")["city"] == "Stockholm"
    with app.app_context():
        db.session.execute(select(Address).where(Address.city == "Västerås")).scalar_one().is_default = True
        db.session.commit()
    assert unsent_rows(app) == [("customer", "update", anna_ref)]
    assert drain_outbox(app)["sent"] == 1
    assert _customer(sandbox, "anna@example.se")["city"] == "Västerås"

    # The default address row edited: the customer follows; an edit of another user's row sends nothing of Anna's.
    with app.app_context():
        db.session.execute(select(Address).where(Address.city == "Västerås")).scalar_one().street = "Kungsgatan 5"
        db.session.commit()
    assert unsent_rows(app) == [("customer", "update", anna_ref)]
    assert drain_outbox(app)["sent"] == 1
    assert _customer(sandbox, "anna@example.se")["address"] == "Kungsgatan 5"

    # A registered user's order: the customer by user_id; order_fields read through the id ("user_id.full_name").
    with app.app_context():
        shop.add_catalogue()
        order = Order(number="R-1", user_id=int(anna_ref), lines=[line()])
        db.session.add(order)
        db.session.commit()
        assert app.extensions["specter"].adapter.order_record(order).delivery.name == "Anna Maria Ek"
    assert drain_outbox(app)["failed"] == 0
    [sent] = sandbox_orders(sandbox, "R-1")
    assert sent["customerId"] == _customer(sandbox, "anna@example.se")["customerId"]


def test_a_one_to_many_address_collection_reads_the_flagged_row_and_a_new_one_updates_the_customer(shop_config, sandbox):
    adapter = shop.make_adapter(
        customer_model=Member, order_model=None, guest_customer_fields=None, default_flag="main",
        customer_fields={"name": "username", "city": "addresses.city", "specter_customer_no": None},
    )
    app = shop.make_app(shop_config, adapter)
    try:
        with app.app_context():
            member = Member(email="kalle@example.se", username="kalle")
            db.session.add(member)
            db.session.commit()
            ref = str(member.id)
        drain_outbox(app)
        assert (_customer(sandbox, "kalle@example.se")["firstName"], _customer(sandbox, "kalle@example.se")["surName"]) == ("kalle", "kalle")
        with app.app_context():  # the first address, appended to the relationship
            member = db.session.get(Member, int(ref))
            member.addresses.append(MemberAddress(city="Luleå", main=True))
            db.session.commit()
        assert unsent_rows(app) == [("customer", "update", ref)]
        drain_outbox(app)
        assert _customer(sandbox, "kalle@example.se")["city"] == "Luleå"
        with app.app_context():  # a later, unflagged address: the flagged one stays the one read
            db.session.add(MemberAddress(member_id=int(ref), city="Kiruna"))
            db.session.commit()
            assert adapter.customer_record(db.session.get(Member, int(ref))).city == "Luleå"
        drain_outbox(app)
        assert _customer(sandbox, "kalle@example.se")["city"] == "Luleå"
    finally:
        close_shop(app)


def test_a_variant_tied_to_its_product_by_id_takes_its_name_and_price_and_follows_its_changes(host_shop, sandbox):
    app = host_shop
    with app.app_context():
        shop.add_catalogue()
    assert drain_outbox(app)["sent"] == 2
    articles = sandbox_articles(sandbox)
    assert {sku: (articles[sku]["name"], articles[sku]["priceExclVat"]) for sku in ("TR-R", "TR-B")} == {
        "TR-R": ("Tröja (Röd)", "400.00"), "TR-B": ("Tröja (Blå)", "380.00"),
    }
    with app.app_context():
        product = db.session.execute(select(Product)).scalar_one()
        product.title, product.price = "Ulltröja", Decimal("420.00")
        db.session.commit()
    assert sorted(unsent_rows(app)) == [("product", "update", "TR-B"), ("product", "update", "TR-R")]
    assert drain_outbox(app)["sent"] == 2
    articles = sandbox_articles(sandbox)
    assert {sku: (articles[sku]["name"], articles[sku]["priceExclVat"]) for sku in ("TR-R", "TR-B")} == {
        "TR-R": ("Ulltröja (Röd)", "420.00"), "TR-B": ("Ulltröja (Blå)", "380.00"),
    }
    # Another product chosen by id is a change of the variant too.
    with app.app_context():
        cap = Product(title="Mössa", price=Decimal("150.00"))
        db.session.add(cap)
        db.session.flush()
        db.session.execute(select(Variant).where(Variant.sku == "TR-B")).scalar_one().product_id = cap.id
        db.session.commit()
    assert unsent_rows(app) == [("product", "update", "TR-B")]
    drain_outbox(app)
    assert sandbox_articles(sandbox)["TR-B"]["name"] == "Mössa (Blå)"


# -- 2.6, 2.8: init_app -------------------------------------------------------------------------------------


def test_defaults_are_checked_only_when_used(shop_config):
    # The product class has no vat_percent and no active: the default parent fields it lacks read as empty.
    app = shop.make_app(shop_config, shop.make_adapter(parent_fields=None))
    try:
        with app.app_context():
            shop.add_catalogue()
            record = app.extensions["specter"].adapter.product_record(db.session.execute(select(Variant).where(Variant.sku == "TR-R")).scalar_one())
        assert (record.name, record.price_excl_vat, record.vat_percent) == ("Röd", Decimal("400.00"), Decimal("25"))  # Product has no "label"
    finally:
        close_shop(app)
    # Named by the host, the same field is checked.
    with pytest.raises(SpecterConfigError, match=r"parent_fields\['active'\] = 'active': Product has no attribute 'active'"):
        shop.make_adapter(parent_fields={"name": "title", "active": "active"}).validate()
    shop.make_adapter(parent_fields={"name": "title", "price_excl_vat": "price"}).validate()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"parent": "sku"}, "parent = 'sku': Variant has no relationship or foreign-key column 'sku'"),
        ({"customer_fields": {"city": "Adress[user_id].city"}}, "no mapped class 'Adress'"),
        ({"customer_fields": {"city": "Address[id].city"}}, "Address.id is no foreign key to User's table"),
        ({"customer_fields": {"city": "email.city"}}, "User.email is neither a relationship nor a foreign-key column"),
        ({"order_fields": {**shop.OPTIONS["order_fields"], "delivery_name": "user_id.name"}}, "User has no attribute 'name'"),
        ({"guest_customer_fields": {"email": "e_mail"}}, "guest_customer_fields['email'] = 'e_mail': Order has no attribute 'e_mail'"),
        ({"guest_customer_fields": {"mail": "email"}}, "guest_customer_fields: 'mail' is not a field"),
    ],
)
def test_init_app_names_a_wrong_path_through_ids_or_rows(changes, expected):
    with pytest.raises(SpecterConfigError) as caught:
        shop.make_adapter(**changes).validate()
    assert expected in str(caught.value)
