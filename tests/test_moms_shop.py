"""The third example shop (``examples/moms_shop``), a small Swedish web shop, joined to the sandbox Specter.

Its shapes are the ones real shops have and the first two examples lack: prices including moms, guest
checkout with the buyer on the order (no customer row), kits whose lines ship other articles (lowered in
a flush after the order's own), one ``name`` field, variants tied to products by ``product_id`` only,
``updated_at`` with ``onupdate=`` and a ``version_id_col`` on the stocked model, a cart row written by a
context processor on every first GET, a payment return that is a GET, ``CSRFProtect(app)`` and the shop's
own Flask-Admin in English. Its checkout and payment know nothing of Specter: ``specter.py`` is the
whole joining, held to configuration only and 30 lines by tests/test_examples_wiring.py.

Customers drive the shop over HTTP (``Customer``: forms with their CSRF tokens); Specter is the sandbox
over HTTP; the end-to-end test runs the embedded worker and a ``flask specter worker`` process while
the sandbox's till sells the same articles. The worker process shares the queue through Redis: run the
file with ``TEST_REDIS_URL`` (on SQLite, without ``TEST_DATABASE_URL``; and on PostgreSQL with both).
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from ._moms_shop import (
    ADMIN_PASSWORD,
    CATALOGUE,
    STOCKED,
    Customer,
    buyer,
    close,
    excl,
    expected_rows,
    make_app,
    seed,
    shipped,
    shop_orders,
    start_worker,
    stock,
)
from ._push_fixtures import sandbox_articles, sandbox_customers, sandbox_orders
from .conftest import drain_outbox, unsent_rows, wait_until
from .test_stock_faults import _kill
from .test_stock_sync import activate_served, pull_and_apply

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def mshop(shop_config, sandbox):
    app = make_app(shop_config)
    seed(app, sandbox)
    yield app
    close(app)


def rows_of(order: dict) -> list[tuple[str, int, Decimal, int]]:
    return [(r["articleNo"], int(r["noOfItems"]), Decimal(r["priceExclVAT"]), int(r["vatPercent"])) for r in order["rows"]]


def sent_once(sandbox, number: str) -> dict:
    """The one Specter order of the shop's order ``number`` (fails if there are none or several)."""
    found = sandbox_orders(sandbox, number)
    assert len(found) == 1, f"order {number}: {len(found)} orders in Specter"
    return found[0]


def customer_by_email(sandbox, email: str) -> dict:
    [found] = [c for c in sandbox_customers(sandbox) if c.get("emailAddress") == email]
    return found


def specter_available(sandbox, sku: str) -> int:
    return int(sandbox.hooks.article(sku)["available"])


# -- the catalogue -----------------------------------------------------------------------------------------


def test_articles_reach_specter_without_moms_named_from_their_products(mshop, sandbox):
    drain_outbox(mshop)
    assert unsent_rows(mshop) == []
    articles = sandbox_articles(sandbox)
    got = {sku: (articles[sku]["name"], Decimal(articles[sku]["priceExclVat"]), Decimal(str(articles[sku]["vatPercent"])), articles[sku]["inStock"])
           for sku in CATALOGUE}
    assert got == {
        "KAFFE-MORK": ("Kaffe Mörkrost 500 g", Decimal("79.46"), Decimal("12"), 40),  # 89.00 kr with 12 % moms
        "TE-EARL": ("Te Earl Grey 100 g", Decimal("58.04"), Decimal("12"), 30),
        "MUGG-ROD": ("Mugg Åsa (Röd)", Decimal("119.20"), Decimal("25"), 25),  # price 0: the product's 149.00
        "MUGG-BLA": ("Mugg Åsa (Blå)", Decimal("135.20"), Decimal("25"), 20),  # its own 169.00
        "FIKAPAKET": ("Fikapaket", Decimal("279.20"), Decimal("25"), 0),
    }


