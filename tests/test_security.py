"""Secrets stay out of logs and pages: the callback token is hidden in access logs, keys never shown."""

from __future__ import annotations

import logging

import requests

from flask_specter.redact import redact


def test_the_callback_token_never_reaches_the_access_log(make_shop, serve, caplog):
    app = make_shop()
    served = serve(app)
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        assert requests.get(f"{served.url}/specter/callback/stock?token={token}", timeout=5).text == "1;Done"
        assert requests.get(f"{served.url}/specter/callback/stock?token=wrong-{token}", timeout=5).status_code == 403
    assert "callback/stock" in caplog.text
    assert token not in caplog.text and "token=***" in caplog.text


def test_redaction_hides_personnummer_email_and_tokens():
    text = redact("orgNo=19121212-1212 (8112189876) email asa.oberg@example.se url ?token=s3cret&x=1")
    assert "1212-1212" not in text and "8112189876" not in text and "asa.oberg" not in text and "s3cret" not in text


def test_client_repr_and_status_never_show_secrets(make_shop):
    app = make_shop()
    with app.app_context():
        client = app.extensions["specter"].client
        assert app.config["SPECTER_USER_KEY"] not in repr(client)
        assert app.config["SPECTER_INTEGRATION_KEY"] not in repr(client)
