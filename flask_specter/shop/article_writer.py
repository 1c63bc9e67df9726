"""Specter's article data written into the host's product (the article import), for SQLAlchemyShopAdapter."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..remote.parsing import ArticleInfo
from .computed import FieldSpec, read_value
from .prices import gross_from_specter
from .records import Product
from .values import dec, empty


class ArticleWriter:
    """``apply_article`` of ``SQLAlchemyShopAdapter``: create or update the product, its category.

    A computed field (``Computed`` or a callable) is read-only: nothing is written to it. A price the
    shop keeps including VAT (``prices_include_vat``) is written including VAT: the shop's own price
    when Specter's net price is the one it stands for, else Specter's with VAT, rounded to öre.
    """

    db: Any
    product_fields: dict[str, FieldSpec]
    category_model: type[Any] | None
    gross_prices: frozenset[str]

    if TYPE_CHECKING:  # provided by SQLAlchemyShopAdapter

        def get_product(self, sku: str) -> Any | None: ...

        def product_record(self, product: Any) -> Product: ...

        def product_parent(self, product: Any) -> Any | None: ...

        def _products(self) -> type[Any]: ...

        @staticmethod
        def _set(obj: Any, mapping: Mapping[str, FieldSpec], name: str, value: Any) -> None: ...

        @staticmethod
        def _model(model: type[Any] | None, kind: str) -> type[Any]: ...

    def apply_article(self, info: ArticleInfo, options: Mapping[str, Any]) -> str:
        """Write Specter's article data to the shop's product; create it when importing is on."""
        fields = self.product_fields
        product = self.get_product(info.article_no)
        if info.deleted:
            if product is not None:
                self._set(product, fields, "active", False)
                return "deactivated"
            return "skipped"
        if product is None:
            if options.get("import_price_only"):
                return "skipped"
            product = self._products()()
            self._set(product, fields, "sku", info.article_no)
            self._set(product, fields, "stock", 0)
            self._set(product, fields, "name", info.name or info.article_no)
            vat = info.vat_percent if info.vat_percent is not None else Decimal("25")
            self._set(product, fields, "vat_percent", vat)
            self._set(product, fields, "price_excl_vat", self._shop_price(None, info.price_excl_vat or Decimal("0"), vat))
            self._set(product, fields, "active", True)
            self.db.session.add(product)
            created = True
        else:
            created = False
        # A variant shows its parent's values where it has none: Specter reporting what it shows already
        # is no override, and its name is the shop's composition ("Parent (Variant)"), never written back.
        shown = self.product_record(product) if self.product_parent(product) is not None else None

        def put(name: str, value: Decimal) -> None:
            if shown is None or dec(value) != dec(getattr(shown, name)):
                self._set(product, fields, name, value)

        if info.price_excl_vat is not None and not created:
            vat = info.vat_percent if info.vat_percent is not None else self.product_record(product).vat_percent
            if shown is None or dec(info.price_excl_vat) != dec(shown.price_excl_vat):
                own = read_value(product, fields.get("price_excl_vat"))
                self._set(product, fields, "price_excl_vat", self._shop_price(None if empty(own) else dec(own), info.price_excl_vat, vat))
        if options.get("import_price_only") and not created:
            return "price"
        if info.name and shown is None:
            self._set(product, fields, "name", info.name)
        if info.buy_price is not None:
            put("buy_price", info.buy_price)
        if info.bar_code:
            self._set(product, fields, "barcode", info.bar_code)
        if info.weight is not None:
            put("weight", info.weight)
        if info.vat_percent is not None:
            put("vat_percent", info.vat_percent)
        if self.category_model is not None and (created or options.get("move_product_to_group_category")):
            category = self._group_category(info, options) if options.get("article_group_creates_category") else None
            if category is not None or created:
                self.db.session.flush()
                self._set(product, fields, "category_id", getattr(category, "id", None))
        return "created" if created else "updated"

    def _shop_price(self, current: Decimal | None, net: Decimal, vat_percent: Decimal) -> Decimal:
        """The value the shop's own price attribute takes for Specter's ``net`` price."""
        if "product.price_excl_vat" not in self.gross_prices:
            return net
        return gross_from_specter(net, vat_percent, current)

    def _group_category(self, info: ArticleInfo, options: Mapping[str, Any]) -> Any | None:
        name = info.group_name or info.group_no
        if not name:
            return None
        model = self._model(self.category_model, "category")
        category = self.db.session.execute(select(model).where(model.name == name)).scalar_one_or_none()
        if category is None:
            category = model(name=name)
            if hasattr(model, "active"):
                category.active = bool(options.get("article_group_category_active", True))
            self.db.session.add(category)
            self.db.session.flush()
        return category
