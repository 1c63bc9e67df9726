"""The admin sees whether Specter's calls arrive, and callback parameters are checked before ``1;Done``.

Callbacks come over real HTTP: from the sandbox (which calls the URLs the shop registered) or from a
client playing Specter with a wrong address or hostile parameters.
"""

from __future__ import annotations

import re
import time

import requests
from sqlalchemy import event

from .conftest import wait_until
from .test_stock_sync import activate_served, seed

ADMIN = {"SHOP_ADMIN_USER": "boss", "SHOP_ADMIN_PASSWORD": "hemligt-lösen-1"}


def admin_session(base_url: str) -> requests.Session:
    """A browser-like session logged in to the example shop's admin."""
    s = requests.Session()
    page = s.get(f"{base_url}/admin/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = s.post(
        f"{base_url}/admin/login",
        data={"csrf_token": token, "username": ADMIN["SHOP_ADMIN_USER"], "password": ADMIN["SHOP_ADMIN_PASSWORD"]},
        timeout=10,
        allow_redirects=False,
    )
    assert resp.status_code == 302, resp.text
    return s


def pages(admin: requests.Session, base_url: str) -> tuple[str, str]:
    settings = admin.get(f"{base_url}/admin/specter/settings/", timeout=10)
    status = admin.get(f"{base_url}/admin/specter/status/", timeout=10)
    assert settings.status_code == 200 and status.status_code == 200
    return settings.text, status.text


def last_call_cell(settings_html: str, label: str) -> str:
    """The "Senaste anrop från Specter" cell of one route on the settings page."""
    match = re.search(rf"<td>{label}</td>\s*<td class=\"text-right\">(.*?)</td>", settings_html, re.S)
    assert match, f"no row for {label}"
    return match.group(1)


def test_refused_and_accepted_callbacks_from_specter_are_shown_to_the_admin(make_shop, sandbox, serve):
    app = make_shop(**ADMIN)
    seed(sandbox, app, 2, stock=10)
    served = activate_served(app, serve)  # Specter now calls with this token
    registered = app.config["SPECTER_CALLBACK_TOKEN"]
    admin = admin_session(served.url)
    settings, status = pages(admin, served.url)
    assert "aldrig" in last_call_cell(settings, "Lagersaldo") and "Anrop från Specter nekas" not in settings

    app.config["SPECTER_CALLBACK_TOKEN"] = "rotated-without-activating"  # every call from Specter is now refused
    sandbox.hooks.pos_sale("SKU-00000", 1)
    wait_until(lambda: "fel token" in pages(admin, served.url)[1], message="the refused stock callback on the status page")
    settings, status = pages(admin, served.url)
    for html in (settings, status):
        assert "Anrop från Specter nekas" in html and "Lagersaldo" in html and "fel token" in html
    assert "anrop från Specter nekas" in status  # the stock feed's badge is no longer "ok"
    assert "aldrig" in last_call_cell(settings, "Lagersaldo")

    # Specter calling an address the shop does not have (an old prefix, a typo) is a refused call too.
    wrong = requests.get(f"{served.url}/specter/callback/stok?token={registered}", timeout=10)
    assert wrong.status_code == 404
    wait_until(lambda: "/specter/callback/stok?token=*** finns inte i butiken" in pages(admin, served.url)[0], message="the unknown route")
    assert registered not in pages(admin, served.url)[0]


    def nul_address_shown() -> bool:  # recorded at most once a second per route: call until one is written
        assert requests.get(f"{served.url}/specter/x%00y", timeout=10).status_code == 404
        return "/specter/x?y finns inte" in pages(admin, served.url)[0]  # stored without the NUL

    wait_until(nul_address_shown, interval=0.3, message="the NUL address, cleaned")

    app.config["SPECTER_CALLBACK_TOKEN"] = registered  # fixed: the next change is accepted
    sandbox.hooks.pos_sale("SKU-00001", 1)
    wait_until(lambda: "aldrig" not in last_call_cell(pages(admin, served.url)[0], "Lagersaldo"), message="the accepted call")
    settings, status = pages(admin, served.url)
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", last_call_cell(settings, "Lagersaldo"))
    assert "fel token" not in settings and "fel token" not in status  # accepted after the refusal: no warning
    assert "anrop från Specter nekas" not in status
    assert "Okänd adress" in settings and "finns inte i butiken" in settings  # that one still stands


def test_a_callback_storm_writes_the_record_at_most_once_a_second(make_shop, serve):
    app = make_shop()
    served = serve(app)
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    writes: list[str] = []
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine

    def count(conn, cursor, statement, *args):
        writes.append(statement) if "specter_callback_log" in statement else None

    event.listen(engine, "before_cursor_execute", count)
    try:
        started = time.monotonic()
        with requests.Session() as s:
            answers = [s.get(f"{served.url}/specter/callback/stock?token={token}", timeout=10) for _ in range(150)]
            refused = [s.get(f"{served.url}/specter/callback/stock?token=wrong", timeout=10) for _ in range(50)]
        elapsed = time.monotonic() - started
        wait_until(lambda: writes, message="the record to be written")
        time.sleep(0.3)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert {r.text for r in answers} == {"1;Done"} and {r.status_code for r in refused} == {403}
    # one UPDATE (plus the first INSERT) per second per outcome, not one per call
    assert len(writes) <= 2 * (int(elapsed) + 2) + 2, (len(writes), elapsed)


def test_callback_parameters_the_shop_cannot_store_are_refused_before_done(make_shop, serve):
    app = make_shop()
    served = serve(app)
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    queue = app.extensions["specter"].queue.queue
    base = f"{served.url}/specter/callback"
    refused = [
        requests.get(f"{base}/invoice", params={"token": token, "orderId": "10234", "invoiceId": "F" * 41}, timeout=10),
        requests.get(f"{base}/invoice", params={"token": token, "orderId": "10\x0034", "invoiceId": "F-1"}, timeout=10),
        requests.get(f"{base}/invoice", params={"token": token, "orderId": "1" * 41, "invoiceId": "F-1"}, timeout=10),
        requests.get(f"{base}/invoice", params={"token": token, "orderId": "10234", "invoiceId": "F-1", "invoiceSource": "x\x01"}, timeout=10),
        requests.post(f"{base}/order-removed", data={"token": token, "orderNo": "10\x0034"}, timeout=10),
        requests.get(f"{base}/order-removed", params={"token": token, "orderNo": "9" * 200}, timeout=10),
    ]
    for resp in refused:
        assert resp.status_code == 400 and resp.text.startswith("0;20;"), resp.text
    assert "invoiceId is longer than 40 characters" in refused[0].text
    assert "control character" in refused[1].text
    assert queue.count == 0  # nothing was queued that the job could not store

    ok = requests.get(f"{base}/invoice", params={"token": token, "orderId": "10234", "invoiceId": "F" * 40}, timeout=10)
    assert ok.text == "1;Done"
    assert requests.get(f"{base}/order-removed", params={"token": token, "orderNo": "10234"}, timeout=10).text == "1;Done"
    assert queue.count == 2


def test_flask_specter_status_warns_about_refused_calls(make_shop, serve):
    app = make_shop()
    served = serve(app)
    assert requests.get(f"{served.url}/specter/callback/orders?token=wrong", timeout=10).status_code == 403

    def status() -> str:
        return app.test_cli_runner().invoke(args=["specter", "status"]).output

    wait_until(lambda: "WARNING: Specter's call to orders refused" in status(), message="the warning in `flask specter status`")
    assert "fel token" in status() and "wrong" not in status()
