"""A host's GET views that write keep working on SQLite while the worker writes (issue 23, 1.2).

The tuning begins GET requests as readers; SQLite cannot let a reader that turns into a writer wait for
the lock, so before ``sqlite.py`` began such a transaction again as a writer, a guest cart made by a
context processor or a payment's return URL failed with ``database is locked`` whenever the worker
committed a stock chunk meanwhile. Here the host's views run in this process, the shop's web process
and ``flask specter worker`` (or, without Redis, the web process's embedded worker) in others, all on
one SQLite file, while 5,000 stock rows are applied and orders are drained.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from functools import partial

import pytest
import requests
from flask import request
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_specter.models import OutboxEntry
from flask_specter.sqlite import reading_only

from .conftest import API_HEADERS, free_port, wait_until
from .test_sqlite_processes import TOKEN, Processes, _env, _up
from .test_sqlite_tuning import LockHolder
from .test_stock_sync import add_products, stock_rows

pytestmark = pytest.mark.timeout(600)

ROWS = 5000
ROUNDS = 2  # two stock changes of every row: the loops meet more than one pull and apply
ORDERS = 24
BUY = "KÖP-1"  # what the orders buy (outside the 5,000 whose stock is compared)


class HostBase(DeclarativeBase):
    """The host's own tables, which the extension knows nothing of."""


class GuestCart(HostBase):
    __tablename__ = "host_guest_cart"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)


class PaymentReturn(HostBase):
    __tablename__ = "host_payment_return"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_number: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(40), unique=True)


def host_app(make_shop, db_file, **config):
    """The example shop as a host that writes on GET: a context processor makes a guest cart (read, then
    insert), and a payment's return URL reads the order, marks it and commits a follow-up row."""
    from example_shop.models import Order

    app = make_shop(SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_file}", **config)
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        HostBase.metadata.create_all(db.engine)

    @app.context_processor
    def guest_cart():
        token = request.args.get("cart")
        if not token:
            return {}
        cart = db.session.execute(select(GuestCart).where(GuestCart.token == token)).scalar_one_or_none()
        if cart is None:
            cart = GuestCart(token=token)
            db.session.add(cart)
            db.session.commit()
        return {"guest_cart": cart}

    def payment_return(number: str):
        order = db.session.execute(select(Order).where(Order.number == number)).scalar_one()
        reference = request.args["ref"]
        order.payment_reference = reference
        db.session.add(PaymentReturn(order_number=number, reference=reference))
        db.session.commit()
        return "OK"

    app.add_url_rule("/payment/return/<number>", "payment_return", payment_return)
    return app


