"""SpecterClient against the sandbox over real HTTP on loopback: every action, both formats, the batch
state machine with 99 recovery, latin-1 round trips, every error code, and hostile or broken answers."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from flask_specter.remote import protocol
from flask_specter.remote.client import SpecterClient, encode_params
from flask_specter.remote.errors import (
    SpecterAuthError,
    SpecterDuplicateOrderError,
    SpecterEncodingError,
    SpecterOpenBatchError,
    SpecterProtocolError,
    SpecterTimeout,
    SpecterUnavailable,
    SpecterUnknownArticleError,
    SpecterUnknownCustomerError,
    SpecterUnknownOrderError,
    SpecterValidationError,
)

pytestmark = pytest.mark.timeout(60)

VECTORS = [
    ("1042", "094d0d941266394fe19eda552f85a0ad"),
    ("Åsa Öberg", "9b698edcc67ce258a5d3224abd1a202a"),
    ("0123456789abcdef0123456789abcdef", "4ffe6799c3f7175d4360b239b38abb93"),
]


@pytest.mark.parametrize("x,expected", VECTORS)
def test_signing_matches_the_contract_vectors(x, expected):
    assert protocol.sign("9f1c2a7e-0000-4000-8000-123456789abc", "k3y-for-tests", "4711", x) == expected


def test_values_travel_as_latin1_and_a_foreign_character_names_its_field():
    assert encode_params({"name": "Åsa Öberg"}, action="x") == "name=%C5sa+%D6berg"
    with pytest.raises(SpecterEncodingError) as err:
        encode_params({"firstName": "Åsa", "surName": "Zhang 张"}, action="newCustomerSubmit")
    assert err.value.field == "surName"
    assert "surName" in str(err.value)


@pytest.mark.parametrize("text,value", [("199,50", Decimal("199.50")), ("1 234,50", Decimal("1234.50")), ("-3", Decimal("-3")), ("0.250", Decimal("0.250"))])
def test_decimal_commas_are_read_as_decimals(text, value):
    assert protocol.parse_decimal(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1,2,3", "1e5"])
def test_unreadable_numbers_are_refused(text):
    with pytest.raises(ValueError):
        protocol.parse_decimal(text)


def test_stock_quantities_accept_the_no_items_word_and_half_units():
    assert protocol.parse_quantity("noItemsAvailable") == 0
    assert protocol.parse_quantity("0,5") == 0
    assert protocol.parse_quantity("12") == 12


def _articles(sandbox, n=3, stock=10):
    sandbox.hooks.create_articles(
        [{"articleNo": f"A-{i}", "name": f"Artikel {i}", "priceExclVat": "100.00", "vatPercent": 25, "inStock": stock + i} for i in range(n)]
    )


def test_stock_feed_text_batch_state_machine_with_99_recovery(client, sandbox):
    _articles(sandbox)
    first = protocol.new_batch_no()
    batch = client.fetch_stock(first)
    assert {r.article_no: r.available for r in batch.items} == {"A-0": 10, "A-1": 11, "A-2": 12}
    # Refetching the open batch is idempotent.
    assert client.fetch_stock(first).items == batch.items
    # A new batch while one is open: 99 quoting the open one.
    with pytest.raises(SpecterOpenBatchError) as err:
        client.fetch_stock(protocol.new_batch_no())
    assert err.value.batch_no == first
    # Changes made now wait for the next batch.
    sandbox.hooks.pos_sale("A-0", 2)
    assert client.confirm("stock", first).id == first
    assert client.confirm("stock", first).id == first  # confirming twice is a success
    nxt = client.fetch_stock(protocol.new_batch_no())
    assert [(r.article_no, r.available) for r in nxt.items] == [("A-0", 8)]


def test_stock_feed_xml_sums_the_chosen_stock_sites(client, sandbox):
    _articles(sandbox, n=1, stock=5)
    batch = client.fetch_stock(protocol.new_batch_no(), use_xml=True)
    assert [(r.article_no, r.available) for r in batch.items] == [("A-0", 5)]


def test_clear_article_batch_queues_every_article(client, sandbox):
    _articles(sandbox)
    b = client.fetch_stock(protocol.new_batch_no())
    client.confirm("stock", b.batch_no)
    assert client.fetch_stock(protocol.new_batch_no()).items == []
    client.clear_article_batch()
    assert len(client.fetch_stock(protocol.new_batch_no()).items) == 3


def test_article_feed_pages_and_decimal_commas(client, sandbox):
    sandbox.hooks.configure(responseMaxLimit=2)
    _articles(sandbox, n=3)
    sandbox.hooks.change_price("A-1", "199.50")
    client.check_account_settings({})
    page = client.fetch_articles(protocol.new_batch_no())
    assert len(page.items) == 2 and page.more
    client.confirm("articles", page.batch_no)
    rest = client.fetch_articles(protocol.new_batch_no())
    prices = {a.article_no: a.price_excl_vat for a in page.items + rest.items}
    assert prices["A-1"] == Decimal("199.50")


def test_customer_and_order_round_trip_in_latin1(client, sandbox):
    _articles(sandbox, n=1)
    person = client.submit_customer({"customerOrganizationalForm": "P", "firstName": "Åsa", "surName": "Öberg", "emailAddress": "asa@example.se", "city": "Växjö"})
    company = client.submit_customer({"customerOrganizationalForm": "C", "name": "Ärlig Handel AB", "emailAddress": "info@arlig.se", "orgNo": "556677-8899"})
    state = sandbox.hooks.state()
    names = {c.get("name") or f"{c.get('firstName')} {c.get('surName')}" for c in state["customers"]}
    assert {"Åsa Öberg", "Ärlig Handel AB"} <= names
    order = client.submit_order(
        {"customerId": person.id, "externalOrderNo": "WEB-1", "currency": "SEK"},
        [{"articleNo": "A-0", "articleName": "Kaffekopp Åsa", "priceExclVAT": "100.000", "noOfItems": 2, "vatPercent": 25}],
    )
    assert order.id
    with pytest.raises(SpecterDuplicateOrderError) as dup:
        client.submit_order({"customerId": person.id, "externalOrderNo": "WEB-1"}, [{"articleNo": "A-0", "noOfItems": 1, "priceExclVAT": "1", "vatPercent": 25}])
    assert dup.value.order_no == order.id
    # A reservation lowers available, not in stock.
    art = sandbox.hooks.article("A-0")
    assert (art["inStock"], art["available"]) == (10, 8)
    assert client.delete_order(order.id).id is not None
    assert company.id != person.id


def test_each_error_code_is_a_typed_error(client, sandbox):
    _articles(sandbox, n=1)
    with pytest.raises(SpecterUnknownArticleError) as e21:
        client.submit_order({"customerId": client.submit_customer({"firstName": "A", "surName": "B", "emailAddress": "a@b.se"}).id, "externalOrderNo": "X"},
                            [{"articleNo": "NOPE", "noOfItems": 1, "priceExclVAT": "1", "vatPercent": 25}])
    assert e21.value.article_no == "NOPE"
    with pytest.raises(SpecterUnknownCustomerError):
        client.submit_order({"customerId": "999999", "externalOrderNo": "Y"}, [{"articleNo": "A-0", "noOfItems": 1, "priceExclVAT": "1", "vatPercent": 25}])
    with pytest.raises(SpecterUnknownOrderError):
        client.delete_order("999999")
    with pytest.raises(SpecterValidationError):
        client.submit_customer({"customerOrganizationalForm": "P", "firstName": "Ann", "surName": "Berg"})
    bad_key = SpecterClient(sandbox.url, sandbox.credentials["SPECTER_SBM_ID"], sandbox.credentials["SPECTER_API_USER_ID"], "wrong", "wrong", timeout=5)
    with pytest.raises(SpecterAuthError) as e10:
        bad_key.fetch_stock(protocol.new_batch_no())
    assert e10.value.code == 10
    bad_account = SpecterClient(sandbox.url, "1", "1", "x", "y", timeout=5)
    with pytest.raises(SpecterAuthError) as e11:
        bad_account.fetch_stock(protocol.new_batch_no())
    assert e11.value.code == 11


def test_callback_registration_and_deletes(client, sandbox):
    _articles(sandbox, n=1)
    reply = client.check_account_settings({"actionStockChange": "http://127.0.0.1:9/cb?token=x"})
    assert reply.message
    assert sandbox.hooks.state()["callbacks"]["actionStockChange"].startswith("http://127.0.0.1:9/cb")
    client.submit_articles([{"articleNo": "NEW-1", "name": "Ny", "priceExclVAT": "10.00", "vatPercent": "25", "createArticleStock": 1, "noItemsInStock": 7}])
    assert sandbox.hooks.article("NEW-1")["inStock"] == 7
    client.delete_article("NEW-1")
    with pytest.raises(SpecterUnknownArticleError):  # gone: a retrying connector treats this as done
        client.delete_article("NEW-1")


HOSTILE = {
    "malformed": '<?xml version="1.0" encoding="ISO-8859-1"?><SpecterAPI><articles><article>',
    "entity bomb": '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><SpecterAPI>&lol2;</SpecterAPI>',
    "doctype": '<?xml version="1.0"?><!DOCTYPE SpecterAPI SYSTEM "http://127.0.0.1:9/x.dtd"><SpecterAPI/>',
    "external entity": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/hostname">]><SpecterAPI>&xxe;</SpecterAPI>',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_malformed_and_hostile_xml_is_refused(client, sandbox, name):
    sandbox.hooks.fault("getArticleInfoExternalNeedUpdate", "body", body=HOSTILE[name])
    with pytest.raises(SpecterProtocolError):
        client.fetch_articles(protocol.new_batch_no())


def test_a_utf8_body_is_refused_not_garbled(client, sandbox):
    sandbox.hooks.fault("newCustomerSubmit", "body", body="1;17;Kund skapad för Åsa", body_encoding="utf-8")
    with pytest.raises(SpecterEncodingError):
        client.submit_customer({"firstName": "Åsa", "surName": "Öberg", "emailAddress": "a@b.se"})


def test_an_html_error_page_is_a_transient_error(client, sandbox):
    sandbox.hooks.fault("getArticleExternalNeedUpdate", "fail", status=500)
    with pytest.raises(SpecterUnavailable) as err:
        client.fetch_stock(protocol.new_batch_no())
    assert err.value.transient


def test_a_slow_specter_times_out_and_never_hangs(sandbox):
    slow = SpecterClient.from_config({**sandbox.credentials, "SPECTER_TIMEOUT": 0.5})
    sandbox.hooks.fault("getArticleExternalNeedUpdate", "slow", seconds=3)
    started = time.monotonic()
    with pytest.raises(SpecterTimeout):
        slow.fetch_stock(protocol.new_batch_no())
    assert time.monotonic() - started < 2.5


def test_a_dropped_connection_is_a_transient_error(client, sandbox):
    sandbox.hooks.fault("getArticleExternalNeedUpdate", "drop")
    with pytest.raises(SpecterUnavailable):
        client.fetch_stock(protocol.new_batch_no())


def test_nothing_listening_is_a_transient_error():
    c = SpecterClient("http://127.0.0.1:9/", "1", "1", "k", "i", timeout=2)
    with pytest.raises(SpecterUnavailable):
        c.fetch_stock(protocol.new_batch_no())


def test_oversized_answers_are_refused_unread(sandbox):
    small = SpecterClient.from_config({**sandbox.credentials, "SPECTER_MAX_RESPONSE_BYTES": 1000})
    sandbox.hooks.fault("getArticleExternalNeedUpdate", "body", body="1;A;5;x\r" * 500)
    with pytest.raises(SpecterProtocolError):
        small.fetch_stock(protocol.new_batch_no())


def test_secrets_never_show_in_repr(client):
    assert "key" not in repr(client).lower() or "demo" not in repr(client)
    assert client._user_key not in repr(client)
