"""Kits and bundles: one order line of the shop that ships several products, as several Specter rows.

``SQLAlchemyShopAdapter(line_rows=fn)``: ``fn(line)`` returns the rows (``OrderLine`` records, in the
shop's own terms: prices including VAT when ``prices_include_vat`` names "line.price_excl_vat"), or None
for an ordinary line. ``share_price`` is the common case: the kit's price shared out over its components
by a weight (say each component's list price), the rounding remainder on the first row, so the rows add
up to the line exactly. The stock guard and the reservations count the rows: each component once.

Also here: the lines of an order read from a list, a plain relationship, or a ``lazy="dynamic"`` /
``"write_only"`` relationship (a query; iterating a dynamic one flushes the session first, as the host's
own code would).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from sqlalchemy.orm import AppenderQuery, WriteOnlyCollection

from .records import OrderLine
from .values import dec

# A row is an ``OrderLine``, or a tuple of its fields in order: (sku, qty, price, VAT rate[, name]).
LineRows = Callable[[Any], Iterable[OrderLine | tuple[Any, ...]] | None]


def as_row(row: OrderLine | tuple[Any, ...]) -> OrderLine:
    """A row ``line_rows`` gave, as an ``OrderLine`` (a tuple's price and VAT rate read as decimals)."""
    if isinstance(row, OrderLine):
        return row
    sku, qty, price, vat, *name = row
    return OrderLine(sku=str(sku), qty=int(qty), price_excl_vat=dec(price), vat_percent=dec(vat), name=str(name[0]) if name else "")


class Component(NamedTuple):
    """One product of a kit: ``qty`` of ``sku`` in each kit, its share of the price by ``weight``."""

    sku: str
    qty: int = 1
    weight: Decimal | int | str = 1
    name: str = ""


def share_price(
    price: Decimal | int | str,
    qty: int,
    components: Iterable[Component | tuple[Any, ...]],
    *,
    vat_percent: Decimal | int | str = 25,
    places: int = 2,
) -> list[OrderLine]:
    """The rows of ``qty`` kits sold at ``price`` each: one row per component, ``qty`` times its
    quantity, each unit priced by its weight's share of ``price`` (rounded half up to ``places``
    decimals). The rounding remainder goes on the first component (as a row of its own, of one kit's
    worth, when that component counts more than one in a kit), so the rows add up to ``price * qty``
    exactly. Weights that are all 0 share the price equally. ``components``: ``Component`` records or
    tuples ``(sku, qty, weight[, name])``.
    """
    parts = [part if isinstance(part, Component) else Component(*part) for part in components]
    if not parts:
        raise ValueError("a kit needs at least one component")
    if any(int(part.qty) <= 0 for part in parts):
        raise ValueError(f"a kit component's quantity must be positive: {parts}")
    unit = Decimal(1).scaleb(-places)
    total = Decimal(str(price))
    weights = [Decimal(str(part.weight)) for part in parts]
    if sum(w * part.qty for w, part in zip(weights, parts, strict=True)) == 0:
        weights = [Decimal(1)] * len(parts)
    whole = sum(w * part.qty for w, part in zip(weights, parts, strict=True))
    prices = [(total * w / whole).quantize(unit, rounding=ROUND_HALF_UP) for w in weights]
    remainder = total - sum(p * part.qty for p, part in zip(prices, parts, strict=True))
    vat = Decimal(str(vat_percent))
    rows: list[OrderLine] = []
    for i, (part, each) in enumerate(zip(parts, prices, strict=True)):
        per_kit = int(part.qty)
        if i == 0 and remainder:
            if per_kit > 1:
                rows.append(OrderLine(part.sku, qty * (per_kit - 1), each, vat, part.name))
            rows.append(OrderLine(part.sku, qty, each + remainder, vat, part.name))
            continue
        rows.append(OrderLine(part.sku, qty * per_kit, each, vat, part.name))
    return rows


def read_lines(value: Any, db: Any) -> list[Any]:
    """An order's ``lines`` value -> its line objects. A list or plain relationship as it is; a dynamic
    relationship (an ``AppenderQuery``) iterated; a write-only one selected in ``db``'s session."""
    if value is None:
        return []
    if isinstance(value, WriteOnlyCollection) and not isinstance(value, AppenderQuery):
        return list(db.session.scalars(value.select()))  # a write-only collection cannot be iterated
    return list(value)


__all__ = ["Component", "LineRows", "as_row", "share_price", "read_lines"]
