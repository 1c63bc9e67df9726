"""Whose change is it: the shop's (sent to Specter) or Specter's own (never echoed back).

Writes made on Specter's behalf happen inside ``suppress_outbox()``; the values and objects written
there are marked on the objects themselves, so the outbox listeners (``outbound/listeners.py``) can
tell them apart whenever the session flushes. Below both directions: the article import marks, the
listeners read the marks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import AttributeEventToken

from .shop.adapter import ARTICLE_FIELDS, ShopAdapter
from .state import get_state
from .threadflag import ThreadFlag

_FROM_SPECTER = ThreadFlag()
SPECTER_VALUES = "specter_values"  # InstanceState.info key: {attribute: value written from Specter}
SPECTER_OBJECT = "specter_object"  # InstanceState.info key: added or deleted on Specter's behalf
# Session.info key: refs of orders whose change in the next flush is only the transfer outcome a push
# recorded (Specter's number): that wakes no outbox row waiting for the order to be ready.
TRANSFER_ONLY = "specter_transfer_only"


@contextlib.contextmanager
def suppress_outbox() -> Iterator[None]:
    """Changes made inside come from Specter itself: they never become outbox rows.

    What is marked, on the objects, when it is made: the values of the product fields sent to Specter
    (``ARTICLE_FIELDS``), and objects added or deleted. So it does not matter when the session flushes
    them: inside the block, when a savepoint ends after it, or at the commit. A shop change to the same
    product outside the block is still sent. (Customer edits are not marked: nothing from Specter
    edits a customer.)
    """
    session = _current_session()
    deleted_before = set(session.deleted) if session is not None else set()
    with _FROM_SPECTER.on():
        yield
        if session is not None:
            for obj in set(session.deleted) - deleted_before:
                inspect(obj).info[SPECTER_OBJECT] = True


def mark_transfer_only(session: Session, order_ref: str) -> None:
    """The order's change in the next flush is the outcome of its own push (``TRANSFER_ONLY``)."""
    session.info.setdefault(TRANSFER_ONLY, set()).add(order_ref)


def _current_session() -> Session | None:
    try:
        session: Session = get_state().db.session()
    except RuntimeError:
        return None
    return session


def _remember_specter_value(target: Any, value: Any, oldvalue: Any, initiator: AttributeEventToken) -> None:  # noqa: ARG001
    """Attribute ``set`` event: inside ``suppress_outbox()`` the value is Specter's, remember it."""
    if _FROM_SPECTER:
        inspect(target).info.setdefault(SPECTER_VALUES, {})[initiator.key] = value


def remember_specter_object(session: Session, instance: Any) -> None:  # noqa: ARG001
    """Session ``before_attach``: an object added inside ``suppress_outbox()`` came from Specter."""
    if _FROM_SPECTER:
        inspect(instance).info[SPECTER_OBJECT] = True


def marks(obj: Any) -> dict[str, Any]:
    """The object's marks, without creating an ``info`` dict on objects that have none."""
    insp = inspect(obj)
    return insp.info if "info" in insp.__dict__ else {}


def writing_for_specter() -> bool:
    """Is this thread inside ``suppress_outbox()`` right now?"""
    return bool(_FROM_SPECTER)


def from_specter(obj: Any) -> bool:
    return bool(marks(obj).get(SPECTER_OBJECT))


def forget_marks(objects: Iterable[Any]) -> None:
    for obj in objects:
        found = marks(obj)
        found.pop(SPECTER_VALUES, None)
        found.pop(SPECTER_OBJECT, None)


def install_value_marks(adapter: ShopAdapter) -> None:
    """Listen for sets of the product fields sent to Specter, so Specter's own values are recognised."""
    model = adapter.product_model
    if model is None:
        return
    mapper = inspect(model, raiseerr=False)
    if mapper is None:
        return
    for field in ARTICLE_FIELDS:
        attr = adapter.product_attribute(field)
        if attr and attr in mapper.attrs and not event.contains(getattr(model, attr), "set", _remember_specter_value):
            event.listen(getattr(model, attr), "set", _remember_specter_value, propagate=True)
