"""``SQLAlchemyShopAdapter``'s order options worked out once: the status map and the line's order key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect

from ..remote.errors import SpecterConfigError
from .adapter import ORDER_STATUS_MAP, ORDER_STATUS_NAMES


def status_map(given: Mapping[str, Any] | Mapping[int, str] | None) -> dict[str, Any]:
    """Specter status name -> the shop's value, from the ``order_status_map`` option.

    None: each name itself. Keyed by names: exactly those (a value None is the same as leaving the
    name out: that status is not written). Keyed by Specter's statusId (the older form): the names'
    defaults with those replaced. A key Specter does not use raises ``SpecterConfigError``.
    """
    names: dict[str, Any] = {name: name for name in ORDER_STATUS_NAMES}
    if not given:
        return names
    if all(isinstance(key, int) and not isinstance(key, bool) for key in given):
        unknown = [key for key in given if key not in ORDER_STATUS_MAP]
        if unknown:
            raise SpecterConfigError(
                f"SQLAlchemyShopAdapter: order_status_map has statusIds Specter does not use: {unknown} (known: {sorted(ORDER_STATUS_MAP)})"
            )
        return {**names, **{ORDER_STATUS_MAP[key]: value for key, value in given.items() if isinstance(key, int)}}
    unknown_names = [key for key in given if key not in names]
    if unknown_names:
        raise SpecterConfigError(
            f"SQLAlchemyShopAdapter: order_status_map has names that are not Specter statuses: {unknown_names} "
            f"(known: {', '.join(ORDER_STATUS_NAMES)})"
        )
    return {str(key): value for key, value in given.items() if value is not None}


def line_order_attr(orders: type[Any], lines: type[Any], lines_attr: str | None) -> str:
    """The attribute of ``lines`` (the order-line class) that holds its order's id, found through the
    relationship ``orders.<lines_attr>`` or a many-to-one from the line to the order."""
    order_pk = set(inspect(orders).primary_key)
    line_mapper = inspect(lines)
    candidates = []
    rel = inspect(orders).relationships.get(lines_attr or "")
    if rel is not None and rel.mapper.class_ is lines:
        candidates += [(local, remote) for local, remote in rel.local_remote_pairs or ()]
    for line_rel in line_mapper.relationships:
        if line_rel.mapper.class_ is orders:
            candidates += [(remote, local) for local, remote in line_rel.local_remote_pairs or ()]
    for order_col, line_col in candidates:
        if order_col in order_pk:
            return str(line_mapper.get_property_by_column(line_col).key)
    raise SpecterConfigError(
        f"SQLAlchemyShopAdapter: line_model {lines.__name__} has no foreign key to {orders.__name__}'s id "
        f"(through the relationship {orders.__name__}.{lines_attr} or one of its own)"
    )


__all__ = ["status_map", "line_order_attr"]
