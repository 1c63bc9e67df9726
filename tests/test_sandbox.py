"""The sandbox Specter over real HTTP, spoken to by hand (no SpecterClient): the contract's wire format,
the batch state machine, stock reservations, customer matching, callbacks, persistence and faults."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
import xml.etree.ElementTree as ET
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from flask_specter.remote import protocol
from flask_specter.sandbox.testing import SandboxServer

pytestmark = pytest.mark.timeout(60)

LATIN1 = "iso-8859-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("sandbox") / "sandbox.sqlite3"
    with SandboxServer(db_path=db, user_key="k3y-for-tests", integration_key="9f1c2a7e-0000-4000-8000-123456789abc") as srv:
        yield srv


@pytest.fixture
def sb(server):
    server.hooks.reset()
    server.hooks.configure(responseMaxLimit=1000, callbackRetries=3, callbackBackoff=0.05, callbackTimeout=2,
                           callbacksEnabled=True, callbackCoalesce=0.05)
    yield server
    server.hooks.clear_faults()


class Api:
    """Signed raw calls, built the way the contract says a client builds them."""

    def __init__(self, server: SandboxServer, **override: str):
        self.base = server.url
        self.cred = {**server.credentials, **override}

    def key(self, action: str, params: dict) -> str:
        c = self.cred
        return protocol.sign(c["SPECTER_INTEGRATION_KEY"], c["SPECTER_USER_KEY"], c["SPECTER_SBM_ID"],
                             protocol.key_input(action, params))

    def _head(self, action: str, extra: dict) -> dict:
        return {"action": action, "sbmId": self.cred["SPECTER_SBM_ID"], "apiUserId": self.cred["SPECTER_API_USER_ID"], **extra}

    def get(self, action: str, *, script: str = "getInfo.asp", key: str | None = None, **params) -> requests.Response:
        q = self._head(action, params)
        q["key"] = key or self.key(action, q)
        return requests.get(f"{self.base}{script}?{urlencode(q, encoding=LATIN1)}", timeout=10)

    def put(self, action: str, body: dict, *, use_xml: str = "1", script: str = "putInfo.asp", **query) -> requests.Response:
        q = self._head(action, {"useXML": use_xml, **query})
        data = {**body, "key": self.key(action, {**q, **body})}
        return requests.post(
            f"{self.base}{script}?{urlencode(q, encoding=LATIN1)}", data=urlencode(data, encoding=LATIN1),
            headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10,
        )

    def activate(self, **urls: str) -> str:
        return text(self.get(protocol.CHECK_ACCOUNT_SETTINGS, date=dt.date.today().isoformat(), **urls))

    def customer(self, **fields: str) -> str:
        body = {"customerOrganizationalForm": "P", "firstName": "Ann", "surName": "Berg", "emailAddress": "ann@example.se", **fields}
        return text(self.put(protocol.NEW_CUSTOMER, body))

    def order(self, customer_id: str, rows: list[tuple[str, int]], **head: str) -> str:
        body = {"customerId": customer_id, **head}
        for n, (no, qty) in enumerate(rows, start=1):
            body.update({f"articleNo_{n}": no, f"noOfItems_{n}": str(qty), f"priceExclVAT_{n}": "10,00", f"vatPercent_{n}": "25"})
        return text(self.put(protocol.NEW_ORDER, body))


def text(resp: requests.Response) -> str:
    assert resp.status_code == 200, resp.text
    return resp.content.decode(LATIN1)


def xml(resp: requests.Response) -> ET.Element:
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/xml; charset=iso-8859-1"
    assert resp.content.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    return ET.fromstring(resp.content)


def fetch(api: Api, feed: str, batch_no: str, **params) -> requests.Response:
    return api.get(protocol.FEEDS[feed].fetch_action, batchNo=batch_no, **params)


def confirm(api: Api, feed: str, batch_no: str) -> str:
    return text(api.get(protocol.FEEDS[feed].confirm_action, batchNo=batch_no))


def stock_rows(body: str) -> dict[str, str]:
    return {row.split(";")[1]: row.split(";")[2] for row in body.split("\r") if row}


def seed(server: SandboxServer, n: int = 3, stock: int = 10, prefix: str = "A-") -> list[str]:
    nos = [f"{prefix}{i}" for i in range(n)]
    server.hooks.create_articles([
        {"articleNo": no, "name": f"Artikel {i}", "priceExclVat": "199.5", "vatPercent": 25, "buyPrice": "80,5",
         "barCode": f"735000{i}", "productWeight": "0.25", "inStock": stock + i, "articleGroupNo": "G1",
         "articleGroupName": "Kaffe"}
        for i, no in enumerate(nos)
    ])
    return nos


# -- authentication and transport -----------------------------------------------------------------


def test_checks_run_in_the_contract_order(sb):
    api = Api(sb)
    b = protocol.new_batch_no()
    assert text(api.get("noSuchAction", batchNo=b, key="0" * 32)).startswith("0;20;")
    assert text(Api(sb, SPECTER_SBM_ID="999").get("getArticleExternalNeedUpdate", batchNo=b)).startswith("0;11;")
    assert text(Api(sb, SPECTER_API_USER_ID="7").get("getArticleExternalNeedUpdate", batchNo=b)).startswith("0;11;")
    assert text(Api(sb, SPECTER_USER_KEY="wrong").get("getArticleExternalNeedUpdate", batchNo=b)).startswith("0;10;")
    # The key is compared case-insensitively; an invalid batchNo is only a field error once signed.
    assert text(api.get("getArticleExternalNeedUpdate", batchNo=b, key=api.key("getArticleExternalNeedUpdate", {"batchNo": b}).upper())) == ""
    assert text(api.get("getArticleExternalNeedUpdate", batchNo="ABC")).startswith("0;20;batchNo")
    # checkAccountSettings signs a date: yesterday and tomorrow pass, older dates do not.
    for days, ok in ((-1, True), (1, True), (-3, False)):
        day = (dt.date.today() + dt.timedelta(days=days)).isoformat()
        assert text(api.get("checkAccountSettings", date=day)).startswith("1;" if ok else "0;10;")
    # Field errors name the field, after the key check.
    assert text(api.put(protocol.NEW_CUSTOMER, {"firstName": "Ann", "surName": "Berg"})) == "0;20;emailAddress is required"


def test_param_names_are_case_insensitive_and_paths_tolerant(sb):
    api = Api(sb)
    seed(sb, 1)
    b = protocol.new_batch_no()
    key = api.key("getArticleExternalNeedUpdate", {"batchNo": b})
    q = f"Action=getArticleExternalNeedUpdate&SBMID=4711&apiuserid=1&BatchNo={b}&KEY={key}&usexml=2"
    root = xml(requests.get(f"{sb.url}GETINFO.ASP?{q}", timeout=5))
    assert root.tag == "SpecterAPI" and root.findtext("APIresponse/result") == "1"
    # POST with everything in a body that starts with a stray '&', to a doubled slash.
    resp = requests.post(sb.url + "/getInfo.asp", data="&" + q.replace("usexml=2", "useXml=1"),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5)
    assert text(resp).startswith("1;A-0;10;")
    assert resp.headers["Content-Type"] == "text/plain; charset=iso-8859-1"


def test_latin1_customer_name_signs_and_round_trips(sb):
    api = Api(sb)
    body = {"customerOrganizationalForm": "P", "firstName": "Åsa", "surName": "  Öberg", "emailAddress": "asa@example.se", "city": "Växjö"}
    raw = urlencode(body, encoding=LATIN1)
    assert "%C5sa" in raw and "V%E4xj%F6" in raw
    reply = text(api.put(protocol.NEW_CUSTOMER, body))
    assert reply.startswith("1;") and reply.endswith(";Customer created")
    [customer] = sb.hooks.state()["customers"]
    assert (customer["firstName"], customer["city"]) == ("Åsa", "Växjö")
    # The contract vector: this sandbox runs with the vector's keys, so the key is the published one.
    assert api.key(protocol.NEW_CUSTOMER, {"firstName": "Åsa", "surName": "Öberg"}) == "9b698edcc67ce258a5d3224abd1a202a"


# -- feeds and batches ----------------------------------------------------------------------------


def test_stock_batch_state_machine(sb):
    api = Api(sb)
    seed(sb, 3)
    first = protocol.new_batch_no()
    body = text(fetch(api, "stock", first))
    assert body.split("\r")[0].split(";")[1:] == ["A-0", "10", first]
    assert stock_rows(body) == {"A-0": "10", "A-1": "11", "A-2": "12"}
    assert text(fetch(api, "stock", first)) == body  # refetch: the same frozen content
    sb.hooks.pos_sale("A-0", 4)  # a change to an article in the open batch waits for the next one
    assert text(fetch(api, "stock", first)) == body
    other = protocol.new_batch_no()
    refused = text(fetch(api, "stock", other))
    assert refused.startswith("0;99;") and protocol.quoted_batch_no(refused, sent=other) == first
    assert text(api.get("updateArticlesFromBatch", batchNo=other)).startswith("0;99;")  # unknown while one is open
    assert confirm(api, "stock", first) == f"1;{first};Batch confirmed"
    assert confirm(api, "stock", first) == f"1;{first};Batch confirmed"  # idempotent
    assert text(api.get("updateArticlesFromBatch", batchNo=other)).startswith("0;20;")  # unknown, none open
    second = protocol.new_batch_no()
    assert stock_rows(text(fetch(api, "stock", second))) == {"A-0": "6"}
    confirm(api, "stock", second)
    empty = protocol.new_batch_no()
    assert text(fetch(api, "stock", empty)) == ""
    assert sb.hooks.state()["feeds"]["stock"]["openBatch"] is None  # nothing pending opens no batch
    assert confirm(api, "stock", empty) == f"1;{empty};Batch confirmed"


def test_stock_sites_formats_and_reservations(sb):
    api = Api(sb)
    seed(sb, 2, stock=5)
    sb.hooks.add_stock_site(2, "Butik")
    sb.hooks.adjust_stock("A-0", 3, stock_site_id=2)
    customer = api.customer().split(";")[1]
    assert api.order(customer, [("A-0", 6), ("A-1", 1)], externalOrderNo="W-1") == "1;10001;Order created"
    art = sb.hooks.article("A-0")
    assert (art["inStock"], art["reserved"], art["available"]) == (8, 6, 2)
    assert art["sites"]["1"] == {"inStock": 5, "reserved": 6, "available": -1}
    b = protocol.new_batch_no()
    root = xml(fetch(api, "stock", b, useXML="2", getMultipleStocksites="1"))
    sites = root.findall("stockChanges/stock")
    assert [(s.get("stockSiteId"), s.get("name")) for s in sites] == [("1", "Huvudlager"), ("2", "Butik")]
    per_site = [{a.findtext("articleNo"): (int(a.findtext("noItemsAv")), int(a.findtext("noItemsInStock")))
                 for a in s.findall("articles/article")} for s in sites]
    assert per_site == [{"A-0": (-1, 5), "A-1": (5, 6)}, {"A-0": (3, 3), "A-1": (0, 0)}]
    totals = xml(fetch(api, "stock", b, useXML="2")).findall("stockChanges/stock")
    assert len(totals) == 1 and totals[0].attrib == {}
    assert [(a.findtext("articleNo"), a.findtext("noItemsAv")) for a in totals[0].iter("article")] == [("A-0", "2"), ("A-1", "5")]
    confirm(api, "stock", b)
    # Deleting the order releases the reservation and queues the stock change; again is fine; unknown is 24.
    assert text(api.put(protocol.DELETE_ORDER, {"orderId": "10001"})) == "1;10001;Order removed"
    assert text(api.put(protocol.DELETE_ORDER, {"orderId": "10001"})).startswith("1;10001;")
    assert text(api.put(protocol.DELETE_ORDER, {"orderId": "99999"})).startswith("0;24;")
    assert stock_rows(text(fetch(api, "stock", protocol.new_batch_no()))) == {"A-0": "8", "A-1": "6"}


def test_zero_stock_is_written_no_items_available(sb):
    sb.hooks.create_articles([{"articleNo": "Z", "name": "Slut", "inStock": 0}])
    assert stock_rows(text(fetch(Api(sb), "stock", protocol.new_batch_no()))) == {"Z": "noItemsAvailable"}


def test_article_feed_is_xml_with_decimal_commas_and_pages(sb):
    api = Api(sb)
    seed(sb, 3)
    api.activate()
    sb.hooks.configure(responseMaxLimit=2)
    b = protocol.new_batch_no()
    root = xml(fetch(api, "articles", b))  # always XML, even without useXML
    first = root.find("articles/article")
    assert first.attrib == {"priceExclVat": "199,50", "buyPrice": "80,50", "barCode": "7350000", "productWeight": "0,250", "vatPercent": "25"}
    assert (first.findtext("articleNo"), first.findtext("name"), first.findtext("articleGroupName")) == ("A-0", "Artikel 0", "Kaffe")
    assert len(root.findall("articles/article")) == 2 and root.findtext("responseMaxLimit") == "2"
    assert xml(fetch(api, "articles", protocol.new_batch_no())).findtext("APIresponse/code") == "99"
    confirm(api, "articles", b)
    sb.hooks.remove_article("A-0")
    sb.hooks.change_price("A-2", priceExclVat="1 234,5", name="Kaffe Ö")
    rest = xml(fetch(api, "articles", protocol.new_batch_no()))
    got = {a.findtext("articleNo"): a for a in rest.findall("articles/article")}
    assert set(got) == {"A-2", "A-0"} and rest.find("responseMaxLimit") is None
    assert got["A-0"].get("deleted") == "1"
    assert (got["A-2"].get("priceExclVat"), got["A-2"].findtext("name")) == ("1234,50", "Kaffe Ö")


def test_a_new_integration_starts_with_the_whole_catalogue_pending(sb):
    api = Api(sb)
    seed(sb, 2)
    b = protocol.new_batch_no()
    assert len(xml(fetch(api, "articles", b)).findall("articles/article")) == 2
    confirm(api, "articles", b)
    assert sb.hooks.state()["account"]["integrationStarted"] is False
    api.activate()
    assert sb.hooks.state()["account"]["integrationStarted"] is True
    assert sb.hooks.state()["feeds"]["articles"]["pending"] == 2
    api.activate()  # registering again is not a new integration
    b2 = protocol.new_batch_no()
    assert len(xml(fetch(api, "articles", b2)).findall("articles/article")) == 2
    confirm(api, "articles", b2)
    assert sb.hooks.state()["feeds"]["articles"]["pending"] == 0


def test_shop_article_writes_are_not_echoed_but_their_stock_is(sb):
    api = Api(sb)
    body = {"articleNo_1": "NEW-1", "name_1": "Ny", "priceExclVAT_1": "10,5", "vatPercent_1": "25",
            "createArticleStock_1": "1", "noItemsInStock_1": "7", "articleNo_2": "NEW-2", "name_2": "Två"}
    assert text(api.put(protocol.NEW_ARTICLE, body)).endswith(";Articles saved (2 created, 0 updated, 0 skipped)")
    state = sb.hooks.state()
    assert state["feeds"]["articles"]["pending"] == 0 and state["feeds"]["stock"]["pending"] == 1
    # Without forceArticleUpdate an existing article is left alone (and initial stock never applies twice).
    api.put(protocol.NEW_ARTICLE, {"articleNo_1": "NEW-1", "name_1": "Ändrad", "createArticleStock_1": "1", "noItemsInStock_1": "99"})
    assert (sb.hooks.article("NEW-1")["name"], sb.hooks.article("NEW-1")["inStock"]) == ("Ny", 7)
    api.put(protocol.NEW_ARTICLE, {"articleNo_1": "NEW-1", "name_1": "Ändrad"}, forceArticleUpdate="1")
    assert sb.hooks.article("NEW-1")["name"] == "Ändrad"
    # All or nothing: one bad row saves nothing.
    bad = text(api.put(protocol.NEW_ARTICLE, {"articleNo_1": "OK-1", "name_1": "a", "articleNo_2": "BAD;NO", "name_2": "b"}))
    assert bad.startswith("0;20;articleNo_2")
    assert "OK-1" not in {a["articleNo"] for a in sb.hooks.state()["articles"]}
    assert text(api.put(protocol.DELETE_ARTICLE, {"articleNo": "NEW-2"})).endswith(";Article deleted")
    assert text(api.put(protocol.DELETE_ARTICLE, {"articleNo": "NEW-2"})).startswith("0;21;")


def test_clear_article_batch_discards_the_open_batch_and_queues_everything(sb):
    api = Api(sb)
    seed(sb, 3)
    b = protocol.new_batch_no()
    text(fetch(api, "stock", b))
    confirm(api, "stock", b)
    open_no = protocol.new_batch_no()
    sb.hooks.pos_sale("A-1", 1)
    assert len(stock_rows(text(fetch(api, "stock", open_no)))) == 1
    clear_no = protocol.new_batch_no()
    assert text(api.get("clearArticleBatch", batchNo=clear_no, clearSelf="1")).startswith(f"1;{clear_no};")
    assert stock_rows(text(fetch(api, "stock", protocol.new_batch_no()))) == {"A-0": "10", "A-1": "10", "A-2": "12"}
    assert confirm(api, "stock", open_no) == f"1;{open_no};Batch confirmed"  # the discarded batch still confirms


def test_orders_feed_pages_with_more_info_to_fetch(sb):
    api = Api(sb)
    seed(sb, 1, stock=100)
    cid = api.customer().split(";")[1]
    for i in range(3):
        api.order(cid, [("A-0", 1)], externalOrderNo=f"W-{i}")
    assert xml(fetch(api, "orders", protocol.new_batch_no())).find("orders/order") is None  # the shop's orders are not echoed
    sb.hooks.configure(responseMaxLimit=2)
    sb.hooks.deliver_order(10001, "TRACK-1")
    sb.hooks.set_order_status(10002, 2)
    sb.hooks.remove_order(10003)
    b = protocol.new_batch_no()
    root = xml(fetch(api, "orders", b))
    assert root.findtext("moreInfoToFetch") == "1"
    first = root.find("orders/order")
    assert (first.get("orderNo"), first.get("externalOrderNo")) == ("10001", "W-0")
    assert first.find("orderstatus").attrib == {"statusId": "4", "deliveryStatus": "D"}
    assert first.find("deliveries").get("updated") == "1" and first.find("deliveries/delivery").get("trackingNo") == "TRACK-1"
    confirm(api, "orders", b)
    last = xml(fetch(api, "orders", protocol.new_batch_no()))
    assert [o.find("orderstatus").get("statusId") for o in last.findall("orders/order")] == ["5"]
    assert last.find("moreInfoToFetch") is None
    assert sb.hooks.article("A-0")["inStock"] == 99  # delivered quantity left stock; the removed one was released


# -- customers and orders -------------------------------------------------------------------------


def test_customer_matching_and_ignore_flags(sb):
    api = Api(sb)
    first = api.customer(emailAddress="ann@example.se", orgNo="556677-8899").split(";")[1]
    assert api.customer(emailAddress="  ANN@Example.se ") == f"1;{first};Customer matched"
    assert api.customer(emailAddress="other@example.se", orgNo="5566778899") == f"1;{first};Customer matched"
    assert api.customer(emailAddress="ann@example.se", ignoreControlEmail="1").endswith("Customer created")
    assert api.customer(emailAddress="new@example.se", orgNo="556677 8899", ignoreControlOrgNo="1").endswith("Customer created")
    both = api.customer(emailAddress="ann@example.se", orgNo="556677-8899", ignoreControlEmail="1", ignoreControlOrgNo="1")
    assert both.endswith("Customer created")
    company = text(api.put(protocol.NEW_CUSTOMER, {"customerOrganizationalForm": "C", "emailAddress": "x@y.se"}))
    assert company == "0;20;name is required"


def test_forced_update_keeps_specter_only_fields(sb):
    api = Api(sb)
    cid = api.customer(city="Lund").split(";")[1]
    sb.hooks.set_customer_fields(cid, priority="A", responsibleSalesperson="Kim")
    api.customer(city="Malmö")  # no force: the match keeps its data
    assert sb.hooks.state()["customers"][0]["city"] == "Lund"
    assert api.customer(city="Malmö", forceCustomerUpdate="1") == f"1;{cid};Customer matched"
    [customer] = sb.hooks.state()["customers"]
    assert (customer["city"], customer["priority"], customer["responsibleSalesperson"]) == ("Malmö", "A", "Kim")


def test_order_rules_and_stored_fields(sb):
    api = Api(sb)
    seed(sb, 1)
    cid = api.customer().split(";")[1]
    head = {"externalOrderNo": "WEB-7", "currency": "SEK", "sendOrderMail": "1", "payTypeIdentifier": "KG",
            "publishedComment": "Tack för ordern", "externalDeliveryMethod": "postnord"}
    assert api.order(cid, [("A-0", 2)], **head) == "1;10001;Order created"
    dup = api.order(cid, [("A-0", 1)], externalOrderNo="WEB-7")
    assert dup == "0;23;Order with externalOrderNo 'WEB-7' already exists as order '10001'"
    assert protocol.quoted_order_no(dup) == "10001"
    assert api.order(cid, [("A-0", 1)], externalOrderNo="WEB-7", ignoreExternalOrderNoControl="1") == "1;10002;Order created"
    assert api.order("4242", [("A-0", 1)], externalOrderNo="WEB-8").startswith("0;22;")
    assert api.order(cid, [("A-0", 1), ("GHOST", 1)], externalOrderNo="WEB-9") == "0;21;Article 'GHOST' does not exist"
    assert text(api.put(protocol.NEW_ORDER, {"customerId": cid, "articleNo_1": "A-0"})) == "0;20;noOfItems_1 is required"
    order = sb.hooks.state()["orders"][0]
    assert {k: order[k] for k in head} == head
    assert order["rows"][0]["articleNo"] == "A-0" and order["rows"][0]["priceExclVAT"] == "10,00"
    assert len(sb.hooks.state()["orders"]) == 2
    reply = xml(api.put(protocol.NEW_ORDER, {"customerId": cid, "externalOrderNo": "WEB-10", "articleNo_1": "A-0", "noOfItems_1": "1"}, use_xml="2"))
    assert [reply.findtext(f"APIresponse/{f}") for f in ("result", "code", "message", "id")] == ["1", "0", "Order created", "10003"]


# -- callbacks ------------------------------------------------------------------------------------


class Receiver:
    """A tiny shop that records the callbacks it gets and answers with the statuses it is told."""

    def __init__(self, status: int = 200):
        self.status = status
        self.hits: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                receiver.hits.append(self.path)
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"1;Done")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_callbacks_coalesce_substitute_and_redact(sb, receiver):
    api = Api(sb)
    seed(sb, 2)
    api.activate(actionStockChange=f"{receiver.url}/stock?token=s3cret", actionRemoveOrder=f"{receiver.url}/removed?orderNo=$orderNo&token=s3cret",
                 actionNewInvoice=f"{receiver.url}/inv?orderId=%24orderId&invoiceId=$invoiceId&invoiceSource=$invoiceSource")
    sb.hooks.configure(callbackCoalesce=0.5)
    for _ in range(5):
        sb.hooks.pos_sale("A-0", 1)
    sb.hooks.wait_callbacks()
    assert receiver.hits == ["/stock?token=s3cret"]  # a burst is one call
    sb.hooks.configure(callbackCoalesce=0.05)
    b = protocol.new_batch_no()
    text(fetch(api, "stock", b))
    sb.hooks.pos_sale("A-0", 1)  # a change while the batch is open calls again
    sb.hooks.wait_callbacks()
    assert len(receiver.hits) == 2
    cid = api.customer().split(";")[1]
    api.order(cid, [("A-1", 1)], externalOrderNo="W-1")
    sb.hooks.remove_order(10001)
    sb.hooks.invoice_order(10001, invoice_id="77")
    log = sb.hooks.wait_callbacks()
    assert "/removed?orderNo=10001&token=s3cret" in receiver.hits
    assert "/inv?orderId=10001&invoiceId=77&invoiceSource=SBM" in receiver.hits
    assert all(e["ok"] and e["status"] == 200 for e in log)
    state = sb.hooks.state()
    assert "s3cret" not in json.dumps(state["callbackLog"]) and "token=***" in state["callbackLog"][0]["url"]
    assert state["callbacks"]["actionStockChange"] == f"{receiver.url}/stock?token=***"  # hidden, as on the page
    assert "s3cret" not in json.dumps(state)


def test_a_failing_callback_is_retried_then_dropped_and_changes_stay_pending(sb, receiver):
    api = Api(sb)
    seed(sb, 1)
    receiver.status = 500
    api.activate(actionStockChange=f"{receiver.url}/stock?token=t")
    sb.hooks.pos_sale("A-0", 1)
    log = sb.hooks.wait_callbacks()
    assert [(e["attempt"], e["status"], e["outcome"]) for e in log] == [
        (1, 500, "retry"), (2, 500, "retry"), (3, 500, "retry"), (4, 500, "gave_up")]
    assert log[-1]["gaveUp"] and len(receiver.hits) == 4
    assert log[-1]["time"] - log[0]["time"] >= 0.05 + 0.1 + 0.2  # growing back-off
    assert sb.hooks.state()["feeds"]["stock"]["pending"] == 1
    sb.hooks.configure(callbacksEnabled=False)
    sb.hooks.pos_sale("A-0", 1)
    time.sleep(0.3)
    assert len(receiver.hits) == 4


# -- persistence, faults, helpers -----------------------------------------------------------------


def test_state_survives_restart_and_kill(sb):
    api = Api(sb)
    seed(sb, 2)
    cid = api.customer().split(";")[1]
    api.order(cid, [("A-0", 3)], externalOrderNo="W-1")
    open_no = protocol.new_batch_no()
    frozen = text(fetch(api, "stock", open_no))
    sb.restart()
    assert text(fetch(api, "stock", open_no)) == frozen
    sb.kill()
    sb.start()
    state = sb.hooks.state()
    assert state["feeds"]["stock"]["openBatch"] == open_no
    assert state["orders"][0]["externalOrderNo"] == "W-1" and sb.hooks.article("A-0")["available"] == 7
    assert api.order(cid, [("A-0", 1)], externalOrderNo="W-1").startswith("0;23;")


def test_fault_modes(sb):
    api = Api(sb)
    seed(sb, 1)
    cid = api.customer().split(";")[1]
    sb.hooks.fault("newOrderSubmit", "fail", status=503)
    resp = api.put(protocol.NEW_ORDER, {"customerId": cid, "externalOrderNo": "F-1", "articleNo_1": "A-0", "noOfItems_1": "1"})
    assert resp.status_code == 503 and "<html>" in resp.text
    assert sb.hooks.state()["orders"] == []
    sb.hooks.fault("newOrderSubmit", "drop")
    with pytest.raises(requests.ConnectionError):
        api.order(cid, [("A-0", 1)], externalOrderNo="F-1")
    assert sb.hooks.state()["orders"] == []
    sb.hooks.fault("newOrderSubmit", "after")  # created, then the answer is lost
    assert api.put(protocol.NEW_ORDER, {"customerId": cid, "externalOrderNo": "F-1", "articleNo_1": "A-0", "noOfItems_1": "1"}).status_code == 500
    assert api.order(cid, [("A-0", 1)], externalOrderNo="F-1") == "0;23;Order with externalOrderNo 'F-1' already exists as order '10001'"
    sb.hooks.fault("*", "body", body="<SpecterAPI><unclosed>")
    resp = fetch(api, "articles", protocol.new_batch_no())
    assert resp.content == b"<SpecterAPI><unclosed>" and sb.hooks.state()["feeds"]["articles"]["openBatch"] is None
    sb.hooks.fault("getArticleExternalNeedUpdate", "slow", seconds=0.4)
    started = time.monotonic()
    assert stock_rows(text(fetch(api, "stock", protocol.new_batch_no()))) == {"A-0": "9"}  # one order reserved
    assert time.monotonic() - started >= 0.4
    sb.hooks.fault("*", "fail", count=5)
    sb.hooks.clear_faults()
    assert sb.hooks.state()["faults"] == []
    calls = sb.hooks.calls(action="newOrderSubmit")
    assert [c["fault"] for c in calls] == ["fail", "drop", "after", None]
    assert [c["code"] for c in calls[2:]] == [0, 23]


def test_the_call_log_never_holds_the_key(sb):
    api = Api(sb)
    b = protocol.new_batch_no()
    fetch(api, "stock", b)
    [call] = sb.hooks.calls()
    assert (call["action"], call["batchNo"], call["ok"]) == ("getArticleExternalNeedUpdate", b, True)
    assert api.key("getArticleExternalNeedUpdate", {"batchNo": b}) not in json.dumps(sb.hooks.calls())


def test_bulk_hooks_are_fast(sb):
    n = 20000
    started = time.monotonic()
    sb.hooks.create_articles([{"articleNo": f"B-{i}", "name": "x", "priceExclVat": 10, "inStock": 1} for i in range(n)])
    sb.hooks.adjust_stock_bulk([{"articleNo": f"B-{i}", "inStock": 2} for i in range(n)])
    assert time.monotonic() - started < 5
    assert sb.hooks.state(articles=False)["feeds"]["stock"]["pending"] == n


def test_in_process_server_for_users(tmp_path):
    with SandboxServer(in_process=True, db_path=tmp_path / "s.sqlite3") as srv:
        srv.hooks.create_articles([{"articleNo": "IP-1", "name": "x", "inStock": 2}])
        assert stock_rows(text(fetch(Api(srv), "stock", protocol.new_batch_no()))) == {"IP-1": "2"}
        assert srv.credentials["SPECTER_API_URL"] == srv.url


# -- what the sandbox logs ------------------------------------------------------------------------


def test_the_access_log_hides_the_key_and_the_shops_callback_token(sb, receiver):
    """The shop registers its callback URLs (with its token) in a GET's query string and signs every call
    with ``key=``: the sandbox's request lines show neither, plain or percent-encoded."""
    api = Api(sb)
    seed(sb, 1)
    start = len(Path(sb.log_path).read_text())  # the module's server: only this test's lines
    api.activate(actionStockChange=f"{receiver.url}/stock?token=s3cret-tok",
                 actionRemoveOrder=f"{receiver.url}/removed?orderNo=$orderNo&token=s3cret-tok")
    fetch(api, "stock", protocol.new_batch_no())
    sb.hooks.pos_sale("A-0", 1)
    sb.hooks.wait_callbacks()
    log = wait_for_log(sb, start, "getArticleExternalNeedUpdate")
    assert "checkAccountSettings" in log and "token%3D***" in log
    assert "s3cret-tok" not in log
    assert "key=***" in log and re.search(r"[?&]key=(?!\*\*\*)", log) is None


