"""An order's row that waits for the shop's readiness rule leaves the moment the order or a line changes.

The wake-up runs in the shop's own transaction (``listeners``) and covers the row in every state it can
be in: waiting as "not ready" (due at once), or being sent right now (marked ``woken_at``). A send that
then finds the order not ready, having read it before the change, makes the row due at once instead of
after a minute (``defer_not_ready``). Both are single conditional UPDATEs on the row, so they serialise on
its lock (PostgreSQL) or on the write lock (SQLite): whichever runs second sees the other's write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import DateTime, Table, and_, bindparam, case, null, update
from sqlalchemy.orm import Session

from ..messages import ORDER_NOT_READY
from ..models import OutboxEntry, utcnow
from ..state import get_state

_OUTBOX: Table = cast(Table, OutboxEntry.__table__)
_C = _OUTBOX.c
_ORDER_ROWS = and_(_C.kind == "order", _C.op == "create", _C.state.in_(("pending", "sending")))


def wake_orders(session: Session, refs: Iterable[str]) -> bool:
    """The orders ``refs`` (or their lines) changed in this transaction: their unsent rows are due now,
    a row in flight is marked woken. True when a row was touched (the commit nudges a drain).

    A row pending for its first send is touched too (nothing changes on it): on PostgreSQL the claim
    skips a row locked by this transaction, so no send reads the order before this commit."""
    waiting = and_(_C.state == "pending", _C.last_error == ORDER_NOT_READY)
    stmt = (
        update(_OUTBOX)
        .where(_ORDER_ROWS, _C.ref.in_(sorted(refs)))
        .values(
            next_attempt_at=case((waiting, null()), else_=_C.next_attempt_at),
            woken_at=case((_C.state == "sending", bindparam("woken", type_=DateTime())), else_=_C.woken_at),
        )
        .execution_options(synchronize_session=False)
    )
    with session.no_autoflush:
        result: Any = session.execute(stmt, {"woken": utcnow()})
    return bool(result.rowcount)


_DEFER = (
    update(_OUTBOX)
    .where(_C.id == bindparam("entry_id"), _C.claim_token == bindparam("token"))
    .values(
        state="pending",
        claim_token=None,
        claimed_until=None,
        last_error=bindparam("reason"),
        next_attempt_at=case((_C.woken_at.is_not(None), null()), else_=bindparam("later", type_=DateTime())),
        woken_at=None,
    )
    .returning(_C.next_attempt_at)
)


def defer_not_ready(entry_id: int, token: str, delay: float, reason: str) -> bool:
    """The claimed row's order is not ready: pending again, due after ``delay``, or at once when the order
    changed while it was being sent (``woken_at``). True when it is due at once. Not committed."""
    later = utcnow() + dt.timedelta(seconds=delay)
    row = get_state().db.session.execute(_DEFER, {"entry_id": entry_id, "token": token, "reason": reason, "later": later}).first()
    return row is not None and row[0] is None
