"""Outbox rows claimed, released and finished: the conditional UPDATEs that make a row sent once.

A row is claimed pending -> sending with a token and a lease, in one statement, so any number of
workers, sweeps and admins pressing "Överför order" take it once; a claim whose lease ended can be taken
over (its sender died), and at once when RQ knows its sender is gone (``orphans.py``). Leases and due times are read from the database's clock (``dbclock``), so a
worker whose own clock is off never takes over a claim that is still held. A row waits while an older change of the same record is unsent, so a delete
never overtakes its create. The relay (``relay.py``) sends what is claimed here.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import ColumnElement, Float, Integer, Table, and_, bindparam, exists, or_, select, union_all, update
from sqlalchemy.orm import aliased

from ..dbclock import as_datetime, db_epoch, db_utcnow
from ..models import OutboxEntry
from ..state import get_state
from .orphans import note_holder


def claimable(*, force: bool) -> ColumnElement[bool]:
    """Pending and due, or sending with a lapsed lease: judged by the database's clock (``dbclock``)."""
    due = OutboxEntry.state == "pending"
    if not force:
        due = and_(due, or_(OutboxEntry.next_attempt_at.is_(None), OutboxEntry.next_attempt_at <= db_utcnow()))
    return or_(due, and_(OutboxEntry.state == "sending", OutboxEntry.claimed_until < db_epoch()))


def due_rows(at_most: int) -> int:
    """How many rows are due now, counted up to ``at_most`` (committed: no connection stays in use)."""
    session = get_state().db.session
    due = len(session.execute(select(OutboxEntry.id).where(claimable(force=False)).limit(at_most)).all())
    session.commit()
    return due


def claim(entry_id: int, *, force: bool = False) -> str | None:
    """pending -> sending with a lease, in one conditional UPDATE; the token, or None when not ours."""
    state = get_state()
    session = state.db.session
    token = uuid.uuid4().hex
    result = session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id == entry_id, claimable(force=force))
        .values(state="sending", claim_token=token, claimed_until=db_epoch() + float(state.config["SPECTER_LEASE_SECONDS"]))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:
        return None
    note_holder(token)
    return token


def first_in_line() -> ColumnElement[bool]:
    """No older change of the same record is unsent: a delete never overtakes its create."""
    older = aliased(OutboxEntry)
    return ~exists().where(
        older.kind == OutboxEntry.kind, older.ref == OutboxEntry.ref, older.id < OutboxEntry.id, older.state.in_(("pending", "sending"))
    )


def claim_batch(limit: int = 20) -> tuple[list[OutboxEntry], str]:
    """Claim up to ``limit`` of the oldest due rows that are first in line for their record, in one
    statement: the rows (detached, as claimed, oldest first) and the batch's token.

    On PostgreSQL the pick skips rows another worker has locked this instant (``SKIP
    LOCKED``), so parallel drains take disjoint batches; SQLite's single writer serialises them anyway.
    The outer condition repeats the due test, so a row is only ever claimed while claimable.
    """
    state = get_state()
    session = state.db.session
    token = uuid.uuid4().hex
    params = {"lim": limit, "token": token, "lease": float(state.config["SPECTER_LEASE_SECONDS"])}
    rows = session.connection().execute(_claim_statement(), params).all()
    session.commit()
    if rows:
        note_holder(token)  # a job that dies holding them is known as gone: its rows are taken over at once
    return sorted((OutboxEntry(**row._asdict()) for row in rows), key=lambda entry: entry.id), token


_CLAIM: list[Any] = []  # the claim's UPDATE, built once: building it cost more than running it


def _claim_statement() -> Any:
    """The claim as a Core UPDATE with bound values (``lim``, ``token``, ``lease``); due times and leases
    are read from the database's clock (``dbclock``), never the worker's.

    The oldest waiting rows, and the oldest whose sender died, are each read in id order along
    ``ix_specter_outbox_state_id`` up to the limit (not every waiting row sorted: a claim costs the
    same with a backlog of thousands). The pick is a materialised CTE: as ``id IN (SELECT … LIMIT n
    FOR UPDATE SKIP LOCKED)`` PostgreSQL may run it again per row and claim the whole backlog at once
    (one drain then leaves its helpers nothing).
    """
    if _CLAIM:
        return _CLAIM[0]
    table = cast(Table, OutboxEntry.__table__)
    columns, lim = table.c, bindparam("lim", type_=Integer())
    waiting = and_(columns.state == "pending", or_(columns.next_attempt_at.is_(None), columns.next_attempt_at <= db_utcnow()))
    orphaned = and_(columns.state == "sending", columns.claimed_until < db_epoch())

    def oldest(condition: ColumnElement[bool]) -> Any:  # skips rows another worker locked this instant (PostgreSQL)
        pick = select(columns.id).where(condition, first_in_line()).order_by(columns.id).limit(lim)
        return pick.with_for_update(skip_locked=True).subquery()

    either = union_all(*(select(sub.c.id) for sub in (oldest(waiting), oldest(orphaned)))).subquery()
    pick = select(either.c.id).order_by(either.c.id).limit(lim).cte("picked").prefix_with("MATERIALIZED")
    _CLAIM.append(
        update(table)
        .where(columns.id.in_(select(pick.c.id)), or_(waiting, orphaned))
        .values(state="sending", claim_token=bindparam("token"), claimed_until=db_epoch() + bindparam("lease", type_=Float()))
        .returning(*table.columns)
    )
    return _CLAIM[0]