def test_the_shops_own_admin_stays_english_and_its_edits_reach_specter(mshop, sandbox, serve):
    """Flask-Admin of the shop's own, under CSRFProtect: a product's price edited in its form (the variants
    with price 0 follow in Specter, without moms), a customer added (one name, split); the Specter pages
    answer too."""
    from examples.moms_shop.models import Product, db

    drain_outbox(mshop)
    served = serve(mshop)
    owner = Customer(served.url)
    login = owner.get("/login?next=/admin/product/").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    listing = owner.post("/login?next=/admin/product/", {"csrf_token": token, "password": ADMIN_PASSWORD})
    assert listing.status_code == 200 and "Mugg Åsa" in listing.text
    assert re.search(r">\s*List\b", listing.text) and re.search(r">\s*Create\b", listing.text), "the shop's admin is in English"
    assert "Skapa" not in listing.text and "Lista" not in listing.text

    with mshop.app_context():
        mug_id = db.session.execute(db.select(Product.id).where(Product.name == "Mugg Åsa")).scalar_one()
    form_page = owner.get(f"/admin/product/edit/?id={mug_id}").text
    fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', form_page))
    form = {k: fields.get(k, "") for k in ("csrf_token", "name", "vat_rate")}
    form.update(price="159.00", description="", published="y")
    saved = owner.post(f"/admin/product/edit/?id={mug_id}", form)
    with mshop.app_context():
        db.session.remove()
        assert db.session.get(Product, mug_id).price == Decimal("159.00")  # saved, whatever the language
    assert saved.status_code == 200 and "Record was successfully saved" in saved.text, saved.text[-2000:]

    new_user = owner.get("/admin/user/new/").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', new_user).group(1)
    created = owner.post("/admin/user/new/", {"csrf_token": token, "email": "eva@example.se", "name": "Eva Ek Berg", "phone": "",
                                              "street": "Storgatan 1", "postcode": "903 26", "city": "Umeå"})
    assert created.status_code == 200 and "Record was successfully created" in created.text, created.text[-2000:]
    for page in ("/admin/specter/status/", "/admin/specter/exports/", "/admin/specter/outbox/", "/admin/specter/transfer/"):
        assert owner.get(page).status_code == 200, page
    assert owner.errors() == []

    drain_outbox(mshop)
    articles = sandbox_articles(sandbox)
    assert Decimal(articles["MUGG-ROD"]["priceExclVat"]) == Decimal("127.20")  # 159.00 / 1.25
    assert Decimal(articles["MUGG-BLA"]["priceExclVat"]) == Decimal("135.20")  # its own price: unchanged
    eva = customer_by_email(sandbox, "eva@example.se")
    assert (eva["firstName"], eva["surName"], eva["address"], eva["zipCodeEng"]) == ("Eva", "Ek Berg", "Storgatan 1", "903 26")


# -- guest checkout --------------------------------------------------------------------------------------


def test_a_guest_order_over_http_reaches_specter_once_with_its_kit_shipped_as_components(mshop, sandbox, serve):
    drain_outbox(mshop)
    served = serve(mshop)
    karin = Customer(served.url)
    cart = [("FIKAPAKET", 1), ("TE-EARL", 2)]
    number = karin.buy(cart, buyer("Karin Åkesson"))
    assert number, (karin.statuses, karin.last)
    # The checkout lowered what ships: the kit's components, not the kit.
    before = {sku: CATALOGUE[sku][2] for sku in CATALOGUE}
    assert stock(mshop) == {**before, "KAFFE-MORK": 39, "MUGG-ROD": 23, "TE-EARL": 28}
    drain_outbox(mshop)
    assert sandbox_orders(sandbox, number) == []  # not paid yet: it waits

    assert karin.pay(number) == "betald"
    assert karin.pay(number) == "betald"  # the buyer reloads the page: nothing changes
    drain_outbox(mshop)
    drain_outbox(mshop)
    order = sent_once(sandbox, number)
    assert len([c for c in sandbox.hooks.calls("newOrderSubmit") if c.get("ok")]) == 1
    assert sorted(rows_of(order)) == sorted(expected_rows(cart))
    assert "FIKAPAKET" not in {r["articleNo"] for r in order["rows"]}
    # The buyer is the customer: matched by e-mail, one name split at the first space.
    customer = customer_by_email(sandbox, "karinakesson@example.se")
    assert (customer["firstName"], customer["surName"], customer["address"], customer["city"]) == ("Karin", "Åkesson", "Byvägen 1", "Västerås")
    assert str(order["customerId"]) == str(customer["customerId"])
    assert order["fields"].get("payTypeReference") == f"demo-{number}"
    assert unsent_rows(mshop) == [] and karin.errors() == []
    assert shop_orders(mshop)[number] == {"status": "betald", "email": "karinakesson@example.se", "user_id": None}


@pytest.mark.parametrize(("name", "first", "last"), [
    ("Anna Maria Lind", "Anna", "Maria Lind"),  # the first space splits
    ("Cher", "Cher", "Cher"),  # one word fills both
])
def test_one_name_field_becomes_specters_first_and_surname(mshop, sandbox, serve, name, first, last):
    drain_outbox(mshop)
    visitor = Customer(serve(mshop).url)
    number = visitor.buy([("KAFFE-MORK", 1)], buyer(name))
    visitor.pay(number)
    drain_outbox(mshop)
    sent_once(sandbox, number)
    customer = customer_by_email(sandbox, buyer(name)["email"])
    assert (customer["firstName"], customer["surName"]) == (first, last)


