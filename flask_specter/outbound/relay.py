"""The outbox relay: claim a row, push it, record the outcome; retries, sweep, drain and "Överför order".

The database row is the truth and Redis only a nudge: a row is claimed (``claims.py``) with one conditional UPDATE
(pending -> sending, with a lease), so any number of workers, sweeps and admins pressing "Överför order"
push it once. Delivery is at-least-once; Specter's refusal of a duplicate ``externalOrderNo`` (code 23)
makes orders exactly-once, and the other pushes are idempotent by nature.

A commit nudges one ``drain_outbox`` job rather than a job per row (an RQ round trip, and with the forking
worker a fork, per order): it claims the due rows a batch at a time, sends them over the app's kept-alive
client session, and goes on until none is due. Retries keep a job of their own (``push_entry``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from rq import Worker

from .. import signals
from ..backoff import backoff_delay
from ..messages import ORDER, RECORD, explain
from ..models import OutboxEntry, utcnow
from ..queue import job
from ..redact import redact
from ..remote.errors import SpecterError
from ..sqlite import redoable_writes
from ..state import SpecterState, get_state
from .claims import claim, claim_batch, due_rows, finish, next_due_in, unsent_entry, unsent_ids, wait_for_older
from .drain_process import Child, fork_on_backlog, join_loop
from .drain_threads import start_senders, threads_help
from .exporters import Deferred, NotReady, Outcome, PushProblem, customer_specter_no, push_customer, push_order, push_product, send_customer
from .pipeline import SendPipeline, run_after
from .readiness import defer_not_ready

log = logging.getLogger("flask_specter.outbox")

DRAIN_FLAG = "outbox:drain"  # set while a drain job is queued or running and will look again before it ends
DRAIN_BUDGET = 30.0  # seconds one drain job sends before it hands over to a fresh job (RQ's job timeout is 180 s)
DRAIN_HORIZON = 1.0  # a row due within this many seconds is waited for by the running drain, not by a new job
DRAIN_BATCH = 20  # rows a drain claims at once (picking the oldest looks at every pending row)
NUDGE_MEMORY = 0.2  # seconds a process trusts a drain flag it saw; a finishing drain waits as long before its last look
_flag_seen: dict[str, float] = {}  # queue name -> monotonic time a drain flag was last seen set (by this process)


def _flag(entry_id: int) -> str:
    return f"outbox:{entry_id}"


def enqueue_entry(entry_id: int, *, delay: float = 0.0, state: SpecterState | None = None) -> bool:
    """Queue a push of ``entry_id`` (once: a job already waiting is not doubled); False if the queue is down."""
    state = state or get_state()
    lease = float(state.config["SPECTER_LEASE_SECONDS"])
    try:
        push_entry.enqueue_once(_flag(entry_id), entry_id, ttl=lease, delay=delay, queue=state.queue)
        return True
    except Exception as exc:
        log.warning("outbox row %s not queued (%s); it stays pending for the sweep", entry_id, type(exc).__name__)
        return False


def nudge_drain(state: SpecterState | None = None) -> bool:
    """After a commit that wrote outbox rows: make sure a drain job will look at them; False if the queue is down.

    One Redis ``SET NX`` while a drain is queued or running, and nothing at all for ``NUDGE_MEMORY``
    seconds after this process saw the flag set: the drain clears the flag, waits that long and looks
    once more before it ends, so a row committed meanwhile is still its to send.
    """
    state = state or get_state()
    name = state.queue.name
    now = time.monotonic()
    if now - _flag_seen.get(name, -NUDGE_MEMORY) < NUDGE_MEMORY:
        return True
    ttl = DRAIN_BUDGET + 2 * float(state.config["SPECTER_TIMEOUT"]) + 10.0  # a killed drain's flag lapses
    try:
        drain_outbox.enqueue_once(DRAIN_FLAG, ttl=ttl, queue=state.queue)
    except Exception as exc:
        log.warning("outbox drain not queued (%s); the rows stay pending for the sweep", type(exc).__name__)
        return False
    _flag_seen[name] = now  # set by this call or already there: either way a drain will look after ``now``
    return True


@job
def push_entry(entry_id: int, *, force: bool = False) -> dict[str, Any]:
    """The push job of one row (retries, "Försök igen", "Överför order"): claim ``entry_id``, send it
    from current shop data, record what happened.

    ``force`` ignores the back-off wait (drain, "Överför order"); a row someone else is sending is
    never taken. Returns a small summary; never raises for a Specter failure (RQ keeps no traceback
    with personal data in it). A newer change of the same record waits for this one (``claim_next``):
    after a send, a drain is nudged for it.
    """
    state = get_state()
    session = state.db.session
    state.queue.clear_flag(_flag(entry_id))
    token = claim(entry_id, force=force)
    if token is None:
        return {"entry": entry_id, "skipped": "not pending, or being sent elsewhere"}
    entry = session.get(OutboxEntry, entry_id)
    wait = wait_for_older(entry)
    if wait is not None:
        summary = {"entry": entry_id, "kind": entry.kind, "op": entry.op, "ref": entry.ref}
        return {**summary, **_defer(entry_id, token, wait, "an older change of the same record is not sent yet")}
    summary, after = _push_claimed(state, entry, token)
    run_after(entry_id, after)
    if summary.get("state") == "sent":
        nudge_drain(state)
    return summary


@job
def drain_outbox(role: str = "main") -> dict[str, int]:
    """Send due rows, oldest first, until none is due: the job a commit nudges.

    Rows are claimed ``DRAIN_BATCH`` at a time and go through the drain's pipeline (``pipeline.py``):
    a sender thread calls Specter while this thread reads the next rows and records the answered ones,
    a few per transaction. A killed worker leaves the rows answered but not yet recorded (a few) to be
    sent again when their lease ends, which Specter answers as before (an order's copy is refused with
    its number, code 23; a customer is matched by e-mail), and its unsent claims to be taken over.
    Claims older than half the lease are given back rather than sent late. The "main" job owns the
    drain flag: when nothing is due it clears the flag, waits ``NUDGE_MEMORY`` and looks once more, so
    the last row of a burst is never left behind. It also asks idle workers to help ("helper" jobs)
    when more rows are due than it sends at once. After ``DRAIN_BUDGET`` seconds a job hands over to a
    fresh one of its kind. The admin's toggles are read once a second rather than per row
    (``SettingsStore.snapshot``). On SQLite its commits skip the fsync (``redoable_writes``): a power
    cut that undoes the last outcomes leaves those rows to be sent again, answered as above.

    A job that starts with a backlog, in a ``flask specter worker`` process, forks its second drain loop
    (``drain_process``): two processes do not share an interpreter lock. Otherwise a second batch due
    starts the second loop in a thread (``drain_threads``). The job waits for either before it ends.
    """
    state = get_state()
    threads: list[threading.Thread] = []
    theirs: list[dict[str, int]] = []  # each thread's (or the child's) counts, when it has ended
    child: Child | None = None

    def backlog() -> None:  # a second batch is due: more senders
        if child is None and not threads and threads_help():
            threads.extend(start_senders(state, _drain, theirs))

    try:
        with state.settings.snapshot(), redoable_writes():
            child = fork_on_backlog(state, _drain)
            counts = _drain(state, role, on_backlog=backlog)
    finally:
        for thread in threads:  # never end the job (a forked work horse exits) with a row in a thread's hands
            thread.join()
        if child is not None:
            theirs.append(join_loop(child))
    for other in theirs:
        for key, n in other.items():
            counts[key] = counts.get(key, 0) + n
    if counts:
        log.info("outbox drain (%s): %s", role, ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return counts


def _drain(
    state: SpecterState, role: str, *, on_backlog: Callable[[], None] | None = None, alive: Callable[[], bool] | None = None
) -> dict[str, int]:
    """The drain loop; ``alive`` (a forked loop's look at its parent) is asked before each batch."""
    started = time.monotonic()
    counts: dict[str, int] = {}
    if role == "main":
        _ask_for_help(state)
    last_look = False
    batches = 0
    with SendPipeline(state, counts, push_one=partial(_push_one, state), failed=_record_failure) as pipeline:
        while True:
            if alive is not None and not alive():
                pipeline.settle()
                break
            batch, token = claim_batch(DRAIN_BATCH)
            if batch:
                batches += 1
                if batches == 2 and on_backlog is not None:  # a second batch was due: more senders
                    on_backlog()
                last_look = False
                pipeline.run(batch, token)  # returns with a few rows still in flight: the next claim overlaps them
                if time.monotonic() - started > DRAIN_BUDGET:
                    pipeline.settle()
                    if next_due_in() == 0.0:
                        _hand_over(state, role)
                    break
                continue
            pipeline.settle()
            wait = next_due_in()
            if wait is not None and wait <= DRAIN_HORIZON and time.monotonic() - started > DRAIN_BUDGET:
                _hand_over(state, role)
                break
            if wait is not None and wait <= DRAIN_HORIZON:
                time.sleep(max(0.01, wait))
            elif role != "main" or last_look:
                break
            else:
                state.queue.clear_flag(DRAIN_FLAG)
                time.sleep(NUDGE_MEMORY)  # a process that saw the flag before it was cleared may still commit without a nudge
                last_look = True
    return counts


def _push_one(state: SpecterState, entry: OutboxEntry, token: str) -> str:
    """The one-row path inside a drain: send, record, commit, follow-ups; the row's new state."""
    summary, after = _push_claimed(state, entry, token, in_drain=True)
    state.db.session.commit()
    run_after(entry.id, after)
    return str(summary.get("state", "skipped"))


def _record_failure(entry: OutboxEntry, token: str, exc: Exception) -> str:
    return str(_failed(entry.id, token, exc)["state"])


def _ask_for_help(state: SpecterState) -> None:
    """One helper job per other live worker, as long as more rows are due than this job sends first."""
    try:
        others = Worker.count(queue=state.queue.queue) - 1
    except Exception:
        return
    if others <= 0:
        return
    due = due_rows(others + 1)
    for _ in range(min(others, due - 1)):
        try:
            drain_outbox.enqueue("helper", queue=state.queue)
        except Exception:
            return


def _hand_over(state: SpecterState, role: str) -> None:
    """The budget is spent and rows are still due: a fresh job of the same role goes on."""
    if role == "thread":
        return
    try:
        drain_outbox.enqueue(role, queue=state.queue)
    except Exception:
        if role == "main":
            state.queue.clear_flag(DRAIN_FLAG)  # a later commit or the sweep queues the next drain


def _push_claimed(state: SpecterState, entry: OutboxEntry, token: str, *, in_drain: bool = False) -> tuple[dict[str, Any], list[Callable[[], Any]]]:
    """Send the row claimed with ``token`` and record the outcome: (summary, follow-ups to run after commit).

    A success is recorded but not committed (the caller commits, then runs the follow-ups); a deferral
    or a failure is committed here.
    """
    session = state.db.session
    entry_id = entry.id
    summary = {"entry": entry_id, "kind": entry.kind, "op": entry.op, "ref": entry.ref}
    pusher = PUSHERS.get(entry.kind)
    try:
        if pusher is None:
            raise PushProblem(f"Okänd typ av ändring: {entry.kind!r}")
        outcome = pusher(state, entry)
    except NotReady as exc:
        session.rollback()
        return {**summary, **_defer(entry_id, token, exc.delay, str(exc), reason=exc.reason, in_drain=in_drain), "not_ready": True}, []
    except Deferred as exc:
        session.rollback()
        return {**summary, **_defer(entry_id, token, exc.delay, str(exc), in_drain=in_drain)}, []
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
        session.rollback()
        return {**summary, **_failed(entry_id, token, exc)}, []
    finish(
        entry_id,
        token,
        state="sent",
        sent_at=utcnow(),
        remote_id=outcome.remote_id,
        note=outcome.note,
        last_error=None,
        permanent=False,
        next_attempt_at=None,
    )
    if not in_drain:
        session.commit()
    log.info("outbox %s: %s %s %s sent%s", entry_id, summary["kind"], summary["op"], summary["ref"], f" ({outcome.note})" if outcome.note else "")
    return {**summary, "state": "sent", "remote_id": outcome.remote_id, "note": outcome.note}, outcome.after


def _defer(entry_id: int, token: str, delay: float, why: str, *, reason: str | None = None, in_drain: bool = False) -> dict[str, Any]:
    """Back to pending, due after ``delay`` (a not-ready order changed meanwhile: at once, see ``readiness``);
    ``reason`` is shown in the admin. A drain waits itself for a row due within ``DRAIN_HORIZON``, else a job is queued."""
    session = get_state().db.session
    if reason is None:
        finish(entry_id, token, state="pending", next_attempt_at=utcnow() + dt.timedelta(seconds=delay))
    elif defer_not_ready(entry_id, token, delay, reason):
        delay, why = 0.0, f"{why}; the order changed meanwhile: due again at once"
    session.commit()
    log.info("outbox %s deferred %.1fs: %s", entry_id, delay, why)
    if not (in_drain and delay <= DRAIN_HORIZON):
        enqueue_entry(entry_id, delay=delay)
    return {"state": "pending", "deferred": why}


def _failed(entry_id: int, token: str, exc: Exception) -> dict[str, Any]:
    """Record a failure: transient ones come back after a back-off, permanent ones wait for a person."""
    state = get_state()
    session = state.db.session
    if not isinstance(exc, SpecterError):
        log.error("outbox %s: unexpected error\n%s", entry_id, redact(traceback.format_exc()))
    transient = bool(getattr(exc, "transient", True)) if isinstance(exc, SpecterError) else True
    entry = session.get(OutboxEntry, entry_id)
    is_order = entry.kind == "order" and entry.op == "create"
    context = ORDER if is_order else RECORD
    text = explain(exc, context)
    attempts = (entry.attempts or 0) + 1
    retries = int(state.config["SPECTER_PUSH_RETRIES"])
    delay = None
    if transient and attempts <= retries:
        delay = backoff_delay(attempts, state.config, jitter=True)
        text = f"{text} Nytt försök görs automatiskt ({attempts} av {retries + 1} försök misslyckade)."
        values = {"state": "pending", "next_attempt_at": utcnow() + dt.timedelta(seconds=delay), "permanent": False}
    elif transient:
        text = f"{text} Gav upp efter {attempts} försök; klicka på \"{context.button}\" för att försöka igen."
        values = {"state": "failed", "permanent": False, "failed_at": utcnow()}
    else:
        values = {"state": "failed", "permanent": True, "failed_at": utcnow()}
    finish(entry_id, token, attempts=attempts, last_error=text, **values)
    if is_order:
        order = state.adapter.get_order(entry.ref)
        if order is not None:
            state.adapter.set_order_transfer(order, specter_order_no=None, error=text)
    kind, op, ref = entry.kind, entry.op, entry.ref
    session.commit()
    log.warning(
        "outbox %s: %s %s %s failed (%s): %s",
        entry_id, kind, op, ref, f"retry in {delay:.1f}s" if delay is not None else "not retried", redact(text),
    )
    if delay is not None:
        enqueue_entry(entry_id, delay=delay)
    if is_order:
        signals.order_transfer_failed.send(state.app, order_ref=ref, error=text, permanent=values["permanent"])
    return {"state": values["state"], "error": text, "attempts": attempts, "permanent": values["permanent"]}


# -- safety nets ------------------------------------------------------------------------------------


def sweep_outbox() -> int:
    """Queue a drain for the pending rows whose time has come and the rows whose sender died; returns
    their count (0 if the queue is down). The drain is queued whatever the flag says: the flag of a
    drain killed with its worker must not hold the rows back until it lapses."""
    state = get_state()
    ids = unsent_ids(due_only=True)
    if not ids:
        return 0
    try:
        drain_outbox.enqueue(queue=state.queue)
    except Exception as exc:
        log.warning("outbox sweep: drain not queued (%s); %d row(s) stay pending", type(exc).__name__, len(ids))
        return 0
    log.info("outbox sweep: a drain queued for %d unsent row(s)", len(ids))
    return len(ids)


# -- the exporter for each kind of outbox row ---------------------------------------------------------


def ensure_customer(state: SpecterState, customer: Any) -> str:
    """The customer's Specter number, pushing the customer first when it has none.

    A pending row for the same customer is pushed here (claimed, so never twice); while another worker
    is sending it, the order waits instead of creating the customer a second time.
    """
    existing = customer_specter_no(state, customer)
    if existing:
        return existing
    ref = state.adapter.customer_ref(customer)
    entry_id, busy = unsent_entry("customer", ref)
    if busy:  # sent by another worker this instant: look again in a moment
        raise Deferred(f"customer {ref} is being sent right now", delay=0.2)
    if entry_id is not None:
        if push_entry(entry_id, force=True).get("skipped"):
            raise Deferred(f"customer {ref} is being sent right now", delay=0.2)
        customer = state.adapter.get_customer(ref)
        existing = customer_specter_no(state, customer) if customer is not None else None
        if existing:
            return existing
    else:  # its row may have been sent by another worker between the first look and this one
        existing = customer_specter_no(state, customer)
        if existing:
            return existing
    customer_no = send_customer(state, customer)
    state.db.session.commit()  # keep the number even if the order itself fails next
    return customer_no


def _push_order(state: SpecterState, entry: OutboxEntry) -> Outcome:
    return push_order(state, entry, ensure_customer=ensure_customer)


PUSHERS: dict[str, Callable[[SpecterState, OutboxEntry], Outcome]] = {"product": push_product, "customer": push_customer, "order": _push_order}
