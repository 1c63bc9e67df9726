""""Testa anslutningen" (flask_specter.checks): each check's failure names its cause, and the happy path
is all green against the sandbox over real HTTP."""

from __future__ import annotations

import pytest

from flask_specter.checks import (
    CheckOutcome,
    check_callback_urls,
    check_credentials,
    check_last_callbacks,
    check_public_url,
    check_service_articles,
    check_worker,
    run_checks,
)

from .conftest import wait_until
from .test_stock_sync import activate_served, seed

pytestmark = pytest.mark.timeout(120)


def _with_worker(make_shop, live_worker, **config):
    """A shop whose jobs run: a real RQ worker on Redis, else the embedded worker thread."""
    app = make_shop(**config)
    if app.extensions["specter"].queue.embedded:
        app = make_shop(SPECTER_EMBEDDED_WORKER=True, **config)
    else:
        live_worker(app)
    return app


def _results(app):
    with app.app_context():
        return {r.key: r for r in run_checks()}


def test_all_green_on_the_happy_path(make_shop, sandbox, serve, live_worker):
    app = _with_worker(make_shop, live_worker, SPECTER_CHECK_ALLOW_HTTP_LOOPBACK=True)
    seed(sandbox, app, 2, stock=10)
    activate_served(app, serve)
    with app.app_context():
        from flask_specter.service_articles import create_service_articles

        create_service_articles()
    sandbox.hooks.pos_sale("SKU-00000", 1)  # Specter calls the shop: an accepted call
    wait_until(lambda: _results(app)["last_callbacks"].ok, message="an accepted call from Specter")
    results = _results(app)
    assert [r.key for r in results.values()] == ["credentials", "callbacks", "public_url", "service_articles", "worker", "last_callbacks"]
    assert {k: r.outcome for k, r in results.items()} == dict.fromkeys(results, CheckOutcome.OK), {k: (r.detail, r.cause) for k, r in results.items() if not r.ok}
    assert "Specter godkände signaturen" in results["credentials"].detail
    assert "5 adresser under http://127.0.0.1:" in results["callbacks"].detail and app.config["SPECTER_CALLBACK_TOKEN"] not in results["callbacks"].detail
    assert "kan inte läsa tillbaka" in results["callbacks"].detail


def test_a_wrong_key_is_named_as_the_cause(make_shop, sandbox):
    app = make_shop(SPECTER_USER_KEY="not-the-key")
    with app.app_context():
        result = check_credentials()
    assert result.outcome is CheckOutcome.FAIL and "nekade signaturen" in result.detail
    assert "SPECTER_USER_KEY" in result.cause and "Kopiera" in result.fix
    app.config["SPECTER_SBM_ID"] = "9999"
    with app.app_context():
        result = check_credentials()
    assert result.outcome is CheckOutcome.FAIL and "känner inte igen SBM-id 9999" in result.detail


def test_specter_unreachable_and_missing_credentials(make_shop, sandbox):
    app = make_shop(SPECTER_API_URL="http://127.0.0.1:9/")
    with app.app_context():
        result = check_credentials()
    assert result.outcome is CheckOutcome.FAIL and "gick inte att nå" in result.detail and "brandvägg" in result.cause
    app.config["SPECTER_INTEGRATION_KEY"] = ""
    with app.app_context():
        result = check_credentials()
    assert result.outcome is CheckOutcome.FAIL and "SPECTER_INTEGRATION_KEY" in result.detail


def test_the_signed_read_leaves_nothing_frozen_in_specter(make_shop, sandbox, live_worker):
    app = make_shop()
    live_worker(app)
    with app.app_context():
        assert check_credentials().ok
    assert not sandbox.hooks.state()["feeds"]["orders"]["openBatch"]


