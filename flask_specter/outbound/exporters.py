"""Building and sending each kind of outbox row from the shop's CURRENT data.

Jobs carry ids only; the product, customer or order is read here, when it is sent, so a row that
waited an hour sends what the shop holds now. Each push changes the shop (Specter numbers, links) in
the caller's session without committing: ``outbox`` commits that together with the row's new state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete

from .. import signals
from ..messages import ORDER_NOT_READY
from ..models import Link, OutboxEntry, linked, upsert_link, upsert_links, utcnow
from ..origin import mark_transfer_only
from ..remote.errors import (
    ExplainedError,
    SpecterDuplicateOrderError,
    SpecterNoRowsError,
    SpecterProtocolError,
    SpecterUnknownArticleError,
    SpecterUnknownCustomerError,
    SpecterUnknownOrderError,
)
from ..state import SpecterState
from . import wire
from .guests import guest_customer_no, order_guest


@dataclass
class Outcome:
    """What a successful push leaves behind; ``after`` runs once the transaction is committed."""

    remote_id: str | None = None
    note: str | None = None
    after: list[Callable[[], Any]] = field(default_factory=list)


class Deferred(Exception):
    """Not now: something this row depends on is still on its way. Not a failed attempt."""

    def __init__(self, why: str, delay: float = 1.0):
        super().__init__(why)
        self.delay = delay


class NotReady(Deferred):
    """The order is not ready to send (``ShopAdapter.order_ready``, or Specter found no rows): the row
    stays pending with ``reason`` (Swedish, shown in the admin) until the order or a line changes, or
    the sweep comes by after ``delay`` seconds. Never a failed attempt."""

    def __init__(self, reason: str, delay: float):
        super().__init__("the order is not ready to send", delay)
        self.reason = reason


DUPLICATE_NOTE = "Ordern fanns redan i Specter (svaret på ett tidigare försök gick förlorat)."


class PushProblem(ExplainedError):
    """The shop's own data makes the push impossible (no customer on the order, ...): a person must act."""


# -- products ---------------------------------------------------------------------------------------


def push_product(state: SpecterState, entry: OutboxEntry) -> Outcome:
    session, adapter = state.db.session, state.adapter
    sku = entry.ref
    if entry.op == "delete":
        return _delete_product(state, sku)
    if not state.settings.get("product_sync"):
        return Outcome(note="Produktsynk till Specter är avstängd; inget skickades.")
    product = adapter.get_product(sku)
    if product is None:
        return Outcome(note="Produkten finns inte längre i butiken; inget skickades.")
    record = adapter.product_record(product)
    known = linked(session, "product", sku) is not None
    if entry.op == "create" or not known:
        # New in Specter: the shop's stock goes along once (seed 000); Specter is stock master after.
        state.client.submit_articles([wire.article_fields(record, with_stock=True)], force_update=entry.op != "create")
    else:
        state.client.submit_articles([wire.article_fields(record)], force_update=True)  # data only, never stock
    upsert_link(session, "product", sku, sku)
    op = entry.op
    return Outcome(remote_id=sku, after=[lambda: signals.product_exported.send(state.app, sku=sku, op=op)])


def _delete_product(state: SpecterState, sku: str) -> Outcome:
    session = state.db.session
    if not state.settings.get("delete_in_specter"):
        return Outcome(note="Produkten raderades bara i butiken (\"Radera från Specter\" är false).")
    try:
        state.client.delete_article(sku)
        note = None
    except SpecterUnknownArticleError:
        note = "Artikeln fanns inte i Specter."
    session.execute(delete(Link).where(Link.kind == "product", Link.local_id == sku))
    return Outcome(remote_id=sku, note=note, after=[lambda: signals.product_exported.send(state.app, sku=sku, op="delete")])


# -- customers --------------------------------------------------------------------------------------


def customer_specter_no(state: SpecterState, customer: Any) -> str | None:
    value = state.adapter.customer_specter_no(customer)
    return value if value else linked(state.db.session, "customer", state.adapter.customer_ref(customer))


