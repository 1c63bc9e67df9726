"""The drain's pipeline: read a batch of rows, send them from a thread of their own, record each outcome.

A row's database work (reading the order, storing Specter's number) and its calls to Specter used to
take turns, so the drain cost their sum. Here a sender thread calls Specter while the drain's own thread
reads the next rows and records the ones already answered: the database work is done while Specter
works. The sender never touches the database, and nothing is held open across a call to Specter (on
SQLite no write lock: the reads begin deferred, each record is its own short transaction).

A batch is read with the adapter's ``prefetch`` first (its customers, orders and lines in a few
statements, not a few per row), then row by row from the session.

Only the plain cases go this way: a customer to create or update, and a ready order whose customer has
a Specter number or is sent earlier in the same batch. Every other row (products, deletes, an order not
ready, a stale customer number, a row the read failed on) is a *barrier*: the sender waits there while
the relay's one-row path (``push_one``) sends it, so rows still leave in the order they were claimed
(an article before the order that needs it).

A row's outcome is committed as soon as it is known, a few rows at a time, never across a call to
Specter; a killed worker leaves at most the rows answered but not yet recorded to be sent again when
their lease ends, which Specter answers as before (an order's copy is refused with its number, code 23;
a customer is matched by e-mail).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from ..models import OutboxEntry, utcnow
from ..remote.errors import SpecterDuplicateOrderError, SpecterNoRowsError, SpecterUnknownCustomerError
from ..sqlite import reading_only
from ..state import SpecterState
from . import wire
from .claims import finish_rows, release
from .exporters import (
    Writes,
    already_there,
    customer_flags,
    customer_sent,
    customer_specter_no,
    record_customer,
    record_order,
    refresh_stock,
    submit_customer,
)

log = logging.getLogger("flask_specter.outbox")

READ_AHEAD = 4  # rows still in flight when the drain claims and reads (prefetches) its next batch
GROUP = 12  # answered rows recorded in one transaction, at most
GROUP_WAIT = 0.05  # seconds an answered row waits for others to be recorded with it, at most

PushOne = Callable[[OutboxEntry, str], str]  # the relay's one-row path: sends, records, commits; the row's new state
Failed = Callable[[OutboxEntry, str, Exception], str]  # records a failed send and commits; the row's new state


@dataclass
class Item:
    """One claimed row on its way: what the read prepared, then what the sender learnt."""

    entry: OutboxEntry
    token: str
    claimed_at: float
    barrier: bool = False  # sent by ``push_one`` while the sender waits
    shop_object: Any = None  # the customer or the order, as read
    fields: dict[str, Any] = field(default_factory=dict)  # customer fields, or the order's header
    rows: list[dict[str, Any]] = field(default_factory=list)
    customer_ref: str | None = None
    customer_no: str | None = None
    reserves: bool = False  # the order has lines with SKUs: Specter reserves stock for it
    remote_id: str | None = None
    note: str | None = None
    error: Exception | None = None
    again: bool = False  # the plain way did not do: ``push_one`` sends it
    late: bool = False  # not sent (claim older than half its lease, or the drain stopped): released
    released: threading.Event = field(default_factory=threading.Event)  # a barrier: the sender may go on


class SendPipeline:
    """``run(batch, token)`` hands a claimed batch to the sender and records outcomes as they come;
    ``settle()`` waits for the last ones."""

    def __init__(self, state: SpecterState, counts: dict[str, int], *, push_one: PushOne, failed: Failed):
        self.state = state
        self.counts = counts
        self.push_one = push_one
        self.failed = failed
        self.half_lease = float(state.config["SPECTER_LEASE_SECONDS"]) / 2
        self.todo: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self.flying: dict[int, Item] = {}  # entry id -> the row handed to the sender, its outcome not recorded yet
        self.stopping = False
        self.flags: dict[str, Any] = {}
        self.prefetched: Any = None  # what the adapter's prefetch loaded for the batch being read
        self.refresh = False  # an order of this batch was sent: Specter holds its reservation, pull fresh figures
        self.sender = threading.Thread(target=self._send_all, name="outbox-sender", daemon=True)

    def __enter__(self) -> SendPipeline:
        self.session = self.state.db.session()
        self.expiring, self.session.expire_on_commit = self.session.expire_on_commit, False  # a read's objects stay for its record
        self.sender.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping = True  # after an error: what was not sent yet is given back at once
        self.todo.put(None)
        self.sender.join()
        try:
            if self.flying:
                self.state.db.session.rollback()
                self._give_back([self.done.get_nowait() for _ in range(self.done.qsize())])
        finally:
            self.session.expire_on_commit = self.expiring

    def run(self, batch: list[OutboxEntry], token: str) -> None:
        """Read ``batch`` and hand its rows to the sender, then record outcomes until only ``READ_AHEAD``
        rows are in flight: the caller claims the next batch while the sender is still busy (``settle``
        waits for the rest)."""
        self._forget_read(keep=[item.shop_object for item in self.flying.values()])
        claimed_at = time.monotonic()
        try:
            with reading_only():  # SQLite: a deferred transaction, no write lock while the batch is read
                self.flags = customer_flags(self.state)
                self.prefetched = self._prefetch(batch)
                for entry in batch:
                    item = self.flying[entry.id] = self._read(Item(entry, token, claimed_at))
                    self.todo.put(item)
                self.state.db.session.commit()
        except Exception:  # the database failed under the read: the rows not handed over are pending again at once
            self.state.db.session.rollback()
            release([entry for entry in batch if entry.id not in self.flying], token)
            self.state.db.session.commit()
            raise
        self._record_until(READ_AHEAD)

    def settle(self) -> None:
        """Record every row in flight."""
        self._record_until(0)

    def _record_until(self, left: int) -> None:
        while len(self.flying) > left:
            items = [self._next()]  # then a few more, if they come soon: a commit per few rows, not per row
            give_up = time.monotonic() + GROUP_WAIT
            while len(items) < min(GROUP, len(self.flying) - left) and not items[-1].barrier:
                try:
                    items.append(self.done.get(timeout=max(0.0, give_up - time.monotonic())))
                except queue.Empty:
                    break
            for item in items:
                del self.flying[item.entry.id]
            self._record(items)
        if self.refresh:
            self.refresh = False
            run_after(0, [refresh_stock])

    def _forget_read(self, keep: list[Any]) -> None:
        """Each batch reads the shop's data afresh: expire what earlier reads loaded, except the objects
        of rows still in flight (their outcome is yet to be written on them; nothing unsaved is lost)."""
        kept = {id(obj) for obj in keep}
        for obj in list(self.session.identity_map.values()):
            if id(obj) not in kept:
                self.session.expire(obj)

    def _next(self) -> Item:
        while True:
            try:
                return self.done.get(timeout=1.0)
            except queue.Empty:
                if not self.sender.is_alive():
                    raise RuntimeError("the outbox sender thread ended unexpectedly") from None

    # -- the drain's thread: read, record ---------------------------------------------------------------

    def _prefetch(self, batch: list[OutboxEntry]) -> Any:
        """The adapter's ``prefetch`` of the batch's customers and orders (a few statements, not a few per
        row); what it returns is held until the next batch. A prefetch that fails only costs its time:
        each row is then read on its own."""
        prefetch = getattr(self.state.adapter, "prefetch", None)
        if prefetch is None:
            return None
        wanted: dict[str, list[str]] = {"customer": [], "order": []}
        for entry in batch:
            if entry.op != "delete" and entry.kind in wanted:
                wanted[entry.kind].append(entry.ref)
        if not (wanted["customer"] or wanted["order"]):
            return None
        try:
            return prefetch(customers=wanted["customer"], orders=wanted["order"])
        except DBAPIError:  # the database failed under the read: as in any other read of the batch
            raise
        except Exception:
            log.debug("outbox: prefetch failed; rows read one by one", exc_info=True)
            return None

    def _read(self, item: Item) -> Item:
        entry, adapter = item.entry, self.state.adapter
        try:
            if entry.kind == "customer" and entry.op != "delete":
                customer = adapter.get_customer(entry.ref)
                if customer is not None:
                    item.shop_object, item.fields = customer, wire.customer_fields(adapter.customer_record(customer))
                    return item
            elif entry.kind == "order" and entry.op != "delete":
                order = adapter.get_order(entry.ref)
                record = adapter.order_record(order) if order is not None else None
                if record is not None and record.lines and record.customer_ref and adapter.order_ready(order):
                    customer = adapter.get_customer(record.customer_ref)
                    if customer is not None:
                        send_mail = bool(self.state.settings.get("send_order_mail"))
                        item.shop_object, item.customer_ref = order, record.customer_ref
                        # A customer sent in this batch gets its number from the sender: no look at the links.
                        sent_here = any(i.entry.kind == "customer" and i.entry.ref == record.customer_ref for i in self.flying.values())
                        item.customer_no = adapter.customer_specter_no(customer) if sent_here else customer_specter_no(self.state, customer)
                        item.fields = wire.order_header(record, self.state.config, adapter.pay_types, send_order_mail=send_mail)
                        item.rows = wire.order_rows(record, self.state.config)
                        item.reserves = bool(record.quantities())
                        return item
        except Exception:  # the one-row path meets the same problem and records it on the row
            log.debug("outbox %s: read for the pipeline failed; sent the one-row way", entry.id, exc_info=True)
        item.barrier = True
        return item

    def _record(self, items: list[Item]) -> None:
        """Record the answered rows, in one transaction per run of plain successes; the rest row by row."""
        plain: list[Item] = []
        for item in items:
            if item.remote_id is not None:
                plain.append(item)
                continue
            self._commit(plain)
            plain = []
            if item.late:
                self._give_back([item])
            elif item.barrier or item.again:
                self._count(self.push_one(item.entry, item.token))
            elif item.error is not None:
                try:  # raised here, so that what records it sees its traceback
                    raise item.error
                except Exception as exc:  # noqa: BLE001
                    self._count(self.failed(item.entry, item.token, exc))
            item.released.set()
        self._commit(plain)

    def _commit(self, items: list[Item]) -> None:
        if not items:
            return
        state, writes = self.state, Writes()
        follow_ups = []
        for item in items:
            entry, remote_id = item.entry, str(item.remote_id)
            if entry.kind == "customer":
                record_customer(state, item.shop_object, remote_id, writes)
                after = customer_sent(state, entry.ref, remote_id)
            else:  # one pull of fresh figures for a few orders (``_record_until``), not one request per order
                after = record_order(state, item.shop_object, entry.ref, remote_id, refresh=False, writes=writes)
                self.refresh = self.refresh or item.reserves
            follow_ups.append((item, after))
        writes.write(state)
        now = utcnow()
        done = {"state": "sent", "sent_at": now, "last_error": None, "permanent": False, "next_attempt_at": None}
        finish_rows([(item.entry.id, item.token, {**done, "remote_id": item.remote_id, "note": item.note}) for item in items])
        state.db.session.commit()
        for item, after in follow_ups:
            entry = item.entry
            log.info("outbox %s: %s %s %s sent%s", entry.id, entry.kind, entry.op, entry.ref, f" ({item.note})" if item.note else "")
            self._count("sent")
            run_after(entry.id, after)

    def _give_back(self, items: list[Item]) -> None:
        """Pending again at once, for whoever comes next: the rows not sent (rows Specter answered but
        not recorded keep their claim until its lease ends, then go again)."""
        unsent = [item for item in items if item.remote_id is None]
        for token in {item.token for item in unsent}:
            release([item.entry for item in unsent if item.token == token], token)
        self.state.db.session.commit()
        for item in items:
            item.released.set()

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    # -- the sender thread: Specter only --------------------------------------------------------------

    def _send_all(self) -> None:
        numbers: dict[str, str] = {}  # customer ref -> the number Specter just gave it
        while (item := self.todo.get()) is not None:
            if self.stopping or time.monotonic() - item.claimed_at > self.half_lease:
                item.late = True  # given back rather than sent late (another worker may take it over)
            elif not item.barrier:
                self._send(item, numbers)
            self.done.put(item)
            if item.barrier:  # rows after it wait until the one-row path has sent it
                while not item.released.wait(0.05) and not self.stopping:
                    pass

    def _send(self, item: Item, numbers: dict[str, str]) -> None:
        entry, client = item.entry, self.state.client
        try:
            if entry.kind == "customer":
                item.remote_id = numbers[entry.ref] = submit_customer(self.state, item.fields, self.flags)
                return
            customer_no = item.customer_no or numbers.get(item.customer_ref or "")
            if customer_no is None:  # its customer is sent elsewhere, or failed here: the one-row path decides
                item.again = True
                return
            try:
                item.remote_id = str(client.submit_order({**item.fields, "customerId": customer_no}, item.rows).id)
            except SpecterDuplicateOrderError as exc:
                item.remote_id, item.note = already_there(exc)
        except (SpecterUnknownCustomerError, SpecterNoRowsError):
            item.again = True  # a stale customer number, or no rows seen: the one-row path handles both
        except Exception as exc:  # noqa: BLE001 - recorded on the row by the drain's thread
            item.error = exc


def run_after(entry_id: int, after: list[Callable[[], Any]]) -> None:
    """A successful push's follow-ups, once its outcome is committed."""
    for follow_up in after:
        try:
            follow_up()
        except Exception:  # a signal receiver or a stock pull must not undo a successful push
            log.warning("outbox %s: follow-up after a successful push failed", entry_id, exc_info=True)