def test_public_url_unreachable_http_and_wrong_token(make_shop, sandbox, serve):
    app = make_shop(SPECTER_PUBLIC_URL="http://127.0.0.1:1")
    with app.app_context():
        result = check_public_url()
    assert result.outcome is CheckOutcome.FAIL and "når inte" in result.detail and "DNS" in result.cause and "token=***" in result.detail

    served = serve(app)
    app.config["SPECTER_PUBLIC_URL"] = served.url
    with app.app_context():
        result = check_public_url()
    assert result.outcome is CheckOutcome.WARN and "http" in result.detail and "HTTPS" in result.cause  # no loopback exception asked for
    app.config["SPECTER_CHECK_ALLOW_HTTP_LOOPBACK"] = True
    with app.app_context():
        assert check_public_url().ok

    other = make_shop(SPECTER_CALLBACK_TOKEN="another-installations-own-token")  # another installation answers there
    app.config["SPECTER_PUBLIC_URL"] = serve(other).url
    with app.app_context():
        result = check_public_url()
    assert result.outcome is CheckOutcome.FAIL and "403" in result.detail and "annan installation" in result.cause

    app.config["SPECTER_PUBLIC_URL"] = served.url + "/fel-sokvag"
    with app.app_context():
        result = check_public_url()
    assert result.outcome is CheckOutcome.FAIL and "404" in result.detail


def test_the_ping_route_needs_the_token_and_is_not_a_call_from_specter(make_shop):
    app = make_shop()
    with app.test_client() as c:
        assert c.get("/specter/callback/ping?token=wrong").status_code == 403
        ok = c.get(f"/specter/callback/ping?token={app.config['SPECTER_CALLBACK_TOKEN']}")
        assert ok.status_code == 200 and ok.text == "1;pong"
    with app.app_context():
        assert check_last_callbacks().outcome is CheckOutcome.WARN  # never called by Specter: nothing recorded


def test_callback_urls_changed_since_activation(make_shop, sandbox, serve):
    app = make_shop()
    with app.app_context():
        result = check_callback_urls()
    assert result.outcome is CheckOutcome.WARN and "Aktivera automatisk lagersynkronisering" in result.fix
    activate_served(app, serve)
    with app.app_context():
        assert check_callback_urls().ok
    app.config["SPECTER_CALLBACK_TOKEN"] = "rotated-without-activating-again"
    with app.app_context():
        result = check_callback_urls()
    assert result.outcome is CheckOutcome.FAIL and "ändrats" in result.detail and "callback-token" in result.cause


def test_no_worker_and_missing_service_articles(make_shop, sandbox):
    app = make_shop()  # SPECTER_EMBEDDED_WORKER off, and no worker on Redis
    with app.app_context():
        worker = check_worker()
        articles = check_service_articles()
    assert worker.outcome is CheckOutcome.FAIL and ("flask specter worker" in worker.cause or "SPECTER_EMBEDDED_WORKER" in worker.cause)
    assert articles.outcome is CheckOutcome.FAIL and "frakt" in articles.detail and "rabatt" in articles.detail and "fel 21" in articles.cause


def test_a_refused_call_from_specter_names_the_token(make_shop):
    app = make_shop()
    with app.test_client() as c:
        response = c.get("/specter/callback/stock?token=old-token")
        assert response.status_code == 403
        response.close()  # the call is recorded once its answer is sent

    def result():
        with app.app_context():
            return check_last_callbacks()

    wait_until(lambda: result().outcome is CheckOutcome.FAIL, timeout=10, message="the refusal to be recorded")
    assert "fel token" in result().detail and "token har bytts" in result().cause and "Aktivera automatisk lagersynkronisering" in result().fix


def test_flask_specter_check_exits_1_on_a_failure_and_words_it(make_shop, sandbox):
    app = make_shop(SPECTER_USER_KEY="not-the-key")
    result = app.test_cli_runner().invoke(args=["specter", "check"])
    assert result.exit_code == 1
    assert "[FEL] Inloggningsuppgifterna" in result.output and "Trolig orsak:" in result.output and "Åtgärd:" in result.output
