"""A feed is read and stored as a stream (issue 12.5): the rows stored are the same as before, page by
page, and a batch is still all or nothing: a hostile body, a byte cap breach or a connection cut in
the middle of it stores nothing and confirms nothing.

Real parts: the sandbox Specter over HTTP (its ``replace`` fault answers a hostile body for a batch it
really froze; ``drip`` sends the answer one byte at a time), the example shop, PostgreSQL when configured.
"""

from __future__ import annotations

import socket
import threading
import tracemalloc
from collections import Counter

import pytest
from sqlalchemy import func, select

from flask_specter.models import Batch, RefusedRow, StockRow
from flask_specter.remote import protocol
from flask_specter.remote.client import SpecterClient
from flask_specter.remote.errors import SpecterAuthError, SpecterTimeout, SpecterUnavailable
from flask_specter.remote.parsing import FeedMeta, iter_stock_text, parse_stock_text, walk_xml

from .test_stock_sync import _db, seed

pytestmark = pytest.mark.timeout(120)

STOCK_FETCH = "getArticleExternalNeedUpdate"
XML_HEAD = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<SpecterAPI><APIresponse><result>1</result><code>0</code><message>ok</message></APIresponse>'


def _pull(app, feed: str = "stock") -> dict:
    with app.app_context():
        from flask_specter.inbound.pulls import run_pull

        return run_pull(feed)


def _stored(app, batch: int | None = None) -> dict[str, int]:
    """The stored rows (of the ``batch``-th batch, counting from 0)."""
    with app.app_context():
        _db(app).session.remove()
        query = select(StockRow.sku, StockRow.available)
        if batch is not None:
            ids = list(_db(app).session.execute(select(Batch.id).where(Batch.feed == "stock").order_by(Batch.id)).scalars())
            query = query.where(StockRow.batch_id == ids[batch])
        return dict(_db(app).session.execute(query).all())


def _batches(app) -> list[tuple[str, int]]:
    with app.app_context():
        _db(app).session.remove()
        return list(_db(app).session.execute(select(Batch.state, Batch.rows).where(Batch.feed == "stock").order_by(Batch.id)).all())


def _confirms(sandbox) -> int:
    return sum(1 for c in sandbox.hooks.calls(action="updateArticlesFromBatch") if c.get("ok"))


def _text_body(*rows: tuple[str, str]) -> str:
    return "\r".join(f"{n};{sku};{figure};$batchNo" for n, (sku, figure) in enumerate(rows, start=1))


def _xml_stock(*rows: tuple[str, str], tail: str = "</SpecterAPI>") -> str:
    body = "".join(f"<article><articleNo>{s}</articleNo><noItemsAv>{a}</noItemsAv><noItemsInStock>{a}</noItemsInStock></article>" for s, a in rows)
    return XML_HEAD + f'<stockChanges><stock stockSiteId="1" name="Lager"><articles>{body}</articles></stock></stockChanges>' + tail


# -- the parsers, on their own ---------------------------------------------------------------------


def test_text_rows_split_across_chunks_read_the_same_as_one_body():
    body = "\r\n".join(f"{i};SKU-{i};{i % 9},0;b" for i in range(500)) + "\r1;Å-latin;3;b"
    whole = parse_stock_text(body, "b")
    for size in (1, 7, 64, 1000):
        assert list(iter_stock_text(body[i : i + size] for i in range(0, len(body), size))) == whole
    assert whole[-1].article_no == "Å-latin" and whole[3].available == 3 and len(whole) == 501


def test_the_xml_walk_never_holds_more_than_the_record_being_read():
    from xml.etree.ElementTree import XMLPullParser

    text = _xml_stock(*((f"S-{i}", str(i)) for i in range(2000)), tail="<responseMaxLimit>2000</responseMaxLimit></SpecterAPI>")
    parser = XMLPullParser(events=("start", "end"))

    def events():
        for i in range(0, len(text), 500):  # as a spool is read: a chunk at a time
            parser.feed(text[i : i + 500].encode("latin-1"))
            yield from parser.read_events()
        parser.close()
        yield from parser.read_events()

    meta = FeedMeta()
    held = []
    for article, ancestors in walk_xml(events(), ("stockChanges", "stock", "articles", "article"), meta, lambda resp: None):
        held.append(len(ancestors[-1]))  # the <articles> container: only the record being read
        assert article.findtext("articleNo") == f"S-{len(held) - 1}"
    assert len(held) == 2000 and max(held) <= 6  # the records one 500-byte chunk holds, not 2,000
    assert meta.limit == 2000


