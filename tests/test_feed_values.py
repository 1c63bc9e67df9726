"""No value stalls a feed (issue 25 §1): a figure that cannot be read, or cannot even be written out as
text (Python refuses an integer of more than 4,300 digits), refuses its own row; the rest of the answer
is stored and the batch confirmed.

Real parts: the sandbox Specter over HTTP. Its ``hold`` fault is Specter holding a batch open: every fetch
of the open batch answers the same hostile rows, a new batch number gets error 99, until the batch is
confirmed. Before this fix such a batch was fetched again and again, never confirmed, and stock sync
stopped for good. Real RQ workers, PostgreSQL and Redis when configured.
"""

from __future__ import annotations

import pytest

from .conftest import wait_until
from .test_hostile_feeds import STOCK_FETCH, XML_HEAD, _feed_state, _pull, _refused, _status_page, _stock_body
from .test_stock_sync import callback, confirms_per_batch, seed, shop_stock, specter_available

pytestmark = pytest.mark.timeout(120)

FIVE_THOUSAND_DIGITS = "9" * 5000


@pytest.mark.parametrize(
    ("figure", "shown"),
    [(FIVE_THOUSAND_DIGITS, "'" + "9" * 40 + "…' (5000 tecken) är inget tal"), ("?", "'?' är inget tal")],
    ids=["5000-digits", "question-mark"],
)
def test_an_unreadable_figure_refuses_its_row_while_specter_holds_the_batch_open(make_shop, sandbox, live_worker, figure, shown):
    app = make_shop()
    seed(sandbox, app, 3, stock=10)
    sandbox.hooks.fault(STOCK_FETCH, "hold", body=_stock_body(("SKU-00000", "7"), ("SKU-00001", figure), ("SKU-00002", "9")))
    assert callback(app).data == b"1;Done"
    live_worker(app)
    wait_until(lambda: shop_stock(app)["SKU-00000"] == 7 and shop_stock(app)["SKU-00002"] == 9, message="the good rows of the held batch")
    wait_until(lambda: confirms_per_batch(sandbox), message="the held batch to be confirmed")
    assert set(confirms_per_batch(sandbox).values()) == {1}
    assert sandbox.hooks.state()["feeds"]["stock"]["openBatch"] in (None, "")
    assert not [f for f in sandbox.hooks.state().get("faults", []) if f["mode"] == "hold"]
    assert shop_stock(app)["SKU-00001"] == 0  # refused: not applied

    refused = _refused(app, "stock")
    assert [(r.ref, r.kind) for r in refused] == [("SKU-00001", "invalid")]
    assert shown in refused[0].reason and len(refused[0].reason) < 200
    assert _feed_state(app, "stock").failures == 0  # a refused row is not a failed pull
    page = _status_page(app)
    assert "Vägrade rader från Specter" in page and "SKU-00001" in page and "är inget tal som kan läsas" in page

    sandbox.hooks.goods_received("SKU-00001", 5)  # the feed runs on: a goods receipt arrives as usual
    callback(app)
    wait_until(lambda: shop_stock(app)["SKU-00001"] == specter_available(sandbox)["SKU-00001"] == 16, message="the goods receipt")