class Loop:
    """One client calling one kind of GET in a loop until stopped; every answer and failure kept."""

    def __init__(self, app, path_for, applying: threading.Event):
        self.client = app.test_client()
        self.path_for, self.applying = path_for, applying
        self.done: list[str] = []  # the keys answered 200
        self.failed: list[str] = []
        self.seconds: list[float] = []  # of those made while stock rows were being applied
        self.during_apply = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            key = uuid.uuid4().hex[:16]
            path = self.path_for(i, key)
            i += 1
            applying = self.applying.is_set()
            began = time.monotonic()
            try:
                resp = self.client.get(path)
                status = resp.status_code
            except Exception as exc:  # TESTING propagates the view's exception: a 500 in production
                self.failed.append(f"GET {path}: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            if applying and self.applying.is_set():
                self.seconds.append(time.monotonic() - began)
                self.during_apply += 1
            if status == 200:
                self.done.append(key)
            else:
                self.failed.append(f"GET {path}: {status}")


def _place_orders(web_url: str, errors: list[str], numbers: list[str]) -> None:
    """Customers buying through the shop's web process while the stock is applied: each order is drained."""
    http = requests.Session()
    http.headers.update(API_HEADERS)
    customer = http.post(f"{web_url}/api/customers", json={"email": "gäst@example.se", "first_name": "Greta", "last_name": "Gäst"}, timeout=120)
    if customer.status_code != 201:
        errors.append(f"customer: {customer.status_code} {customer.text[:200]}")
        return
    for _ in range(ORDERS):
        resp = http.post(f"{web_url}/api/orders", json={"customer_id": customer.json()["id"], "lines": [{"sku": BUY, "qty": 1}]}, timeout=120)
        if resp.status_code != 201:
            errors.append(f"order: {resp.status_code} {resp.text[:200]}")
            continue
        numbers.append(resp.json()["number"])
        time.sleep(0.05)


def _stock_round(sandbox, web_url: str, round_no: int) -> None:
    """Every one of the 5,000 articles changes in Specter, and Specter calls the shop's web process."""
    if round_no:
        sandbox.hooks.adjust_stock_bulk([{"articleNo": f"GW-{i:05d}", "inStock": 40 + round_no * 10 + i % 9} for i in range(ROWS)])
    resp = requests.get(f"{web_url}/specter/callback/stock?token={TOKEN}", timeout=120)
    assert resp.status_code == 200, resp.text


def _rows_stored(app, applied_before: int) -> bool:
    rows = stock_rows(app)
    return bool(rows.get("pending")) or rows.get("applied", 0) >= applied_before + ROWS


def _settled(app, sandbox, numbers: list[str]) -> bool:
    from example_shop.models import Product

    db = app.extensions["sqlalchemy"]
    want = {a["articleNo"]: a["available"] for a in sandbox.hooks.state()["articles"] if a["articleNo"].startswith("GW-")}
    with app.app_context(), reading_only():
        have = dict(db.session.execute(select(Product.sku, Product.stock).where(Product.sku.like("GW-%"))).all())
        unsent = db.session.execute(select(func.count()).select_from(OutboxEntry).where(OutboxEntry.state != "sent")).scalar()
    return len(numbers) == ORDERS and have == want and unsent == 0


def _summary(seconds: list[float]) -> str:
    if not seconds:
        return "none"
    ordered = sorted(seconds)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{len(ordered)} loads, median {statistics.median(ordered) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"


def test_get_views_that_write_answer_200_while_a_worker_process_applies_stock_and_drains_orders(make_shop, sandbox, tmp_path):
    redis_url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    db_file = tmp_path / "host.sqlite3"
    app = host_app(make_shop, db_file)
    skus = [f"GW-{i:05d}" for i in range(ROWS)]
    sandbox.hooks.create_articles([{"articleNo": s, "name": f"Artikel {s}", "priceExclVat": "100.00", "vatPercent": 25, "inStock": 20 + i % 7} for i, s in enumerate(skus)])
    sandbox.hooks.create_articles([{"articleNo": BUY, "name": "Köpvara", "priceExclVat": "50.00", "vatPercent": 25, "inStock": 10_000}])
    add_products(app, skus)
    add_products(app, [BUY], stock=10_000)
    sandbox.hooks.configure(callbacksEnabled=False)  # the test calls the stock callback itself

    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    env = _env(db_file, sandbox, web_url, redis_url)
    env["SPECTER_QUEUE_NAME"] = app.config["SPECTER_QUEUE_NAME"]  # the host's views nudge the same queue
    env["SPECTER_STOCK_BATCH_SIZE"] = "100"
    procs = Processes(tmp_path, env)

    applying = threading.Event()
    numbers: list[str] = []
    carts = Loop(app, lambda i, key: f"/product/GW-{i % ROWS:05d}?cart={key}", applying)
    payments = Loop(app, lambda i, key: f"/payment/return/{numbers[i % len(numbers)]}?ref={key}", applying)
    page = Loop(app, lambda i, key: f"/product/GW-{(i * 7) % ROWS:05d}", applying)  # a page that only reads
    errors: list[str] = []
    apply_seconds: list[float] = []  # from the rows stored to the last applied, each round
    try:
        procs.serve("web", "run", "--port", str(port), "--no-reload", "--no-debugger", "--with-threads")
        wait_until(lambda: _up(web_url), timeout=60, message="the shop's web process to answer")
        if redis_url:
            procs.serve("worker", "specter", "worker")  # a real worker process; without Redis, the web process's embedded one
        orders = threading.Thread(target=_place_orders, args=(web_url, errors, numbers), daemon=True)
        orders.start()
        wait_until(lambda: numbers, timeout=60, message="a first order")
        for loop in (carts, payments, page):
            loop.thread.start()
        for round_no in range(ROUNDS):
            applied_before = stock_rows(app).get("applied", 0)
            _stock_round(sandbox, web_url, round_no)
            wait_until(partial(_rows_stored, app, applied_before), timeout=120, interval=0.02, message="the pull to store the rows")
            applying.set()
            began = time.monotonic()
            wait_until(lambda: not stock_rows(app).get("pending"), timeout=240, interval=0.05, message="the worker to apply them")
            apply_seconds.append(time.monotonic() - began)
            applying.clear()
        orders.join(timeout=240)
        wait_until(lambda: _settled(app, sandbox, numbers), timeout=240, interval=0.5, message="stock and orders to settle")
    finally:
        for loop in (carts, payments, page):
            loop.stop.set()
        for loop in (carts, payments, page):
            if loop.thread.is_alive():
                loop.thread.join(timeout=60)
        procs.stop()

    print(
        f"\napplies of {ROWS:,} rows: {', '.join(f'{s:.2f}' for s in apply_seconds)} s"
        f"\nread-only page during the apply: {_summary(page.seconds)}"
        f"\nguest carts: {len(carts.done)} made, {len(carts.failed)} failed ({carts.during_apply} during the apply: {_summary(carts.seconds)})"
        f"\npayment returns: {len(payments.done)} made, {len(payments.failed)} failed"
        f" ({payments.during_apply} during the apply: {_summary(payments.seconds)})"
    )
    assert errors == []
    assert carts.failed == [] and payments.failed == [] and page.failed == [], (carts.failed[:5], payments.failed[:5], page.failed[:5])
    assert carts.during_apply >= 5 and payments.during_apply >= 5 and page.during_apply >= 5
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        tokens = set(db.session.execute(select(GuestCart.token)).scalars())
        references = set(db.session.execute(select(PaymentReturn.reference)).scalars())
    assert set(carts.done) <= tokens and len(tokens) == len(carts.done)  # every cart answered 200 is there, no other
    assert set(payments.done) == references  # every payment's follow-up row, none lost


def test_a_get_view_that_reads_then_writes_waits_for_another_process_instead_of_failing(make_shop, tmp_path):
    """The lock held by another process when the view's read transaction turns into a writer: the view
    waits for it (as a POST does) and answers 200; its row is there."""
    app = host_app(make_shop, tmp_path / "held.sqlite3")
    web = app.test_client()
    with LockHolder(tmp_path / "held.sqlite3", 2) as holder:
        began = time.monotonic()
        page = web.get("/cart?cart=väntar")
        waited = time.monotonic() - began
        assert holder.released()
    assert page.status_code == 200 and waited > 1.0
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        assert db.session.execute(select(GuestCart.token).where(GuestCart.token == "väntar")).scalar() == "väntar"


def test_a_reader_begun_again_as_a_writer_keeps_its_savepoints(make_shop, tmp_path):
    """A view that opens a savepoint while it only reads, then writes after another process committed:
    the savepoint is set again in the writer, and rolling back to it undoes only what followed it."""
    import sqlite3

    path = tmp_path / "savepoint.sqlite3"
    app = host_app(make_shop, path)
    db = app.extensions["sqlalchemy"]
    other = sqlite3.connect(path, isolation_level=None)

    def view():
        db.session.execute(select(GuestCart.id)).all()  # reads: a deferred transaction
        other.execute("INSERT INTO host_guest_cart (token) VALUES ('other')")  # another process commits
        outer = db.session.begin_nested()
        db.session.add(GuestCart(token="kept"))
        db.session.flush()  # the first write: the transaction is begun again as a writer, the savepoint too
        inner = db.session.begin_nested()
        db.session.add(GuestCart(token="undone"))
        db.session.flush()
        inner.rollback()
        outer.commit()
        db.session.commit()
        return "OK"

    app.add_url_rule("/savepoints", "savepoints", view)
    try:
        assert app.test_client().get("/savepoints").status_code == 200
    finally:
        other.close()
    with app.app_context():
        assert set(db.session.execute(select(GuestCart.token)).scalars()) == {"other", "kept"}
