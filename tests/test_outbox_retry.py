"""Failed pushes are sent again once the cause is fixed: ``drain --failed`` and the Outbox page's "Försök igen".

The cause here is the usual one: a wrong key. Specter (the sandbox, over HTTP) refuses the login, every
product and customer row fails for good ("kräver åtgärd"); the operator fixes the key (a new app on the
same database, as a restarted shop would be) and sends them again.
"""

from __future__ import annotations

import re

import pytest

from flask_specter.admin.model_views import OP_LABELS

from ._push_fixtures import add_customer, add_product, entries, sandbox_articles, sandbox_customers
from .conftest import wait_until

pytestmark = pytest.mark.timeout(120)

WRONG_KEY = "fel-nyckel-123"


def _fail_everything_with_a_wrong_key(make_shop, live_worker, sandbox):
    """A shop with a wrong key whose worker turns a product and a customer into failed rows."""
    bad = make_shop(SPECTER_USER_KEY=WRONG_KEY)
    worker = live_worker(bad)
    add_product(bad, "KAFFE-1", name="Kaffe Mörk", stock=7, price="89.00")
    add_customer(bad, "asa@example.se", first_name="Åsa", last_name="Öberg")
    wait_until(lambda: len(entries(bad)) == 2 and all(e["state"] == "failed" for e in entries(bad)), timeout=60, message="both rows failed")
    worker.stop()
    for row in entries(bad):
        assert row["permanent"] and row["attempts"] == 1, row
        assert "nekade inloggningen" in row["last_error"] and WRONG_KEY not in row["last_error"]
    assert "KAFFE-1" not in sandbox_articles(sandbox) and sandbox_customers(sandbox) == []
    return bad


def _arrived(sandbox) -> bool:
    return "KAFFE-1" in sandbox_articles(sandbox) and [c["emailAddress"] for c in sandbox_customers(sandbox)] == ["asa@example.se"]


def test_drain_failed_sends_the_rows_a_wrong_key_failed_once_the_key_is_fixed(make_shop, live_worker, sandbox):
    _fail_everything_with_a_wrong_key(make_shop, live_worker, sandbox)
    fixed = make_shop()  # the right key, the same database

    plain = fixed.test_cli_runner().invoke(args=["specter", "drain"])
    assert plain.exit_code == 0, plain.output
    assert [e["state"] for e in entries(fixed)] == ["failed", "failed"]  # a plain drain leaves them for a person
    assert not _arrived(sandbox)

    result = fixed.test_cli_runner().invoke(args=["specter", "drain", "--failed"])
    assert result.exit_code == 0, result.output
    assert "sent 2" in result.output and "failed 0" in result.output
    assert _arrived(sandbox)
    art = sandbox_articles(sandbox)["KAFFE-1"]
    assert (art["name"], art["priceExclVat"], art["inStock"]) == ("Kaffe Mörk", "89.00", 7)
    rows = entries(fixed)
    assert [(e["state"], e["attempts"], e["permanent"], e["last_error"]) for e in rows] == [("sent", 0, False, None)] * 2  # a fresh count of failed attempts

    again = fixed.test_cli_runner().invoke(args=["specter", "drain", "--failed"])  # nothing left: nothing sent twice
    assert again.exit_code == 0 and "sent 0" in again.output
    assert len([c for c in sandbox.hooks.calls(action="newCustomerSubmit") if c["ok"]]) == 1


def test_drain_failed_with_the_key_still_wrong_fails_again_and_says_so(make_shop, live_worker, sandbox):
    bad = _fail_everything_with_a_wrong_key(make_shop, live_worker, sandbox)
    result = bad.test_cli_runner().invoke(args=["specter", "drain", "--failed"])
    assert result.exit_code == 1
    assert "failed 2" in result.output and "nekade inloggningen" in result.output and WRONG_KEY not in result.output
    assert [(e["state"], e["permanent"]) for e in entries(bad)] == [("failed", True)] * 2


def _csrf(client, url: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert match, "the page carries no CSRF token"
    return match.group(1)


def test_outbox_page_offers_forsok_igen_on_failed_rows_and_it_sends_them(make_shop, live_worker, sandbox):
    _fail_everything_with_a_wrong_key(make_shop, live_worker, sandbox)
    fixed = make_shop(SPECTER_ADMIN_ACCESS=lambda: True)
    web = fixed.test_client()
    product_id, customer_id = (e["id"] for e in entries(fixed))

    page = web.get("/admin/specter/outbox/").get_data(as_text=True)
    assert page.count("Försök igen</button>") == 2
    assert f'action="/admin/specter/outbox/retry/{product_id}"' in page and "drain --failed" in page

    refused = web.post(f"/admin/specter/outbox/retry/{product_id}", data={}, follow_redirects=True)
    assert "säkerhetstoken" in refused.get_data(as_text=True)
    assert [e["state"] for e in entries(fixed)] == ["failed", "failed"] and not _arrived(sandbox)

    token = _csrf(web, "/admin/specter/outbox/")
    one = web.post(f"/admin/specter/outbox/retry/{product_id}", data={"csrf_token": token, "next": "/admin/specter/outbox/?page=0"})
    assert one.status_code == 302 and one.headers["Location"] == "/admin/specter/outbox/?page=0"
    assert "KAFFE-1" in sandbox_articles(sandbox)
    assert [e["state"] for e in entries(fixed)] == ["sent", "failed"]
    shown = web.get("/admin/specter/outbox/").get_data(as_text=True)
    assert "Produkt KAFFE-1 (skapa): Skickad till Specter." in shown and shown.count("Försök igen</button>") == 1

    no_token = web.post("/admin/specter/outbox/action/", data={"action": "retry", "rowid": [str(customer_id)]})
    assert no_token.status_code == 302 and entries(fixed)[1]["state"] == "failed"
    bulk = web.post(
        "/admin/specter/outbox/action/",
        data={"csrf_token": _csrf(web, "/admin/specter/outbox/"), "action": "retry", "rowid": [str(product_id), str(customer_id)]},
        follow_redirects=True,
    )
    html = bulk.get_data(as_text=True)
    assert "asa@example.se" not in html  # the row names the customer by id, never by e-mail
    customer = entries(fixed)[1]
    assert f"Kund {customer['ref']} ({OP_LABELS[customer['op']]}): Skickad till Specter." in html
    assert "Produkt KAFFE-1 (skapa): Skickas redan eller är redan skickad" in html  # the sent row is left alone
    assert _arrived(sandbox)
    assert [e["state"] for e in entries(fixed)] == ["sent", "sent"]
    assert len([c for c in sandbox.hooks.calls(action="newArticleSubmit") if c["ok"]]) == 1
