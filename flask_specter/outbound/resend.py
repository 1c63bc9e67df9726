"""The admin's and the CLI's hand on the outbox: "Försök igen" (failed rows), "Överför order", ``drain``.

Each returns a ``SendResult`` (a status value); ``messages.describe`` turns it into the Swedish line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select, update

from ..messages import SendResult, SendState
from ..models import OutboxEntry, linked
from ..redact import redact
from ..state import get_state
from .claims import unsent_ids
from .relay import push_entry

# -- "Försök igen" and "Överför order" ---------------------------------------------------------------


def retry_entry(entry_id: int) -> dict[str, Any]:
    """"Försök igen": send a failed or waiting row now, with a fresh count of attempts.

    A row being sent or already sent is left alone (``push_entry`` then reports it skipped), so two
    admins pressing at once, or a worker sending it meanwhile, still push it once.
    """
    session = get_state().db.session
    session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id == entry_id, OutboxEntry.state.in_(("failed", "pending")))
        .values(state="pending", attempts=0, last_error=None, permanent=False, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return push_entry(entry_id, force=True)


def sent_result(ref: str, result: dict[str, Any]) -> SendResult:
    """The status value of ``push_entry``'s summary for a manual send ("Försök igen", "Överför order")."""
    if result.get("state") == "sent":
        return SendResult(ref, SendState.SENT, specter_no=result.get("remote_id"), note=result.get("note"))
    if "skipped" in result:
        return SendResult(ref, SendState.BUSY)
    if result.get("not_ready"):
        return SendResult(ref, SendState.NOT_READY)
    if result.get("deferred"):
        return SendResult(ref, SendState.WAITING)
    return SendResult(ref, SendState.FAILED, error=result.get("error"))


def retry_entries(ids: Iterable[int]) -> list[tuple[tuple[int, str, str, str], SendResult]]:
    """The bulk "Försök igen": ((id, kind, op, ref), status) per row, oldest first, so a record's
    changes keep their order."""
    session = get_state().db.session
    rows = session.execute(
        select(OutboxEntry.id, OutboxEntry.kind, OutboxEntry.op, OutboxEntry.ref).where(OutboxEntry.id.in_(list(ids))).order_by(OutboxEntry.id)
    ).all()
    return [(tuple(row), sent_result(row[3], retry_entry(row[0]))) for row in rows]


def _latest_order_entry(ref: str) -> OutboxEntry | None:
    session = get_state().db.session
    entry: OutboxEntry | None = session.execute(
        select(OutboxEntry).where(OutboxEntry.kind == "order", OutboxEntry.ref == ref, OutboxEntry.op == "create").order_by(OutboxEntry.id.desc()).limit(1)
    ).scalar_one_or_none()
    return entry


def _order_specter_no(order: Any) -> str | None:
    state = get_state()
    value = state.adapter.order_specter_no(order)
    if value:
        return value
    return linked(state.db.session, "order", state.adapter.order_ref(order))


def resend_order(order_id: Any) -> SendResult:
    """"Överför order": send a failed or waiting order now. Pressed twice at once, it is sent once.

    Returns a status value; ``messages.describe`` words it for the admin and the CLI.
    """
    state = get_state()
    session = state.db.session
    ref = str(order_id)
    order = state.adapter.get_order(ref)
    if order is None:
        return SendResult(ref, SendState.MISSING)
    entry = _latest_order_entry(ref)
    if entry is None:
        specter_no = _order_specter_no(order)
        if specter_no:
            return SendResult(ref, SendState.ALREADY_SENT, specter_no=specter_no)
        entry = OutboxEntry(kind="order", op="create", ref=ref, state="pending", attempts=0)
        session.add(entry)
        session.commit()
    elif entry.state == "sent":
        return SendResult(ref, SendState.ALREADY_SENT, specter_no=entry.remote_id)
    elif entry.state == "sending" and (entry.claimed_until or 0) >= time.time():
        return SendResult(ref, SendState.BUSY)
    return sent_result(ref, retry_entry(entry.id))


def resend_orders(ids: Iterable[Any]) -> list[SendResult]:
    """The bulk action: one status per order, in the order given."""
    return [resend_order(order_id) for order_id in ids]


def order_transfer_status(order_id: Any) -> dict[str, Any]:
    """What the admin shows under "Betalningsmetod": state, reason, attempts and Specter's number."""
    state = get_state()
    ref = str(order_id)
    order = state.adapter.get_order(ref)
    entry = _latest_order_entry(ref)
    specter_no = _order_specter_no(order) if order is not None else None
    if entry is None:
        return {"state": "sent" if specter_no else "none", "error": None, "attempts": 0, "specter_order_no": specter_no}
    error = None
    if entry.state != "sent":
        error = entry.last_error or (state.adapter.order_transfer_error(order) if order is not None else None)
    return {"state": entry.state, "error": error, "attempts": entry.attempts or 0, "specter_order_no": specter_no or entry.remote_id}


def _failed_ids() -> list[int]:
    session = get_state().db.session
    return list(session.execute(select(OutboxEntry.id).where(OutboxEntry.state == "failed").order_by(OutboxEntry.id)).scalars())


def drain(echo: Callable[[str], None] | None = None, *, failed: bool = False) -> dict[str, Any]:
    """Push every unsent row now, in this process, oldest first (``flask specter drain``).

    ``failed`` also sends the rows that failed for good, with a fresh count of attempts
    (``drain --failed``, once the cause, say a wrong key, is fixed).
    """
    counts = {"sent": 0, "pending": 0, "failed": 0, "skipped": 0}
    retry = set(_failed_ids()) if failed else set()
    ids = sorted(set(unsent_ids(due_only=False)) | retry)
    for n, entry_id in enumerate(ids, start=1):
        result = retry_entry(entry_id) if entry_id in retry else push_entry(entry_id, force=True)
        key = "skipped" if "skipped" in result else result.get("state", "skipped")
        counts[key] = counts.get(key, 0) + 1
        if echo:
            what = f"{result.get('kind', '?')} {result.get('op', '')} {result.get('ref', '')}".strip()
            detail = result.get("error") or result.get("note") or result.get("deferred") or result.get("skipped") or ""
            echo(f"[{n}/{len(ids)}] #{entry_id} {what}: {key}" + (f" - {redact(detail)}" if detail else ""))
    return counts
