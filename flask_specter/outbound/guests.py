"""The customer of a guest order (``guest_customer_fields``): sent from the order's own fields, matched by
Specter by e-mail, and its Specter customer number kept in the link table under the kind "guest", keyed
by the e-mail in lower case (a guest has no customer row to store it on). A second order with the same
e-mail reuses the number; a number Specter no longer knows is replaced by sending the buyer again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from ..models import REF_LENGTH, linked, upsert_link
from ..remote.errors import ExplainedError
from ..shop.records import Customer
from ..state import SpecterState
from . import wire

GUEST_LINK = "guest"

NO_CUSTOMER = (
    "Ordern har ingen kund i butiken och kan inte skickas till Specter. En gästorder skickas med köparen "
    "från ordern när adaptern har guest_customer_fields (se guiden: gästköp); rätta ordern eller "
    "inställningen och tryck \"Försök igen\"."
)
NO_GUEST_EMAIL = (
    "Gästordern saknar köparens e-postadress, som Specter behöver för att känna igen kunden. Fyll i "
    "e-postadressen på ordern och tryck \"Försök igen\"."
)


class GuestProblem(ExplainedError):
    """The order's buyer cannot be sent (no customer row and no guest fields, or no e-mail)."""


def guest_key(email: str) -> str:
    """The link table's key of a guest: the e-mail in lower case (a digest when it is too long to fit)."""
    key = email.strip().lower()
    if len(key) <= REF_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[: REF_LENGTH - 7]


def order_guest(state: SpecterState, order: Any) -> Customer:
    """The buyer of an order without a customer row, read from the order; ``GuestProblem`` when the
    adapter reads no guests or the order carries no e-mail."""
    read = getattr(state.adapter, "guest_customer", None)
    guest: Customer | None = read(order) if read is not None else None
    if guest is None:
        raise GuestProblem(NO_CUSTOMER)
    if not guest.email.strip():
        raise GuestProblem(NO_GUEST_EMAIL)
    return guest


def guest_customer_no(state: SpecterState, guest: Customer, submit: Callable[[dict[str, Any]], str], *, fresh: bool = False) -> str:
    """Specter's customer number of ``guest``: the one kept for the e-mail, else (or with ``fresh``) the
    buyer sent (``submit(wire fields)``: newCustomerSubmit) and its number kept, committed at once like
    a customer sent before its order: the number survives a failure of the order."""
    session = state.db.session
    key = guest_key(guest.email)
    if not fresh:
        existing = linked(session, GUEST_LINK, key)
        if existing:
            return existing
    customer_no = submit(wire.customer_fields(guest))
    upsert_link(session, GUEST_LINK, key, customer_no)
    session.commit()
    return customer_no


__all__ = ["GUEST_LINK", "GuestProblem", "guest_key", "order_guest", "guest_customer_no"]
