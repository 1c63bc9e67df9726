"""Guest checkout: the buyer lives on the order (no customer row, ``user_id`` None), and
``guest_customer_fields`` (customer field names -> attribute paths on the ORDER) reads the customer
from it. Specter matches the customer by e-mail, as for any customer; the connector keeps Specter's
customer number in its link table, keyed by the e-mail (``outbound/guests.py``)."""

from __future__ import annotations

from typing import Any

from .computed import FieldSpec, read_value
from .names import person_record
from .records import Customer
from .values import text

GUEST_PREFIX = "guest:"  # a guest's ``Customer.ref``: "guest:" and the e-mail, never a shop id


class GuestCustomers:
    """``guest_customer`` of ``SQLAlchemyShopAdapter``."""

    guest_customer_fields: dict[str, FieldSpec]
    default_flag: str | None

    def guest_customer(self, order: Any) -> Customer | None:
        """The buyer of an order without a customer row, as a ``Customer`` read from the order; None
        when the adapter has no ``guest_customer_fields``. Its ``email`` may be empty (the order then
        cannot be sent: the connector says so)."""
        fields = self.guest_customer_fields
        if not fields:
            return None

        def read(name: str) -> Any:
            return read_value(order, fields.get(name), None, self.default_flag)

        email = text(read("email")).strip()
        return person_record(GUEST_PREFIX + email.lower(), read)


__all__ = ["GuestCustomers", "GUEST_PREFIX"]