def test_the_sandboxs_own_callback_calls_log_no_token(tmp_path, receiver, caplog):
    with SandboxServer(in_process=True, db_path=tmp_path / "s.sqlite3", callback_backoff=0.05) as srv:
        api = Api(srv)
        seed(srv, 1)
        api.activate(actionStockChange=f"{receiver.url}/stock?token=s3cret-tok")
        with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
            srv.hooks.pos_sale("A-0", 1)
            assert srv.hooks.wait_callbacks()[-1]["ok"]
    lines = [r.getMessage() for r in caplog.records if r.name == "urllib3.connectionpool"]
    assert any("/stock?token=***" in line for line in lines), lines
    assert not any("s3cret-tok" in line for line in lines)
    assert receiver.hits == ["/stock?token=s3cret-tok"]  # the shop still gets its token


def wait_for_log(server: SandboxServer, start: int, needle: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        log = Path(server.log_path).read_text()[start:]
        if needle in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


# -- the page at / ------------------------------------------------------------------------------


def page_messages(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'role="status">([^<]*)<', html)]


def test_the_page_forms_run_the_hooks_actions_with_the_same_fields(sb, receiver):
    """Every form posts the hook's own body as form fields; the state changes exactly as through the hook."""
    from flask_specter.sandbox.actions import HOOKS

    api = Api(sb)
    seed(sb, 2, stock=10)
    api.activate(actionStockChange=f"{receiver.url}/stock?token=s3cret-tok", actionRemoveOrder=f"{receiver.url}/rm?orderNo=$orderNo&token=s3cret-tok",
                 actionNewInvoice=f"{receiver.url}/inv?orderId=$orderId&invoiceId=$invoiceId&token=s3cret-tok")
    cid = api.customer().split(";")[1]
    order_no = api.order(cid, [("A-1", 2)], externalOrderNo="W-1").split(";")[1]
    web = requests.Session()
    html = web.get(sb.url, timeout=10).text
    assert all(f'action="/sandbox/{path}"' in html for path in HOOKS)  # one form per action
    assert all(f"POST /_sandbox/{path}" in html for path in HOOKS)  # each with its hook's body

    def post(path, **fields):
        resp = web.post(f"{sb.url}sandbox/{path}", data=fields, timeout=10)
        assert resp.status_code == 200 and resp.url.endswith(f"/#{path}"), resp.status_code
        return page_messages(resp.text)

    assert post("pos-sale", articleNo="A-0", qty="3", stockSiteId="1") == ["Sålde 3 st A-0 i butikskassan: 7 i lager, 7 disponibelt."]
    assert post("goods-received", articleNo="A-0", qty="5") == ["Inleverans av 5 st A-0: 12 i lager, 12 disponibelt."]
    assert post("stock-adjustment", articleNo="A-0", change="-2", inStock="") == ["Lagerjustering av A-0: 10 i lager, 10 disponibelt."]
    assert post("stock-adjustment", articleNo="A-0", inStock="4")[0].endswith("4 i lager, 4 disponibelt.")
    assert "inStock" in post("stock-adjustment", articleNo="A-0", inStock="4", change="1")[0]  # one or the other
    post("price-change", articleNo="A-0", priceExclVat="89,50", name="Kaffe mörk", vatPercent="")
    article = sb.hooks.article("A-0")
    assert (article["inStock"], article["priceExclVat"], article["name"], article["vatPercent"]) == (4, "89.50", "Kaffe mörk", "25")
    assert post("pos-sale", articleNo="NOPE", qty="1") == ["Sälj i butikskassan gick inte: unknown article 'NOPE'"]
    assert post("pos-sale", articleNo="A-0", qty="") == ["Sälj i butikskassan: fältet qty saknas."]

    assert post("order-status", orderNo=order_no, statusId="2") == [f"Order {order_no} har status Bekräftad."]
    assert post("invoice", orderNo=order_no) == [f"Faktura 50001 skapad för order {order_no}."]
    assert post("order-delivery", orderNo=order_no, trackingNo="JJSE1") == [f"Order {order_no} levererad med kollinummer JJSE1."]
    [order] = sb.hooks.state()["orders"]
    assert (order["statusId"], order["deliveryStatus"], order["trackingNos"], order["invoices"][0]["invoiceId"]) == (4, "D", ["JJSE1"], "50001")
    assert sb.hooks.article("A-1")["inStock"] == 11 - 2  # delivered: out of stock
    assert post("order-removal", orderNo=order_no) == [f"Order {order_no} borttagen."]
    sb.hooks.wait_callbacks()

    html = web.get(sb.url, timeout=10).text
    assert f'data-order="{order_no}" class="deleted"' in html and "JJSE1" in html and "Kaffe mörk" in html
    assert "Lagerändring" in html and "Ny faktura" in html and "Order borttagen" in html  # the callback log
    assert "token=***" in html and "s3cret-tok" not in html  # the shop's token is not shown
    assert receiver.hits and all("token=s3cret-tok" in hit for hit in receiver.hits)


