"""SQLAlchemyShopAdapter's ``prefetch``: a batch of customers and orders (with their lines) in a few
statements, for the outbox drain that reads twenty rows at a time.

Read one by one, each customer, order and order's lines was a statement of its own (``Session.get``, a
lazy load): on PostgreSQL a round trip each, and SQLAlchemy's work per statement was most of the
drain's own time. Loaded here with ``IN`` lists (and the lines with ``selectinload`` when ``lines`` is a
plain relationship), the adapter's ``get_customer``/``get_order`` then find them in the session.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import RelationshipProperty, selectinload

from .computed import FieldSpec, path_of
from .paths import read_path

# Lazy strategies ``selectinload`` may stand in for (a dynamic or write-only collection is not loaded at all).
LOADABLE = frozenset({"select", "selectin", "joined", "subquery", "immediate", True})


class Prefetch:
    """``prefetch`` of ``SQLAlchemyShopAdapter``."""

    db: Any
    customer_model: type[Any] | None
    order_model: type[Any] | None
    order_fields: dict[str, FieldSpec]

    def prefetch(self, *, customers: Collection[str] = (), orders: Collection[str] = ()) -> list[Any]:
        """Load these customers and orders (and the orders' customers and lines) into the session;
        returns them, for the caller to hold while it reads (the session holds its objects weakly)."""
        loaded: list[Any] = []
        wanted = set(customers)
        if orders and self.order_model is not None:
            found = self._by_refs(self.order_model, orders, *self._lines_option(self.order_model))
            loaded += found
            customer_path = path_of(self.order_fields.get("customer_id"))
            if customer_path and "." not in customer_path:
                wanted.update(str(ref) for order in found if (ref := read_path(order, customer_path, None)) is not None)
        if wanted and self.customer_model is not None:
            loaded += self._by_refs(self.customer_model, wanted)
        return loaded

    def _by_refs(self, model: type[Any], refs: Collection[str], *options: Any) -> list[Any]:
        key = inspect(model).primary_key[0]
        ids = sorted({int(ref) for ref in refs if str(ref).isdigit()})
        if not ids:
            return []
        return list(self.db.session.execute(select(model).where(key.in_(ids)).options(*options)).scalars())

    def _lines_option(self, model: type[Any]) -> tuple[Any, ...]:
        """``selectinload`` of the order's ``lines`` relationship, when it is one that loads."""
        path = path_of(self.order_fields.get("lines"))
        prop = inspect(model).attrs.get(path) if path and "." not in path else None
        if isinstance(prop, RelationshipProperty) and prop.lazy in LOADABLE:
            return (selectinload(getattr(model, path)),)  # type: ignore[arg-type]
        return ()
