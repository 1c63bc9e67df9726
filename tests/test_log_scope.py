"""Log redaction stays on the extension's loggers: the host's own log lines are left as they are.

The callback token is still hidden on the server's request lines of the callback URLs (real HTTP,
through werkzeug's request log): that filter sits on werkzeug's logger because werkzeug logs the URL
before any code of the extension runs.
"""

from __future__ import annotations

import logging

import requests

from flask_specter.redact import CallbackTokenFilter, RedactingFilter

EMAIL = "asa.oberg@example.se"
PNR = "850101-1234"


def test_redaction_is_not_installed_on_the_root_or_the_hosts_loggers(make_shop, caplog):
    make_shop()
    assert not any(isinstance(f, RedactingFilter | CallbackTokenFilter) for f in logging.getLogger().filters)
    with caplog.at_level(logging.INFO):
        logging.getLogger("host.orders").info("order mail sent to %s (%s)", EMAIL, PNR)
        logging.getLogger("flask_specter.outbox").info("customer %s (%s) pushed", EMAIL, PNR)
    host_line, our_line = (r.getMessage() for r in caplog.records)
    assert EMAIL in host_line and PNR in host_line  # the host's line is the host's business
    assert EMAIL not in our_line and PNR not in our_line


def test_the_request_log_hides_only_the_callback_token(make_shop, serve, caplog):
    app = make_shop()
    served = serve(app)
    token = app.config["SPECTER_CALLBACK_TOKEN"]
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        assert requests.get(f"{served.url}/specter/callback/stock?token={token}", timeout=5).text == "1;Done"
        requests.get(f"{served.url}/search?q={EMAIL}&token=host-reset-link", timeout=5)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    callback = next(line for line in lines if "callback/stock" in line)
    host = next(line for line in lines if "/search" in line)
    assert token not in callback and "token=***" in callback
    assert EMAIL in host and "token=host-reset-link" in host  # a host URL is logged as the host logs it