def test_an_empty_cart_or_a_short_article_is_refused_by_the_shop_and_nothing_reaches_specter(mshop, sandbox, serve):
    drain_outbox(mshop)
    visitor = Customer(serve(mshop).url)
    assert visitor.buy([], buyer("Tom Tomsson")) == ""  # the shop's own refusal: back to the cart
    assert visitor.buy([("MUGG-BLA", 21)], buyer("Tom Tomsson")) == ""  # 20 in stock
    assert stock(mshop)["MUGG-BLA"] == 20 and shop_orders(mshop) == {}
    drain_outbox(mshop)
    assert sandbox_orders(sandbox) == [] and visitor.errors() == []


# -- stock -------------------------------------------------------------------------------------------------


def test_specters_stock_comes_back_with_the_order_counted_once(mshop, sandbox, serve):
    drain_outbox(mshop)
    visitor = Customer(serve(mshop).url)
    cart = [("FIKAPAKET", 2), ("KAFFE-MORK", 1)]
    number = visitor.buy(cart, buyer("Nils Ödmark"))
    pull_and_apply(mshop)  # Specter's figures come back before the order is there: the shop keeps its decrement
    assert stock(mshop)["KAFFE-MORK"] == 37 and stock(mshop)["MUGG-ROD"] == 21
    visitor.pay(number)
    drain_outbox(mshop)
    sent_once(sandbox, number)
    assert (specter_available(sandbox, "KAFFE-MORK"), specter_available(sandbox, "MUGG-ROD")) == (37, 21)  # reserved in Specter
    sandbox.hooks.pos_sale("MUGG-ROD", 3)  # the till
    pull_and_apply(mshop)
    assert {sku: stock(mshop)[sku] for sku in STOCKED} == {sku: specter_available(sandbox, sku) for sku in STOCKED}
    assert stock(mshop)["MUGG-ROD"] == 18 and stock(mshop)["FIKAPAKET"] == 0

    sandbox.hooks.deliver_order(sent_once(sandbox, number)["orderNo"], tracking_no="PN1SE")
    pull_and_apply(mshop)
    assert stock(mshop)["KAFFE-MORK"] == 37 == specter_available(sandbox, "KAFFE-MORK")
    assert stock(mshop)["MUGG-ROD"] == 18 == specter_available(sandbox, "MUGG-ROD")


def test_the_callbacks_answer_under_the_shops_csrf_protect(mshop):
    token = mshop.config["SPECTER_CALLBACK_TOKEN"]
    client = mshop.test_client()
    for path in ("/specter/callback/stock", "/specter/callback/orders"):
        resp = client.post(f"{path}?token={token}", data={"articleNo": "KAFFE-MORK"})
        assert (resp.status_code, resp.get_data(as_text=True)) == (200, "1;Done"), path


# -- end to end --------------------------------------------------------------------------------------------

CARTS = [
    [("FIKAPAKET", 1)],
    [("KAFFE-MORK", 2), ("MUGG-ROD", 1)],
    [("TE-EARL", 3)],
    [("MUGG-BLA", 1), ("FIKAPAKET", 1)],
    [("KAFFE-MORK", 1)],
    [("MUGG-ROD", 2), ("TE-EARL", 1)],
    [("FIKAPAKET", 2)],  # 698 kr
    [("MUGG-BLA", 2), ("FIKAPAKET", 2)],  # free shipping
]
NAMES = ["Karin Åkesson", "Nils Ödmark", "Anna Maria Lind", "Cher", "Åsa Öberg", "Per-Olof Ek", "Lisa Nord", "Johan Björk"]
TILL = [("KAFFE-MORK", 1), ("MUGG-ROD", 2), ("TE-EARL", 1), ("MUGG-BLA", 1)] * 3


