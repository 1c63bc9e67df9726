"""A host with Flask-WTF's global ``CSRFProtect(app)``, made before or after ``Specter.init_app``:
Specter's callbacks answer exactly as without it, every Specter admin page opens, every form on those
pages works with the token it carries (found by reading the rendered pages, as a browser would), and
every POST without a token is still refused and changes nothing."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select

from flask_specter.models import ExportRun, FeedState, OutboxEntry, SettingRow
from tests.test_admin import TOKEN, close_app, db, make_admin_app, seed_demo_data

pytestmark = pytest.mark.timeout(180)

PAGES = ("/admin/specter/settings/", "/admin/specter/outbox/", "/admin/specter/transfer/", "/admin/specter/exports/", "/_test/order/1003")
REFUSALS = ("Formuläret saknade en giltig säkerhetstoken", "The CSRF token", "CSRF token is missing")
# Flask-Admin's own create / edit / delete / inline-edit endpoints: registered on every ModelView, switched
# off on Specter's read-only lists (can_create, can_edit, can_delete are False); no page links to them.
DISABLED_BUILTINS = ("create_view", "edit_view", "delete_view", "ajax_update")
SAMPLE_ARGS = {"unknown": "no-such-route", "kind": "products", "run_id": 1, "entry_id": 1, "order_id": "1001", "export_type": "csv"}


class Forms(HTMLParser):
    """The POST forms of a page (action, fields as a browser would send them), the list's row boxes and actions."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.rowids: list[str] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = {"method": (a.get("method") or "get").lower(), "action": a.get("action"), "id": a.get("id"), "fields": {}}
            if self._open["method"] == "post":
                self.forms.append(self._open)
        elif tag == "input" and a.get("name") == "rowid":
            self.rowids.append(a["value"])
        elif tag == "input" and self._open is not None and a.get("name"):
            if a.get("type") != "checkbox" or "checked" in a:
                self._open["fields"][a["name"]] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def read_forms(client, url: str) -> tuple[list[dict], str]:
    resp = client.get(url)
    assert resp.status_code == 200, url
    html = resp.get_data(as_text=True)
    parser = Forms()
    parser.feed(html)
    for form in parser.forms:
        if form["id"] == "action_form":  # Flask-Admin's script fills these from the ticked rows and the menu
            form["fields"]["action"] = re.search(r"modelActions\.execute\('(\w+)'\)", html).group(1)
            form["fields"]["rowid"] = parser.rowids
    return parser.forms, html


def make_app(folder, sandbox, csrf: str | None):
    """The admin test shop on the sandbox; ``csrf`` says when the host's CSRFProtect is made, if at all."""
    folder.mkdir()
    overrides = {**sandbox.credentials, "SPECTER_PUBLIC_URL": "http://127.0.0.1:1", "SPECTER_CHECK_ALLOW_HTTP_LOOPBACK": True, "SPECTER_TIMEOUT": 5.0}
    app = make_admin_app(folder, before_specter=CSRFProtect if csrf == "before" else None, **overrides)
    if csrf == "after":
        CSRFProtect(app)
    seed_demo_data(app)
    return app


@pytest.fixture(params=["before", "after"], ids=["csrfprotect-before-init_app", "csrfprotect-after-init_app"])
def apps(request, tmp_path, sandbox):
    """(the host with CSRFProtect, the same host without it)."""
    protected = make_app(tmp_path / "protected", sandbox, request.param)
    plain = make_app(tmp_path / "plain", sandbox, None)
    assert "csrf" in protected.extensions and "csrf" not in plain.extensions
    yield protected, plain
    close_app(protected)
    close_app(plain)


def logged_in(app):
    client = app.test_client()
    client.get("/_test/login")
    return client


def rules(app, prefix: str, method: str) -> list:
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint.startswith(prefix) and method in r.methods), key=lambda r: (r.endpoint, r.rule))