# -- the client ------------------------------------------------------------------------------------


def test_an_xml_error_answer_is_raised_when_the_feed_is_opened(sandbox):
    bad = SpecterClient.from_config({**sandbox.credentials, "SPECTER_USER_KEY": "not-the-key"})
    for feed, kwargs in (("stock", {"use_xml": True}), ("stock", {}), ("articles", {}), ("orders", {})):
        with pytest.raises(SpecterAuthError):
            bad.open_feed(feed, protocol.new_batch_no(), **kwargs)


def _cut_server(body_prefix: bytes, claimed: int) -> tuple[str, threading.Thread]:
    """An HTTP server that claims ``claimed`` bytes, sends ``body_prefix`` and closes: a cut mid-body."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _addr = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Length: %d\r\n\r\n" % claimed + body_prefix)
        conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/", thread


def test_a_connection_cut_mid_body_is_a_transient_error_before_any_row():
    rows = "".join(f"{i};SKU-{i};5;b\r" for i in range(2000)).encode()
    url, thread = _cut_server(rows, len(rows) * 2)
    client = SpecterClient(url, "1", "1", "k", "i", timeout=10)
    with pytest.raises(SpecterUnavailable) as err:
        client.open_feed("stock", protocol.new_batch_no())
    assert err.value.transient
    thread.join(5)


# -- a pull: the rows stored -----------------------------------------------------------------------


@pytest.mark.parametrize("page", [1, 3, 5000])
def test_a_streamed_pull_stores_the_same_rows_in_any_page_size(make_shop, sandbox, monkeypatch, page):
    import flask_specter.inbound.pulls as pulls

    monkeypatch.setattr(pulls, "INSERT_PAGE", page)
    app = make_shop()
    seed(sandbox, app, 7, stock=10)
    summary = _pull(app)
    specter = {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"]}
    assert _stored(app) == specter and summary["rows"] == 7 and summary["refused"] == 0
    assert _batches(app) == [("confirmed", 7)] and _confirms(sandbox) == 1


def test_one_row_and_latin1_numbers_and_decimal_commas(make_shop, sandbox):
    app = make_shop()
    seed(sandbox, app, 1)
    sandbox.hooks.fault(STOCK_FETCH, "replace", body=_text_body(("ÅÄÖ-1", "4,0")))
    summary = _pull(app)
    assert _stored(app) == {"ÅÄÖ-1": 4} and summary["rows"] == 1 and _batches(app) == [("confirmed", 1)]


def test_a_duplicate_in_another_page_is_refused_with_its_first_occurrence(make_shop, sandbox, monkeypatch):
    import flask_specter.inbound.pulls as pulls

    monkeypatch.setattr(pulls, "INSERT_PAGE", 2)  # the two occurrences are stored by different statements
    app = make_shop()
    seed(sandbox, app, 4)
    sandbox.hooks.fault(STOCK_FETCH, "replace", body=_text_body(
        ("SKU-00000", "50"), ("SKU-00001", "1"), ("SKU-00002", "2"), ("SKU-00003", "3000000000"), ("SKU-00000", "4"), ("SKU-00003", "3"),
    ))
    summary = _pull(app)
    assert _stored(app, batch=0) == {"SKU-00001": 1, "SKU-00002": 2}  # neither figure of a SKU sent twice; nor the one of an invalid row's twin
    with app.app_context():
        refused = Counter((r.ref, r.kind) for r in _db(app).session.execute(select(RefusedRow)).scalars())
        reasons = [r.reason for r in _db(app).session.execute(select(RefusedRow).where(RefusedRow.ref == "SKU-00000")).scalars()]
    assert refused == Counter({("SKU-00000", "duplicate"): 2, ("SKU-00003", "invalid"): 1, ("SKU-00003", "duplicate"): 1})
    assert all("2 gånger" in r for r in reasons) and {"disponibelt 50" in r for r in reasons} == {True, False}
    assert _batches(app)[0] == ("confirmed", 2)  # then every article is read again (the duplicates' re-read)
    assert summary["refused"] == 4


# -- a pull: all or nothing ------------------------------------------------------------------------


@pytest.mark.parametrize("tail", ["<article><articleNo>BROKEN", '<!DOCTYPE x [<!ENTITY e "e">]>'])
def test_hostile_xml_after_good_rows_stores_nothing_and_confirms_nothing(make_shop, sandbox, monkeypatch, tail):
    import flask_specter.inbound.pulls as pulls

    monkeypatch.setattr(pulls, "INSERT_PAGE", 2)  # good rows were already written when the bad part comes
    app = make_shop(SPECTER_STOCK_SITES="1")
    seed(sandbox, app, 6)
    body = _xml_stock(*((f"SKU-{i:05d}", "3") for i in range(6)), tail="")[: -len("</articles></stock></stockChanges>")] + tail
    sandbox.hooks.fault(STOCK_FETCH, "replace", body=body)
    assert "error" in _pull(app)  # refused, recorded on the feed; not retried (Specter's answer will not change)
    assert _stored(app) == {} and _batches(app) == [] and _confirms(sandbox) == 0


def test_text_stock_that_breaks_mid_body_stores_nothing(make_shop, sandbox, monkeypatch):
    import flask_specter.inbound.pulls as pulls

    monkeypatch.setattr(pulls, "INSERT_PAGE", 2)
    app = make_shop()
    seed(sandbox, app, 6)
    sandbox.hooks.fault(STOCK_FETCH, "replace", body=_text_body(*((f"SKU-{i:05d}", "3") for i in range(5))) + "\rnot a stock row")
    assert "error" in _pull(app)  # refused, recorded on the feed; not retried (Specter's answer will not change)
    assert _stored(app) == {} and _batches(app) == [] and _confirms(sandbox) == 0


def test_a_byte_cap_breach_stores_nothing_and_confirms_nothing(make_shop, sandbox):
    app = make_shop(SPECTER_MAX_RESPONSE_BYTES=2000)
    seed(sandbox, app, 200)
    assert "error" in _pull(app)  # refused, recorded on the feed; not retried (Specter's answer will not change)
    assert _stored(app) == {} and _batches(app) == [] and _confirms(sandbox) == 0


def test_a_connection_cut_mid_body_stores_nothing_and_the_retried_pull_stores_the_batch(make_shop, sandbox):
    app = make_shop(SPECTER_TIMEOUT=1.0)
    seed(sandbox, app, 50)
    sandbox.hooks.fault(STOCK_FETCH, "drip", seconds=0.05)  # the deadline shuts the socket after ~20 bytes
    with pytest.raises((SpecterTimeout, SpecterUnavailable)) as err:
        _pull(app)
    assert err.value.transient  # RQ retries the pull
    assert _stored(app) == {} and _batches(app) == [] and _confirms(sandbox) == 0
    summary = _pull(app)  # the retry: the batch left open is fetched by its number (99), stored, confirmed
    specter = {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"]}
    assert _stored(app) == specter and summary["rows"] == 50 and _confirms(sandbox) == 1
    with app.app_context():
        assert _db(app).session.execute(select(func.count()).select_from(Batch).where(Batch.recovered.is_(True))).scalar() == 1


# -- memory ----------------------------------------------------------------------------------------


def test_a_pull_holds_a_page_of_rows_not_the_batch(make_shop, sandbox, monkeypatch):
    """Python's own allocations during a pull of 20,000 rows in one answer stay near those of 2,000: a
    page of rows, the answer's first 256 kB and the set of numbers seen (~170 bytes a row)."""
    import flask_specter.inbound.pulls as pulls

    monkeypatch.setattr(pulls, "INSERT_PAGE", 500)
    sandbox.hooks.configure(responseMaxLimit=20000)
    app = make_shop()

    def peak(n: int, prefix: str, measure: bool = True) -> int:
        sandbox.hooks.create_articles([{"articleNo": f"{prefix}-{i:06d}", "name": "M", "priceExclVat": "1.00", "vatPercent": 25, "inStock": 5} for i in range(n)])
        if measure:
            tracemalloc.start()
        try:
            summary = _pull(app)
            return tracemalloc.get_traced_memory()[1] if measure else 0
        finally:
            tracemalloc.stop()
            assert summary["rows"] == n and summary["batches"] == 1

    peak(2000, "W", measure=False)  # the first pull imports and compiles
    small, large = peak(2000, "S"), peak(20000, "L")
    assert large < small + 5 * 2**20, (small, large)  # the 20,000 rows held as records and dicts: over 10 MB