def test_the_hooks_answer_as_before_and_refuse_bad_bodies(sb):
    seed(sb, 1, stock=10)
    assert sb.hooks.pos_sale("A-0", 2)["inStock"] == 8
    assert sb.hooks.goods_received("A-0", 4)["inStock"] == 12
    assert sb.hooks.adjust_stock("A-0", 5)["inStock"] == 5
    assert sb.hooks.adjust_stock_bulk([{"articleNo": "A-0", "inStock": 6}]) == {"ok": True, "adjusted": 1}
    resp = requests.post(f"{sb.url}_sandbox/stock-adjustment", json={"articleNo": "A-0", "change": -1}, timeout=10)
    assert resp.json()["article"]["inStock"] == 5
    assert requests.post(f"{sb.url}_sandbox/pos-sale", json={"articleNo": "A-0"}, timeout=10).status_code == 400
    assert requests.post(f"{sb.url}_sandbox/pos-sale", json={"articleNo": "X", "qty": 1}, timeout=10).status_code == 404
    assert requests.post(f"{sb.url}_sandbox/order-status", json={"orderNo": 1, "statusId": 9}, timeout=10).status_code == 400


def test_another_site_cannot_post_to_the_page_or_the_hooks(sb):
    """A web page open in the same browser could post a form to the loopback port: ``Origin`` gives it away."""
    seed(sb, 1, stock=10)
    evil = {"Origin": "http://evil.example"}
    assert requests.post(f"{sb.url}sandbox/pos-sale", data={"articleNo": "A-0", "qty": "1"}, headers=evil, timeout=10).status_code == 403
    assert requests.post(f"{sb.url}_sandbox/reset", headers=evil, timeout=10).status_code == 403
    assert requests.post(f"{sb.url}_sandbox/pos-sale", data='{"articleNo": "A-0", "qty": 1}', headers={**evil, "Content-Type": "text/plain"}, timeout=10).status_code == 403
    assert sb.hooks.article("A-0")["inStock"] == 10
    own = {"Origin": sb.url.rstrip("/")}
    assert requests.post(f"{sb.url}sandbox/pos-sale", data={"articleNo": "A-0", "qty": "1"}, headers=own, timeout=10).status_code == 200
    assert sb.hooks.article("A-0")["inStock"] == 9
