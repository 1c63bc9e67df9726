"""A customer's first and last name as Specter requires them (``firstName`` and ``surName``), from
whatever the shop keeps: two name fields, one (``customer_fields={"name": "full_name"}``), a username.

The rule, in order: the mapped ``first_name`` and ``last_name``; one of them empty: the mapped ``name``
split on its first space ("Anna Maria Ek" -> "Anna", "Maria Ek"); one still empty: the other fills it
(a single word fills both: "Cher" -> "Cher", "Cher"). A customer with no name at all stays without one
(Specter refuses it, and the admin shows why).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from .computed import Computed, FieldSpec
from .fields import CUSTOMER_TEXT
from .records import Customer
from .values import text

log = logging.getLogger("flask_specter.adapter")


def split_name(full: str) -> tuple[str, str]:
    """(first, last) of one name field: split on the first space; a single word fills both."""
    words = " ".join(full.split())
    first, _, rest = words.partition(" ")
    return first, rest or first


def person_names(first: str, last: str, full: str) -> tuple[str, str]:
    """(first, last) by the rule of this module."""
    first, last = first.strip(), last.strip()
    if not (first and last) and full.strip():
        split_first, split_last = split_name(full)
        first, last = first or split_first, last or split_last
    return first or last, last or first


def person_record(ref: str, read: Callable[[str], Any]) -> Customer:
    """A ``Customer`` from ``read(field)`` (the customer's text fields and ``name``), names by the rule."""
    values = {name: text(read(name)) for name in CUSTOMER_TEXT}
    values["first_name"], values["last_name"] = person_names(values["first_name"], values["last_name"], text(read("name")))
    return Customer(ref=ref, **values)


def warn_missing_names(option: str, fields: Mapping[str, FieldSpec], model: type[Any] | None, readable: Callable[[type[Any], str], bool]) -> None:
    """A logged warning when ``fields`` reads neither ``name`` nor both of ``first_name``/``last_name``
    from ``model`` (``readable(model, path)``): Specter requires both names, the rule then fills one
    from the other or leaves the customer without a name."""
    if model is None:
        return

    def has(key: str) -> bool:
        spec = fields.get(key)
        return isinstance(spec, Computed) or (bool(spec) and readable(model, str(spec)))

    if has("name") or (has("first_name") and has("last_name")):
        return
    missing = [key for key in ("first_name", "last_name") if not has(key)]
    log.warning(
        "SQLAlchemyShopAdapter: %s reads no %s from %s: Specter requires a first and a last name. Map "
        "\"name\" to one name field (split on its first space; one word fills both), or both fields.",
        option, " nor ".join(missing), model.__name__,
    )


__all__ = ["split_name", "person_names", "person_record", "warn_missing_names"]
