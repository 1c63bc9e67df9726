"""The admin toggles read once a second during a drain (``SettingsStore.snapshot``): a change made in this
process is seen at once, one made by another process within ``max_age`` seconds; outside a snapshot
every read goes to the database."""

from __future__ import annotations

import threading
import time

from sqlalchemy import create_engine, event, text

from flask_specter.settings import SNAPSHOT_SECONDS

from ._push_fixtures import all_sent
from .conftest import run_queued_jobs
from .test_outbox_drain import _checkout_new_customer, _shop


def _count_settings_reads(app) -> list[str]:
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if "specter_settings" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    with app.app_context():
        event.listen(app.extensions["specter"].db.engine, "before_cursor_execute", before)
    return seen


def _other_process_sets(app, key: str, value: bool) -> None:
    """Another process changes a toggle: its own connection, not this app's store."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.begin() as conn:
            word = "true" if value else "false"
            if conn.execute(text("UPDATE specter_settings SET value = :v WHERE key = :k"), {"v": word, "k": key}).rowcount == 0:
                conn.execute(text("INSERT INTO specter_settings (key, value, updated_at) VALUES (:k, :v, CURRENT_TIMESTAMP)"), {"k": key, "v": word})
    finally:
        engine.dispose()


def test_a_snapshot_reads_the_toggles_once_for_many_gets(make_shop):
    app = make_shop()
    reads = _count_settings_reads(app)
    with app.app_context():
        settings = app.extensions["specter"].settings
        with settings.snapshot():
            values = [settings.get(key) for key in ("send_order_mail", "ignore_email_check", "ignore_org_no_check") * 20]
        assert len(reads) == 1
        assert values[:3] == [False, False, False]
        settings.get("send_order_mail")
        settings.get("send_order_mail")
        assert len(reads) == 3  # outside a snapshot: a read per get


def test_a_change_in_this_process_is_seen_at_once_even_by_another_threads_snapshot(make_shop):
    app = make_shop()
    with app.app_context():
        settings = app.extensions["specter"].settings
        with settings.snapshot(max_age=60):
            assert settings.get("send_order_mail") is False
            settings.set("send_order_mail", True)
            assert settings.get("send_order_mail") is True
    seen: list[bool] = []
    looked, changed = threading.Event(), threading.Event()

    def drain_thread():
        with app.app_context():
            with settings.snapshot(max_age=60):
                seen.append(settings.get("delete_orders"))
                settings._db.session.commit()  # a drain commits every row
                looked.set()
                changed.wait(10)
                seen.append(settings.get("delete_orders"))
                settings._db.session.commit()

    thread = threading.Thread(target=drain_thread)
    thread.start()
    looked.wait(10)
    with app.app_context():
        settings.update({"delete_orders": True})  # the admin's form, in another thread of this process
    changed.set()
    thread.join(10)
    assert seen == [False, True]


def test_a_change_by_another_process_is_seen_within_max_age(make_shop):
    app = make_shop()
    with app.app_context():
        settings = app.extensions["specter"].settings
        with settings.snapshot(max_age=0.3):
            assert settings.get("ignore_email_check") is False
            settings._db.session.commit()  # a drain commits every row (and SQLite has one writer)
            _other_process_sets(app, "ignore_email_check", True)
            started = time.monotonic()
            while not settings.get("ignore_email_check"):
                settings._db.session.commit()  # a drain commits every row: the next read sees the change
                time.sleep(0.02)
            assert time.monotonic() - started <= 0.3 + 0.25
        settings._db.session.commit()
        _other_process_sets(app, "ignore_email_check", False)
        assert settings.get("ignore_email_check") is False  # outside a snapshot: at once


def test_the_drain_reads_the_toggles_once_a_second_not_per_row(make_shop, sandbox):
    assert SNAPSHOT_SECONDS <= 1.0  # the bound the admin is promised (README, settings.py)
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    for i in range(6):
        _checkout_new_customer(app, i)
    reads = _count_settings_reads(app)
    run_queued_jobs(app)
    assert all_sent(app)
    # 6 customers (2 toggles each) and 6 orders (1 toggle each) sent: 18 reads before; now one per drain
    # job and second, and the stock pull the acknowledged orders asked for reads its own toggle
    assert len(reads) <= 4, reads