@pytest.mark.parametrize("worker", ["embedded", "worker-process"])
def test_customers_browse_and_pay_while_the_till_sells(shop_config, sandbox, serve, worker):
    """Guests browse (each first GET writes a cart), check out and pay over HTTP while the sandbox's till
    sells the same articles and Specter's stock feed flows back through the callbacks. No answer is a 500,
    every order is in Specter once with its kits as components and its prices without moms, each buyer is
    the order's customer, and the stock is counted once: the shop's figure is Specter's available figure,
    the first count less what both sold."""
    if worker == "worker-process" and not shop_config.get("REDIS_URL"):
        pytest.skip("a worker process shares the queue through Redis: set TEST_REDIS_URL")
    embedded = {"SPECTER_EMBEDDED_WORKER": True, "SPECTER_REDIS_URL": "embedded"} if worker == "embedded" else {}
    app = make_app(shop_config, **embedded)
    process = None
    try:
        seed(app, sandbox)
        served = activate_served(app, serve)
        if worker == "worker-process":
            process = start_worker(app)
        wait_until(lambda: unsent_rows(app) == [] and set(sandbox_articles(sandbox)) >= set(CATALOGUE), timeout=60,
                   message="the catalogue in Specter")

        visitors: list[Customer] = []
        numbers: dict[int, str] = {}
        paid: dict[str, str] = {}
        refused: dict[int, str] = {}
        stop = threading.Event()

        def shopper(i: int) -> None:
            customer = Customer(served.url)
            visitors.append(customer)
            customer.get(f"/produkt/{1 + i % 4}")
            number = customer.buy(CARTS[i], buyer(NAMES[i], i))
            if number:
                paid[number] = customer.pay(number, f"tx-{i}")
                customer.get(f"/betalning/klar?order={number}&transaction_id=tx-{i}")  # a reload
                numbers[i] = number
            else:
                refused[i] = customer.last

        def browser() -> None:
            while not stop.is_set():
                visitor = Customer(served.url)  # a new visitor: its first GET makes a cart
                visitors.append(visitor)
                visitor.get("/")
                time.sleep(0.2)

        def till() -> None:
            for sku, qty in TILL:
                sandbox.hooks.pos_sale(sku, qty)
                time.sleep(0.15)

        with ThreadPoolExecutor(max_workers=len(CARTS) + 3) as pool:
            browsing = [pool.submit(browser) for _ in range(2)]
            try:
                selling = pool.submit(till)
                shopping = [pool.submit(shopper, i) for i in range(len(CARTS))]
                for future in [*shopping, selling]:
                    future.result(timeout=120)
            finally:
                stop.set()
            for future in browsing:
                future.result(timeout=30)

        errors = [e for v in visitors for e in v.errors()]
        assert errors == [], f"the shop answered 500: {errors[:10]}"
        assert refused == {} and sorted(numbers) == list(range(len(CARTS)))
        assert set(paid.values()) == {"betald"}

        sold_by_till: dict[str, int] = {}
        for sku, qty in TILL:
            sold_by_till[sku] = sold_by_till.get(sku, 0) + qty
        sold_by_shop: dict[str, int] = {}
        for cart in CARTS:
            for sku, qty in shipped(cart).items():
                sold_by_shop[sku] = sold_by_shop.get(sku, 0) + qty
        expected = {sku: CATALOGUE[sku][2] - sold_by_shop.get(sku, 0) - sold_by_till.get(sku, 0) for sku in STOCKED}

        def settled() -> bool:
            if unsent_rows(app) or len(sandbox_orders(sandbox)) < len(CARTS):
                return False
            return {sku: stock(app)[sku] for sku in STOCKED} == expected == {sku: specter_available(sandbox, sku) for sku in STOCKED}

        try:
            wait_until(settled, timeout=90, interval=0.5, message="every order in Specter and the stock settled")
        finally:
            print("shop stock", stock(app), "expected", expected, "unsent", unsent_rows(app))
        time.sleep(2)  # a late duplicate would show now
        assert {sku: stock(app)[sku] for sku in STOCKED} == expected

        assert len(sandbox_orders(sandbox)) == len(CARTS)
        assert len([c for c in sandbox.hooks.calls("newOrderSubmit") if c.get("ok")]) == len(CARTS)
        for i, number in numbers.items():
            order = sent_once(sandbox, number)
            assert sorted(rows_of(order)) == sorted(expected_rows(CARTS[i])), number
            customer = customer_by_email(sandbox, buyer(NAMES[i], i)["email"])
            assert str(order["customerId"]) == str(customer["customerId"])
            assert customer["firstName"] and customer["surName"]
        assert all(o["status"] == "betald" for o in shop_orders(app).values())
        assert stock(app)["FIKAPAKET"] == 0
        assert excl(Decimal("349.00"), Decimal("25")) == Decimal(sandbox_articles(sandbox)["FIKAPAKET"]["priceExclVat"])
    finally:
        if process is not None:
            _kill(process, 15)
        close(app)
