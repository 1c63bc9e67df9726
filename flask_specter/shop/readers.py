"""How ``SQLAlchemyShopAdapter`` reads the values that take more than a path: prices including VAT
(``prices_include_vat``), an order's lines from any kind of relationship, a kit line as several rows
(``line_rows``), the order's delivery address."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .computed import FieldSpec, read_value
from .fields import DELIVERY_FIELDS
from .kits import LineRows, as_row, read_lines
from .prices import ARTICLE_PLACES, ROW_PLACES, net_price
from .records import Address, OrderLine
from .values import dec, empty, text


class Readers:
    """``_net``, ``_product_price``, ``_lines``, ``_rows`` and ``_delivery`` of ``SQLAlchemyShopAdapter``."""

    db: Any
    product_fields: dict[str, FieldSpec]
    parent_fields: dict[str, FieldSpec]
    order_fields: dict[str, FieldSpec]
    line_fields: dict[str, FieldSpec]
    gross_prices: frozenset[str]
    line_rows: LineRows | None

    if TYPE_CHECKING:  # provided by SQLAlchemyShopAdapter

        def _get(self, obj: Any, mapping: Mapping[str, FieldSpec], name: str, default: Any = None) -> Any: ...

    def _net(self, key: str, value: Any, vat_percent: Any, places: int) -> Decimal:
        """The price excluding VAT of the shop's ``value`` for ``key`` ("line.price_excl_vat"): converted
        when ``prices_include_vat`` names it, else the value as it is."""
        amount = dec(value)
        return net_price(amount, dec(vat_percent), places) if key in self.gross_prices else amount

    def _product_price(self, product: Any, parent: Any | None, vat_percent: Decimal) -> Decimal:
        """The product's price excluding VAT: its own, or a variant's parent's, each converted when
        ``prices_include_vat`` names it ("product.price_excl_vat", "parent.price_excl_vat")."""
        own = self._get(product, self.product_fields, "price_excl_vat")
        if parent is not None and empty(own) and self.parent_fields.get("price_excl_vat"):
            inherited = self._get(parent, self.parent_fields, "price_excl_vat")
            if not empty(inherited):
                return self._net("parent.price_excl_vat", inherited, vat_percent, ARTICLE_PLACES)
        return self._net("product.price_excl_vat", None if empty(own) else own, vat_percent, ARTICLE_PLACES)

    def _lines(self, order: Any) -> list[Any]:
        """The order's line objects: a list, a plain relationship, or a ``lazy="dynamic"`` or
        ``"write_only"`` one (read with a query in the host's session)."""
        return read_lines(read_value(order, self.order_fields.get("lines")), self.db)

    def _line(self, line: Any) -> OrderLine:
        fields = self.line_fields
        vat_percent = dec(self._get(line, fields, "vat_percent", 25))
        return OrderLine(
            sku=self._get(line, fields, "sku"),
            qty=int(self._get(line, fields, "qty", 0)),
            price_excl_vat=self._net("line.price_excl_vat", self._get(line, fields, "price_excl_vat"), vat_percent, ROW_PLACES),
            vat_percent=vat_percent,
            name=text(self._get(line, fields, "name")),
        )

    def _rows(self, line: Any) -> Iterator[OrderLine]:
        """The Specter rows of one line: its own, or the rows ``line_rows`` gives for it (a kit), their
        prices converted like the line's (an empty list: the line sends no row). A row is an
        ``OrderLine`` or a tuple of its fields (sku, qty, price, VAT rate, name)."""
        rows = self.line_rows(line) if self.line_rows is not None else None
        if rows is None:
            yield self._line(line)
            return
        for given in rows:
            row = as_row(given)
            net = self._net("line.price_excl_vat", row.price_excl_vat, row.vat_percent, ROW_PLACES)
            yield row if net == row.price_excl_vat else replace(row, price_excl_vat=net)

    def _delivery(self, order: Any) -> Address | None:
        """The order's delivery address, when ``order_fields`` maps one and it has more than a country."""
        if not any(self.order_fields.get(key) for key in DELIVERY_FIELDS):
            return None
        values = {field: text(self._get(order, self.order_fields, key)).strip() for key, field in DELIVERY_FIELDS.items()}
        if not any(value for field, value in values.items() if field != "country"):
            return None
        return Address(**values)


__all__ = ["Readers"]