def customer_flags(state: SpecterState) -> dict[str, Any]:
    """newCustomerSubmit's matching flags from the admin's toggles; the shop is master, so
    ``force_update`` (Specter-only fields such as priority and salesperson survive)."""
    settings = state.settings
    return {"force_update": True, "ignore_email": settings.get("ignore_email_check"), "ignore_org_no": settings.get("ignore_org_no_check")}


def submit_customer(state: SpecterState, fields: dict[str, Any], flags: dict[str, Any]) -> str:
    """newCustomerSubmit; Specter's customer number (an answer without one is an error)."""
    reply = state.client.submit_customer(fields, **flags)
    if not reply.id:
        raise SpecterProtocolError("Specter accepted the customer but sent no customer number")
    return str(reply.id)


@dataclass
class Writes:
    """The links and reservation acknowledgements of rows sent, written in one statement each
    (``write``): the drain records several rows at once. Without one, each record writes its own."""

    links: list[tuple[str, str, str]] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)

    def write(self, state: SpecterState) -> None:
        from ..stock import acknowledge_reservations

        upsert_links(state.db.session, self.links)
        acknowledge_reservations(*self.acks)  # held back until a figure that includes the order is applied
        self.links, self.acks = [], []


def record_customer(state: SpecterState, customer: Any, customer_no: str, writes: Writes | None = None) -> None:
    """The shop keeps Specter's customer number, on the customer and as a link (not committed)."""
    adapter = state.adapter
    adapter.set_customer_specter_no(customer, customer_no)
    pending = writes or Writes()
    pending.links.append(("customer", adapter.customer_ref(customer), customer_no))
    if writes is None:
        pending.write(state)


def send_customer(state: SpecterState, customer: Any) -> str:
    """newCustomerSubmit with the admin's matching toggles; the shop stores Specter's customer number."""
    customer_no = submit_customer(state, wire.customer_fields(state.adapter.customer_record(customer)), customer_flags(state))
    record_customer(state, customer, customer_no)
    return customer_no


def customer_sent(state: SpecterState, ref: str, customer_no: str) -> list[Callable[[], Any]]:
    """What follows a customer sent, once committed."""
    return [lambda: signals.customer_exported.send(state.app, customer_ref=ref, customer_no=customer_no)]


def push_customer(state: SpecterState, entry: OutboxEntry) -> Outcome:
    customer = state.adapter.get_customer(entry.ref)
    if customer is None:
        return Outcome(note="Kunden finns inte längre i butiken; inget skickades.")
    customer_no = send_customer(state, customer)
    return Outcome(remote_id=customer_no, after=customer_sent(state, entry.ref, customer_no))


# -- orders -----------------------------------------------------------------------------------------


def push_order(state: SpecterState, entry: OutboxEntry, *, ensure_customer: Callable[[SpecterState, Any], str]) -> Outcome:
    """newOrderSubmit; ``ensure_customer(state, customer)`` gives the customer's Specter number first
    (the relay's: it may push the customer's own waiting outbox row)."""
    if entry.op == "delete":
        return _delete_order(state, entry)
    adapter = state.adapter
    order = adapter.get_order(entry.ref)
    if order is None:
        return Outcome(note="Ordern finns inte längre i butiken; inget skickades.")
    record = adapter.order_record(order)
    if not adapter.order_ready(order) or not record.lines:
        raise NotReady(ORDER_NOT_READY, _ready_recheck(state, entry))
    customer = adapter.get_customer(record.customer_ref) if record.customer_ref else None
    guest = order_guest(state, order) if customer is None else None  # no customer row: the buyer on the order

    def submit(fields: dict[str, Any]) -> str:
        return submit_customer(state, fields, customer_flags(state))

    def resend_customer() -> str:
        return send_customer(state, customer) if guest is None else guest_customer_no(state, guest, submit, fresh=True)

    customer_no = ensure_customer(state, customer) if guest is None else guest_customer_no(state, guest, submit)
    send_mail = bool(state.settings.get("send_order_mail"))
    rows = wire.order_rows(record, state.config)

    def header(customer_no: str) -> dict[str, Any]:
        return wire.order_header(record, state.config, adapter.pay_types, customer_no=customer_no, send_order_mail=send_mail)

    note = None
    try:
        try:
            order_no = state.client.submit_order(header(customer_no), rows).id
        except SpecterUnknownCustomerError:
            # Our stored number is stale (customer removed in Specter): send the customer again, once.
            order_no = state.client.submit_order(header(resend_customer()), rows).id
    except SpecterDuplicateOrderError as exc:
        order_no, note = already_there(exc)
    except SpecterNoRowsError:
        # Specter saw no rows (lines not committed yet, or removed meanwhile): wait like a not-ready order.
        raise NotReady(ORDER_NOT_READY, _ready_recheck(state, entry)) from None
    order = adapter.get_order(entry.ref) or order
    after = record_order(state, order, entry.ref, str(order_no), refresh=bool(record.quantities()))
    return Outcome(remote_id=str(order_no), note=note, after=after)


