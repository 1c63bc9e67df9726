"""Personal data stays out of logs: a database error in a job is logged without the row it quotes, and
the personnummer mask leaves RQ job ids (UUIDs) alone.

The errors are real: a customer pushed to the sandbox by a real worker, a host receiver of
``customer_exported`` (or a job) whose INSERT violates a unique constraint on SQLite or PostgreSQL.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import text

from flask_specter import signals
from flask_specter.redact import install_log_redaction, redact

from .conftest import api_client, wait_until

PERSON = {
    "email": "asa.oberg@example.se",
    "first_name": "Åsa",
    "last_name": "Öbergsdotter",
    "org_no": "19850101-1234",
    "address": "Storgatan 17",
    "city": "Umeå",
}
SECRETS = ("asa.oberg@example.se", "Öbergsdotter", "19850101-1234", "850101-1234", "Storgatan 17")


def _crm_table(app) -> None:
    """A host table the shop copies exported customers to (one row per e-mail)."""
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        db.session.execute(text("CREATE TABLE crm_contact (email VARCHAR(254) UNIQUE, name VARCHAR(200), pnr VARCHAR(20), address VARCHAR(200))"))
        db.session.execute(
            text("INSERT INTO crm_contact (email, name, pnr, address) VALUES (:email, :name, :pnr, :address)"),
            {"email": PERSON["email"], "name": "old", "pnr": PERSON["org_no"], "address": PERSON["address"]},
        )
        db.session.commit()


def copy_to_crm(email: str) -> None:
    """The job/receiver body: an INSERT carrying the customer's data that the unique e-mail refuses."""
    from example_shop.models import db

    db.session.execute(
        text("INSERT INTO crm_contact (email, name, pnr, address) VALUES (:email, :name, :pnr, :address)"),
        {"email": email, "name": f"{PERSON['first_name']} {PERSON['last_name']}", "pnr": PERSON["org_no"], "address": PERSON["address"]},
    )
    db.session.commit()


def failing_job(email: str) -> None:
    """An RQ job that fails with that database error (RQ logs the traceback)."""
    try:
        copy_to_crm(email)
    finally:
        from example_shop.models import db

        db.session.rollback()


@pytest.mark.parametrize("hide_parameters", [None, False], ids=["shop-default", "host-without-hide_parameters"])
def test_a_database_error_after_a_customer_push_is_logged_without_the_customer(make_shop, sandbox, live_worker, caplog, hide_parameters):
    app = make_shop(**({} if hide_parameters is None else {"SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": hide_parameters}}))
    _crm_table(app)

    def on_exported(sender, customer_ref, customer_no):
        copy_to_crm(PERSON["email"])

    signals.customer_exported.connect(on_exported, app)
    try:
        with caplog.at_level(logging.INFO):
            live_worker(app)
            with api_client(app) as c:
                assert c.post("/api/customers", json=PERSON).status_code == 201
            wait_until(lambda: "follow-up after a successful push failed" in caplog.text, message="the receiver's failure to be logged")
    finally:
        signals.customer_exported.disconnect(on_exported, app)
    assert "IntegrityError" in caplog.text  # the error itself is still there for the developer
    for secret in SECRETS:
        assert secret not in caplog.text, secret


def test_a_job_failing_on_the_database_is_logged_without_the_row(make_shop, live_worker, caplog):
    app = make_shop(SQLALCHEMY_ENGINE_OPTIONS={"hide_parameters": False})
    _crm_table(app)
    queue = app.extensions["specter"].queue
    with caplog.at_level(logging.INFO):
        live_worker(app)
        job = queue.enqueue("tests.test_log_privacy.failing_job", PERSON["email"])
        wait_until(lambda: job.id in caplog.text and "IntegrityError" in caplog.text, message="RQ to log the failed job")
    for secret in SECRETS:
        assert secret not in caplog.text, secret
    assert job.id in caplog.text  # the job id (a UUID) is not mistaken for a personnummer


def test_job_ids_survive_the_personnummer_mask(caplog):
    install_log_redaction()  # what init_app does
    job_id = str(uuid.UUID("20241127-1234-47a2-8123-456789012345"))
    assert redact(f"Job {job_id}: exception raised") == f"Job {job_id}: exception raised"
    assert redact("batch 12345678901234567890123456789012") == "batch 12345678901234567890123456789012"
    with caplog.at_level(logging.INFO, logger="rq.worker"):
        logging.getLogger("rq.worker").info("Job %s: pnr 198501011234 and 850101-1234", job_id)
    assert job_id in caplog.text and "198501011234" not in caplog.text and "850101-1234" not in caplog.text