def url_of(rule) -> str:
    return rule.rule.replace("<path:unknown>", SAMPLE_ARGS["unknown"]) if "unknown" in rule.arguments else rule.build({k: SAMPLE_ARGS[k] for k in rule.arguments})[1]


def callback_calls(app) -> list[tuple[str, str, dict]]:
    """Every route of the callback blueprint, each method it takes, as Specter calls it (and wrongly)."""
    params = {"orderNo": "1001", "orderId": "1001", "invoiceId": "F-77"}
    calls = []
    for rule in rules(app, "specter.", "GET") + [r for r in rules(app, "specter.", "POST") if "GET" not in r.methods]:
        url = url_of(rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            calls.append((method, url, {"query_string": {"token": TOKEN, **params}}))
            calls.append((method, url, {"query_string": {"token": "wrong", **params}}))
            if method == "POST":
                calls.append((method, url, {"data": {"token": TOKEN, **params}}))  # the token in the form body
    return calls


def answers(app, calls, client=None) -> list[tuple[str, int, str]]:
    client = client or app.test_client()
    return [(f"{method} {url}", (r := client.open(url, method=method, **kw)).status_code, r.get_data(as_text=True)) for method, url, kw in calls]


def test_every_callback_route_answers_as_without_csrf_protect(apps):
    protected, plain = apps
    calls = callback_calls(plain)
    assert {url for _m, url, _kw in calls} >= {"/specter/callback/stock", "/specter/callback/orders", "/specter/callback/invoice",
                                               "/specter/callback/order-removed", "/specter/get_specter_articles", "/specter/callback/ping"}
    expected = answers(plain, calls)
    assert answers(protected, calls) == expected
    done = [call for call, status, body in expected if call.startswith("POST /specter/callback/") and body == "1;Done"]
    assert len(done) >= 8, expected  # the comparison is not vacuous: Specter's POSTs are accepted
    # An admin's own POSTs on the blueprint (the fixed export addresses, "Hämta produkter"): answered alike,
    # with the admin's token and without one.
    admin_calls = [(m, url, kw) for url in ("/specter/export_products", "/specter/export_customers", "/specter/get_specter_articles")
                   for m, kw in (("GET", {}), ("POST", {"data": {"csrf_token": "forged"}}))]
    expected_admin = answers(plain, admin_calls, logged_in(plain))
    assert answers(protected, admin_calls, logged_in(protected)) == expected_admin
    assert [status for _c, status, _b in expected_admin] == [302, 400, 302, 400, 403, 403]


def test_every_specter_view_function_has_a_module_and_a_name(apps):
    """CSRFProtect (and other extensions) name a view ``module.name``: a functools.partial answered 500."""
    protected, _plain = apps
    for endpoint, view in protected.view_functions.items():
        if endpoint.startswith("specter"):
            assert f"{view.__module__}.{view.__name__}", endpoint


def test_every_specter_admin_page_opens_under_csrf_protect(apps):
    protected, plain = apps
    get_rules = rules(plain, "specter_", "GET")
    urls = [url_of(rule) for rule in get_rules]
    assert {"/admin/specter/settings/", "/admin/specter/status/", "/admin/specter/transfer/", "/admin/specter/outbox/",
            "/admin/specter/exports/", "/admin/specter/exports/failures/1"} <= set(urls)
    calls = [("GET", url, {}) for url in urls]
    expected = answers(plain, calls, logged_in(plain))
    got = answers(protected, calls, logged_in(protected))
    assert [(c, s) for c, s, _b in got] == [(c, s) for c, s, _b in expected]
    for call, status, body in got:
        assert status < 500, call
        if status == 200:
            assert not any(r in body for r in REFUSALS), call
    assert all(status == 200 for call, status, _b in got if call.endswith(("/settings/", "/status/", "/transfer/", "/outbox/", "/exports/", "/failures/1")))


def test_every_form_on_the_specter_pages_works_with_its_token(apps, sandbox):
    protected, _plain = apps
    client = logged_in(protected)
    submitted: set[str] = set()
    outcomes: dict[str, str] = {}
    for page in PAGES:
        forms, _html = read_forms(client, page)
        for form in forms:
            data = dict(form["fields"])
            if form["action"].endswith("/settings/save"):
                data["delete_orders"] = "y"  # tick one toggle, as the admin would
            resp = client.post(form["action"], data=data)
            assert resp.status_code in (200, 302, 303), (page, form["action"], resp.status_code)
            body = client.get(resp.headers["Location"]).get_data(as_text=True) if resp.status_code in (302, 303) else resp.get_data(as_text=True)
            assert not any(r in body for r in REFUSALS), (page, form["action"])
            outcomes[form["action"]] = body
            submitted.add(protected.url_map.bind("localhost").match(form["action"], method="POST")[0])
    # Every POST the Specter admin offers was reached from a rendered page.
    offered = {r.endpoint for r in rules(protected, "specter_", "POST") if not r.endpoint.endswith(DISABLED_BUILTINS)}
    assert offered <= submitted, offered - submitted
    with protected.app_context():
        session = db.session
        assert session.get(SettingRow, "delete_orders").value == "true"
        # One product export (it carries the stock); this shop has no customer model, so no customer export.
        assert [run.kind for run in session.execute(select(ExportRun)).scalars()] == ["products"]
    assert "Förloppet visas nedan" in outcomes["/admin/specter/exports/start/products"]
    assert "Inställningarna sparades." in outcomes["/admin/specter/settings/save"]
    assert "Automatisk lagersynkronisering är aktiverad" in outcomes["/admin/specter/settings/activate"]
    assert "Produkthämtning från Specter startad." in outcomes["/admin/specter/settings/pull-articles"]
    assert sandbox.hooks.calls("checkAccountSettings"), "activation never reached Specter"


def database_state(app) -> list:
    with app.app_context():
        session = db.session
        return [
            sorted((row.key, row.value) for row in session.execute(select(SettingRow)).scalars()),
            sorted((run.id, run.kind, run.state, run.done) for run in session.execute(select(ExportRun)).scalars()),
            sorted((e.id, e.state, e.attempts, e.next_attempt_at) for e in session.execute(select(OutboxEntry)).scalars()),
            sorted((f.feed, bool(f.pull_requested)) for f in session.execute(select(FeedState)).scalars()),
        ]


def test_without_a_token_every_post_is_refused_and_changes_nothing(apps, sandbox):
    protected, _plain = apps
    client = logged_in(protected)
    before = database_state(protected)
    refused = []
    for page in PAGES:
        forms, _html = read_forms(client, page)
        for form in forms:
            data = {k: v for k, v in form["fields"].items() if k != "csrf_token"}
            for token in ({}, {"csrf_token": "forged"}):
                resp = client.post(form["action"], data={**data, **token})
                refused.append((form["action"], resp.status_code))
    for url in ("/specter/export_products", "/specter/get_specter_articles"):
        refused.append((url, client.post(url, data={"csrf_token": "forged"}).status_code))
    assert refused and all(status in (400, 403) for _url, status in refused), refused
    assert database_state(protected) == before
    assert not sandbox.hooks.calls("checkAccountSettings")


def test_another_extension_under_the_csrf_key_is_left_alone(tmp_path):
    """Only Flask-WTF's CSRFProtect is asked to exempt the blueprint: another object under the same key
    (whose ``exempt`` may take view functions only) never makes the host's requests fail."""

    class OtherCsrf:
        def exempt(self, view):
            return f"{view.__module__}.{view.__name__}"  # a Blueprint has no __name__

    app = make_admin_app(tmp_path)
    try:
        app.extensions["csrf"] = OtherCsrf()
        client = app.test_client()
        assert client.get(f"/specter/callback/ping?token={TOKEN}").get_data(as_text=True) == "1;pong"
        assert client.get("/_test/login").status_code == 200
    finally:
        close_app(app)