def already_there(exc: SpecterDuplicateOrderError) -> tuple[str, str]:
    """Code 23: Specter created the order earlier and the answer was lost. Success, with its number."""
    if not exc.order_no:
        raise exc
    return str(exc.order_no), DUPLICATE_NOTE


def record_order(state: SpecterState, order: Any, ref: str, order_no: str, *, refresh: bool, writes: Writes | None = None) -> list[Callable[[], Any]]:
    """The shop keeps Specter's order number (not committed); what follows once committed (with
    ``refresh``, a pull of fresh stock figures: a caller that sends many orders asks for one itself)."""
    state.adapter.set_order_transfer(order, specter_order_no=order_no, error=None)
    mark_transfer_only(state.db.session, ref)  # the row being sent is this order's: nothing to wake
    pending = writes or Writes()
    pending.links.append(("order", ref, order_no))
    pending.acks.append(ref)
    if writes is None:
        pending.write(state)
    after: list[Callable[[], Any]] = [refresh_stock] if refresh else []
    return [*after, lambda: signals.order_exported.send(state.app, order_ref=ref, specter_order_no=order_no)]


def _ready_recheck(state: SpecterState, entry: OutboxEntry) -> float:
    """When a not-ready order is looked at again without a change of its own: after a minute at first,
    then after half the time it has waited (an abandoned unpaid order costs a look an hour at most)."""
    created = entry.created_at
    waited = max(0.0, (utcnow() - created).total_seconds()) if created is not None else 0.0
    return max(float(state.config.get("SPECTER_SWEEP_INTERVAL") or 0), min(3600.0, max(60.0, waited / 2)))


def refresh_stock() -> None:
    """Specter now holds an order's reservation: fetch fresh figures so the shop converges (contract 8)."""
    try:
        from ..inbound.pulls import request_pull

        request_pull("stock")
    except Exception:  # the next callback or sweep pulls anyway
        pass


def _delete_order(state: SpecterState, entry: OutboxEntry) -> Outcome:
    from ..stock import release_reservations

    session = state.db.session
    ref = entry.ref
    specter_no = (entry.payload or {}).get("specter_order_no") or linked(session, "order", ref)
    note = None
    if not state.settings.get("delete_orders"):
        note = "Ordern raderades bara i butiken (\"Radera order\" är false)."
    elif not specter_no:  # older rows for this order went first (outbox ordering), so it never got there
        note = "Ordern hade inte nått Specter; inget att radera där."
    else:
        try:
            state.client.delete_order(str(specter_no))
        except SpecterUnknownOrderError:
            note = "Ordern fanns inte längre i Specter."
        session.execute(delete(Link).where(Link.kind == "order", Link.local_id == ref))
    release_reservations(ref)  # after the call: no write lock is held while Specter answers
    return Outcome(remote_id=str(specter_no) if specter_no and not note else None, note=note)
