"""A row inserted where a product's or customer's data is read from (a user's first address, a row
pointing at the user by id): the owners it changes, found after the flush, when the new row's keys and
foreign keys exist. Updates of such rows are found before the flush (``listeners._write_dependents``);
an insert has no old value to compare, so every owner it reaches is sent again."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..origin import from_specter
from ..shop.adapter import Dependency, ShopAdapter


def inserted_dependents(adapter: ShopAdapter, new: list[Any], dependencies: Iterable[Dependency]) -> list[tuple[str, Any]]:
    """(kind, owner) once for each product or customer that reads data from a row in ``new``; owners
    inserted themselves in this flush are left out (their own insert sends them)."""
    deps = [dep for dep in dependencies if not _owner_model(adapter, dep)]
    if not deps:
        return []
    inserted = {id(obj) for obj in new}
    found: list[tuple[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for obj in new:
        if from_specter(obj):
            continue
        for dep in deps:
            if not isinstance(obj, dep.model):
                continue
            for owner in dep.owners(obj):
                key = (dep.kind, id(owner))
                if id(owner) in inserted or key in seen:
                    continue
                seen.add(key)
                found.append((dep.kind, owner))
    return found


def _owner_model(adapter: ShopAdapter, dep: Dependency) -> bool:
    """True for a dependency on the owners' own model (a new product or customer is sent on its own)."""
    own = adapter.product_model if dep.kind == "product" else adapter.customer_model
    return own is not None and issubclass(dep.model, own)


__all__ = ["inserted_dependents"]