def test_hostile_values_in_the_xml_feeds_refuse_their_rows_not_the_answer(make_shop, sandbox, client):
    """Every number the XML feeds carry, hostile in every way the parser could choke on."""
    app = make_shop(SPECTER_STOCK_SITES="1,2")
    seed(sandbox, app, 6, stock=10)

    def article(sku, available, in_stock=None):
        return f"<article><articleNo>{sku}</articleNo><noItemsAv>{available}</noItemsAv><noItemsInStock>{in_stock or available}</noItemsInStock></article>"

    site_1 = "".join([
        article("SKU-00000", 7), article("SKU-00001", "1E+1000000"), article("SKU-00002", "NaN"),
        article("SKU-00003", 3, FIVE_THOUSAND_DIGITS), article("SKU-00004", "²"), article("SKU-00005", 2),
    ])
    site_2 = article("SKU-00005", "-Infinity") + article("SKU-00000", 1)  # one bad site spoils the article's sum
    stock = (
        f'<stockChanges><stock stockSiteId="1" name="Lager"><articles>{site_1}</articles></stock>'
        f'<stock stockSiteId="2" name="Butik"><articles>{site_2}</articles></stock></stockChanges>'
        f"<responseMaxLimit>{FIVE_THOUSAND_DIGITS}</responseMaxLimit>"
    )
    sandbox.hooks.fault(STOCK_FETCH, "replace", body=XML_HEAD + stock + "</SpecterAPI>")
    summary = _pull(app)
    assert "error" not in summary and summary["rows"] == 1 and summary["refused"] == 5
    reasons = {r.ref: r.reason for r in _refused(app, "stock")}
    assert sorted(reasons) == ["SKU-00001", "SKU-00002", "SKU-00003", "SKU-00004", "SKU-00005"]
    assert "'1E+1000000'" in reasons["SKU-00001"] and "'NaN'" in reasons["SKU-00002"] and "'²'" in reasons["SKU-00004"]
    assert reasons["SKU-00003"].startswith("Lagersaldo '999") and "(5000 tecken)" in reasons["SKU-00003"]
    assert "'-Infinity'" in reasons["SKU-00005"]
    assert not sandbox.hooks.state()["feeds"]["stock"]["openBatch"]

    with app.app_context():
        app.extensions["specter"].settings.update({"import_products": True})
    sandbox.hooks.create_articles([{"articleNo": "ART-1", "name": "Kaffe", "priceExclVat": "10.00", "vatPercent": 25}])
    articles = "".join(
        f'<article priceExclVat="{price}" vatPercent="{vat}"><articleNo>{no}</articleNo><name>{no}</name></article>'
        for no, price, vat in [("ART-1", "10.00", "25"), ("ART-2", FIVE_THOUSAND_DIGITS, "25"), ("ART-3", "10.00", "Infinity"), ("ART-4", "?", "25")]
    )
    sandbox.hooks.fault("getArticleInfoExternalNeedUpdate", "replace", body=XML_HEAD + f"<articles>{articles}</articles></SpecterAPI>")
    client.check_account_settings({})
    summary = _pull(app, "articles")
    assert "error" not in summary and summary["rows"] == 1 and summary["refused"] == 3
    reasons = {r.ref: r.reason for r in _refused(app, "articles")}
    assert "Priset '999" in reasons["ART-2"] and "Momssatsen 'Infinity'" in reasons["ART-3"] and "Priset '?'" in reasons["ART-4"]

    orders = "".join(
        f'<order orderNo="{no}" externalOrderNo="{no}"><orderstatus statusId="{status}" deliveryStatus=""/><deliveries updated="0"/></order>'
        for no, status in [("5001", "2"), ("5002", FIVE_THOUSAND_DIGITS), ("5003", "²")]
    )
    sandbox.hooks.fault("getOrdersExternalNeedUpdate", "replace", body=XML_HEAD + f"<orders>{orders}</orders></SpecterAPI>")
    summary = _pull(app, "orders")
    assert "error" not in summary and summary["rows"] == 1 and summary["refused"] == 2
    reasons = {r.ref: r.reason for r in _refused(app, "orders")}
    assert "Orderstatusen '999" in reasons["5002"] and "Orderstatusen '²'" in reasons["5003"]


def test_an_error_answer_with_a_huge_code_is_an_error_not_a_crash(make_shop, sandbox):
    app = make_shop()
    seed(sandbox, app, 1)
    sandbox.hooks.fault(STOCK_FETCH, "body", body=f"0;{FIVE_THOUSAND_DIGITS};Något gick fel")
    summary = _pull(app)  # a Specter error, recorded as one (it was a ValueError from int())
    assert "Något gick fel" in summary["error"] and "Något gick fel" in (_feed_state(app, "stock").last_error or "")
