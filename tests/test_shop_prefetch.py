"""The adapter's ``prefetch``: the outbox drain loads a batch's customers and orders (with their lines)
in a few statements, then reads each row from the session; a prefetch that fails costs only its time."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from ._push_fixtures import all_sent, ctx, entries, order_row
from .conftest import run_queued_jobs
from .test_outbox_drain import _checkout_new_customer, _orders_sent_once, _shop

pytestmark = [pytest.mark.timeout(120)]


def _statements(engine) -> list[str]:
    seen: list[str] = []
    def seen_select(conn, cursor, statement, *rest):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", seen_select)
    return seen


def test_prefetch_loads_orders_lines_and_customers_in_three_statements(make_shop, sandbox):
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    placed = [_checkout_new_customer(app, i) for i in range(5)]
    with ctx(app) as state:
        adapter, session = state.adapter, state.db.session
        refs = [str(order_id) for order_id, _number in placed]
        seen = _statements(state.db.engine)
        held = adapter.prefetch(orders=refs)
        assert len(seen) == 3  # the orders, their lines, their customers
        assert len(held) == 10
        seen.clear()
        for ref in refs:  # the drain's reads of each row: all from the session
            record = adapter.order_record(adapter.get_order(ref))
            assert len(record.lines) == 1
            adapter.customer_record(adapter.get_customer(record.customer_ref))
            assert adapter.order_ready(adapter.get_order(ref))
        assert seen == []
        session.remove()


def test_a_failing_prefetch_leaves_the_rows_read_one_by_one(make_shop, sandbox, monkeypatch):
    app = _shop(make_shop, sandbox, REDIS_URL=None, SPECTER_REDIS_URL=None)
    adapter = app.extensions["specter"].adapter
    calls: list[int] = []

    def broken(**refs):
        calls.append(1)
        raise ValueError("a shop model the prefetch cannot load")

    monkeypatch.setattr(adapter, "prefetch", broken)
    placed = [_checkout_new_customer(app, i) for i in range(4)]
    assert len(entries(app)) == 8
    run_queued_jobs(app)
    assert calls and all_sent(app)
    _orders_sent_once(sandbox, [number for _id, number in placed])
    assert all(order_row(app, oid)["specter_order_no"] for oid, _n in placed)