def claim_next() -> tuple[OutboxEntry, str] | None:
    """The oldest due row that is first in line, claimed (``claim_batch`` of one), or None."""
    entries, token = claim_batch(1)
    return (entries[0], token) if entries else None


def release(entries: list[OutboxEntry], token: str) -> None:
    """Claimed rows this drain will not send after all: pending again, for whoever comes next (not committed)."""
    if entries:
        get_state().db.session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_([e.id for e in entries]), OutboxEntry.claim_token == token)
            .values(state="pending", claim_token=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )


def next_due_in() -> float | None:
    """Seconds until the next pending row that is first in line is due (0: one is due now), None when none is pending."""
    session = get_state().db.session
    first = session.execute(
        select(OutboxEntry.next_attempt_at, db_utcnow())
        .where(OutboxEntry.state == "pending", first_in_line())
        .order_by(OutboxEntry.next_attempt_at.is_not(None), OutboxEntry.next_attempt_at)
        .limit(1)
    ).first()
    session.commit()
    if first is None:
        return None
    if first[0] is None:
        return 0.0
    return max(0.0, float((first[0] - as_datetime(first[1])).total_seconds()))


_FINISHES: dict[frozenset[str], Any] = {}  # the columns a finish sets -> its UPDATE, built once


def finish(entry_id: int, token: str, **values: Any) -> bool:
    """The claimed row's outcome, if it is still ours (its claim token); not committed."""
    return finish_rows([(entry_id, token, values)]) == 1


def finish_rows(rows: list[tuple[int, str, dict[str, Any]]]) -> int:
    """``finish`` for several (id, token, values), each with the same columns; how many were still ours.

    A Core UPDATE built once per set of columns and run on the session's connection for all of them:
    the drain finishes a row per send, and building the statement and the ORM's handling of it cost
    more than running it.
    """
    if not rows:
        return 0
    keys = frozenset(rows[0][2])
    stmt = _FINISHES.get(keys)
    if stmt is None:
        table = cast(Table, OutboxEntry.__table__)
        columns = table.c
        stmt = (
            update(table)
            .where(columns.id == bindparam("f_id"), columns.claim_token == bindparam("f_token"))
            .values(claim_token=None, claimed_until=None, **{key: bindparam(f"v_{key}", type_=columns[key].type) for key in keys})
        )
        _FINISHES[keys] = stmt
    params = [{"f_id": entry_id, "f_token": token, **{f"v_{key}": value for key, value in values.items()}} for entry_id, token, values in rows]
    result = get_state().db.session.connection().execute(stmt, params)
    return int(result.rowcount)


def unsent_entry(kind: str, ref: str) -> tuple[int | None, bool]:
    """(id of the oldest pending row for this record, whether another worker is sending one now)."""
    session = get_state().db.session
    rows = session.execute(
        select(OutboxEntry.id, OutboxEntry.state, OutboxEntry.claimed_until, db_epoch())
        .where(OutboxEntry.kind == kind, OutboxEntry.ref == ref, OutboxEntry.state.in_(("pending", "sending")))
        .order_by(OutboxEntry.id)
    ).all()
    busy = any(s == "sending" and (until or 0) >= float(now) for _id, s, until, now in rows)
    pending = [i for i, s, _u, _n in rows if s == "pending"]
    return (pending[0] if pending else None), busy


def wait_for_older(entry: OutboxEntry) -> float | None:
    """Seconds to wait while an older row for the same record is unsent (a delete never overtakes its create)."""
    session = get_state().db.session
    older = session.execute(
        select(OutboxEntry.state, OutboxEntry.next_attempt_at, db_utcnow().label("now"))
        .where(OutboxEntry.kind == entry.kind, OutboxEntry.ref == entry.ref, OutboxEntry.id < entry.id)
        .where(OutboxEntry.state.in_(("pending", "sending")))
        .order_by(OutboxEntry.id)
        .limit(1)
    ).first()
    if older is None:
        return None
    if older.state == "pending" and older.next_attempt_at is not None:
        return max(1.0, float((older.next_attempt_at - as_datetime(older.now)).total_seconds()) + 0.5)
    return 1.0


def unsent_ids(*, due_only: bool) -> list[int]:
    session = get_state().db.session
    return list(session.execute(select(OutboxEntry.id).where(claimable(force=not due_only)).order_by(OutboxEntry.id)).scalars())
