"""``SQLAlchemyShopAdapter``: the ``ShopAdapter`` for plain SQLAlchemy models, configured by model
classes and field names, so most shops need no adapter code of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ..remote.parsing import ArticleInfo
from .adapter import PAY_TYPES, ShopAdapter, StockTarget
from .order_rules import line_order_attr, status_map
from .records import Customer, Order, OrderLine, Product

# The extension's names (left) -> attribute names on the host's models (right), by default the same.
PRODUCT_FIELDS = {
    "sku": "sku",
    "name": "name",
    "stock": "stock",
    "price_excl_vat": "price_excl_vat",
    "vat_percent": "vat_percent",
    "buy_price": "buy_price",
    "barcode": "barcode",
    "weight": "weight",
    "active": "active",
    "category_id": "category_id",
}
CUSTOMER_FIELDS = {
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "company": "company",
    "org_no": "org_no",
    "phone": "phone",
    "mobile": "mobile",
    "address": "address",
    "address2": "address2",
    "zip": "zip",
    "city": "city",
    "country": "country",
    "specter_customer_no": "specter_customer_no",
}
ORDER_FIELDS = {
    "number": "number",
    "customer_id": "customer_id",
    "lines": "lines",
    "currency": "currency",
    "payment_method": "payment_method",
    "payment_reference": "payment_reference",
    "shipping_method": "shipping_method",
    "shipping_price_excl_vat": "shipping_price_excl_vat",
    "shipping_vat_percent": "shipping_vat_percent",
    "discount_excl_vat": "discount_excl_vat",
    "comment": "comment",
    "status": "status",
    "specter_order_no": "specter_order_no",
    "transfer_error": "transfer_error",
    "tracking_no": "tracking_no",
    "invoice_id": "invoice_id",
}
LINE_FIELDS = {"sku": "sku", "name": "name", "qty": "qty", "price_excl_vat": "price_excl_vat", "vat_percent": "vat_percent"}

# The customer fields read into a ``Customer`` record (all text, "" when empty).
_CUSTOMER_TEXT = ("email", "first_name", "last_name", "company", "org_no", "phone", "mobile", "address", "address2", "zip", "city", "country")


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def _dec_or_none(value: Any) -> Decimal | None:
    return None if value is None else _dec(value)


def _text(value: Any) -> str:
    return str(value) if value else ""


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class SQLAlchemyShopAdapter(ShopAdapter):
    """A ``ShopAdapter`` for SQLAlchemy models, configured by model classes and field names.

    ``product_fields``, ``customer_fields``, ``order_fields`` and ``line_fields`` map the extension's
    names (left) to attribute names on the host's models (right); missing keys keep the defaults above
    (``PRODUCT_FIELDS``, ...). ``category_model`` (optional, with ``name`` and ``active``) enables
    categories from article groups. ``pay_types`` adds to or changes ``PAY_TYPES``.

    Orders:

    - ``order_status_map``: Specter's status names (``ORDER_STATUS_NAMES``: "received", "confirmed",
      "partly_shipped", "shipped", "cancelled") -> the value the shop's status column takes, of any
      type: ``{"shipped": 6, "cancelled": 5}`` for an integer column, Enum members for an Enum column.
      Only the names given are written; news with another status is recorded on the order event
      ("status X has no shop value") and the shop's status is left alone. Default (None): each name
      itself, for a text column. The older form keyed by Specter's statusId (``{4: "sent"}``) is still
      read: it changes the names' defaults.
    - ``order_ready``: ``order -> bool``, whether an order may be sent now (say
      ``lambda o: o.paid_at is not None``). Default: the order has at least one line. A not-ready
      order waits (pending, "väntar: ordern är inte klar"), it never fails.
    - ``line_model``: the order-line class, when the shop commits lines after their order: a line
      inserted, changed or deleted later sends the waiting order at once. Its order is found through
      the relationship ``order_fields["lines"]`` (or a many-to-one from the line to the order).
    - ``order_fields`` values ``specter_order_no`` / ``transfer_error`` (and ``customer_fields``'
      ``specter_customer_no``) may be None when the shop has no such column: Specter's numbers then
      live only in the connector's link table, and the transfer error on the outbox row.
    """

    def __init__(
        self,
        db: Any,
        *,
        product_model: type[Any],
        customer_model: type[Any] | None = None,
        order_model: type[Any] | None = None,
        category_model: type[Any] | None = None,
        product_fields: Mapping[str, str] | None = None,
        customer_fields: Mapping[str, str] | None = None,
        order_fields: Mapping[str, str] | None = None,
        line_fields: Mapping[str, str] | None = None,
        pay_types: Mapping[str, str] | None = None,
        order_status_map: Mapping[str, Any] | Mapping[int, str] | None = None,
        order_ready: Callable[[Any], bool] | None = None,
        line_model: type[Any] | None = None,
    ):
        self.db = db
        self.product_model = product_model
        self.customer_model = customer_model
        self.order_model = order_model
        self.category_model = category_model
        self.product_fields: dict[str, str] = {**PRODUCT_FIELDS, **(product_fields or {})}
        self.customer_fields: dict[str, str] = {**CUSTOMER_FIELDS, **(customer_fields or {})}
        self.order_fields: dict[str, str] = {**ORDER_FIELDS, **(order_fields or {})}
        self.line_fields: dict[str, str] = {**LINE_FIELDS, **(line_fields or {})}
        self.pay_types = {**PAY_TYPES, **(pay_types or {})}
        self.order_status_map: dict[str, Any] = status_map(order_status_map)
        self._order_ready = order_ready
        self.line_model = line_model
        self._line_order_attr: str | None = None

    # helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _get(obj: Any, mapping: Mapping[str, str], name: str, default: Any = None) -> Any:
        attr = mapping.get(name)
        return getattr(obj, attr, default) if attr else default

    @staticmethod
    def _set(obj: Any, mapping: Mapping[str, str], name: str, value: Any) -> None:
        attr = mapping.get(name)
        if attr and hasattr(type(obj), attr):
            setattr(obj, attr, value)

    @staticmethod
    def _model(model: type[Any] | None, kind: str) -> type[Any]:
        if model is None:
            raise LookupError(f"SQLAlchemyShopAdapter has no {kind}_model")
        return model

    # products --------------------------------------------------------------------------------------
    def _products(self) -> type[Any]:
        return self._model(self.product_model, "product")

    def stock_target(self) -> StockTarget:
        table = self._products().__table__
        return table, table.c[self.product_fields["sku"]], table.c[self.product_fields["stock"]]

    def get_product(self, sku: str) -> Any | None:
        model = self._products()
        col = getattr(model, self.product_fields["sku"])
        return self.db.session.execute(select(model).where(col == sku)).scalar_one_or_none()

    def product_sku(self, product: Any) -> str:
        sku: str = self._get(product, self.product_fields, "sku")
        return sku

    def product_stock(self, product: Any) -> int:
        return int(self._get(product, self.product_fields, "stock", 0) or 0)

    def product_record(self, product: Any) -> Product:
        g = self._get
        fields = self.product_fields
        barcode = g(product, fields, "barcode")
        return Product(
            sku=self.product_sku(product),
            name=_text(g(product, fields, "name", "")),
            price_excl_vat=_dec(g(product, fields, "price_excl_vat")),
            vat_percent=_dec(g(product, fields, "vat_percent", 25)),
            buy_price=_dec_or_none(g(product, fields, "buy_price")),
            weight=_dec_or_none(g(product, fields, "weight")),
            barcode=str(barcode) if barcode else None,
            stock=self.product_stock(product),
        )

    def product_attribute(self, field: str) -> str | None:
        return self.product_fields.get(field) or None

    def iter_products(self) -> Iterator[Any]:
        model = self._products()
        col = getattr(model, self.product_fields["sku"])
        return iter(self.db.session.execute(select(model).order_by(col)).scalars().all())

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
            self._set(product, fields, "vat_percent", info.vat_percent if info.vat_percent is not None else Decimal("25"))
            self._set(product, fields, "price_excl_vat", info.price_excl_vat or Decimal("0"))
            self._set(product, fields, "active", True)
            self.db.session.add(product)
            created = True
        else:
            created = False
        if info.price_excl_vat is not None:
            self._set(product, fields, "price_excl_vat", info.price_excl_vat)
        if options.get("import_price_only") and not created:
            return "price"
        if info.name:
            self._set(product, fields, "name", info.name)
        if info.buy_price is not None:
            self._set(product, fields, "buy_price", info.buy_price)
        if info.bar_code:
            self._set(product, fields, "barcode", info.bar_code)
        if info.weight is not None:
            self._set(product, fields, "weight", info.weight)
        if info.vat_percent is not None:
            self._set(product, fields, "vat_percent", info.vat_percent)
        if self.category_model is not None and (created or options.get("move_product_to_group_category")):
            category = self._group_category(info, options) if options.get("article_group_creates_category") else None
            if category is not None or created:
                self.db.session.flush()
                self._set(product, fields, "category_id", getattr(category, "id", None))
        return "created" if created else "updated"

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

    # customers -------------------------------------------------------------------------------------
    def get_customer(self, ref: str) -> Any | None:
        return self.db.session.get(self._model(self.customer_model, "customer"), int(ref))

    def customer_ref(self, customer: Any) -> str:
        return str(customer.id)

    def customer_record(self, customer: Any) -> Customer:
        text = {name: _text(self._get(customer, self.customer_fields, name)) for name in _CUSTOMER_TEXT}
        return Customer(ref=self.customer_ref(customer), **text)

    def set_customer_specter_no(self, customer: Any, customer_no: str) -> None:
        self._set(customer, self.customer_fields, "specter_customer_no", customer_no)

    def customer_specter_no(self, customer: Any) -> str | None:
        return _text_or_none(self._get(customer, self.customer_fields, "specter_customer_no"))

    def customer_attribute(self, field: str) -> str | None:
        return self.customer_fields.get(field) or None

    def iter_customers(self) -> Iterator[Any]:
        model = self._model(self.customer_model, "customer")
        return iter(self.db.session.execute(select(model).order_by(model.id)).scalars().all())

    # orders ----------------------------------------------------------------------------------------
    def _orders(self) -> type[Any]:
        return self._model(self.order_model, "order")

    def get_order(self, ref: str) -> Any | None:
        return self.db.session.get(self._orders(), int(ref))

    def find_order(self, *, number: str | None = None, specter_order_no: str | None = None) -> Any | None:
        model = self._orders()
        value: str | None
        if number is not None:
            attr, value = self.order_fields.get("number"), number
        else:
            attr, value = self.order_fields.get("specter_order_no"), specter_order_no
        if not attr or not hasattr(model, attr):  # no such column: the connector's link table knows the order
            return None
        col = getattr(model, attr)
        return self.db.session.execute(select(model).where(col == value)).scalars().first()

    def order_ref(self, order: Any) -> str:
        return str(order.id)

    def _lines(self, order: Any) -> Iterable[Any]:
        lines: Iterable[Any] = self._get(order, self.order_fields, "lines", []) or []
        return lines

    def _line(self, line: Any) -> OrderLine:
        fields = self.line_fields
        return OrderLine(
            sku=self._get(line, fields, "sku"),
            qty=int(self._get(line, fields, "qty", 0)),
            price_excl_vat=_dec(self._get(line, fields, "price_excl_vat")),
            vat_percent=_dec(self._get(line, fields, "vat_percent", 25)),
            name=_text(self._get(line, fields, "name")),
        )

    def order_record(self, order: Any) -> Order:
        fields = self.order_fields
        g = self._get
        return Order(
            ref=self.order_ref(order),
            number=self.order_number(order),
            customer_ref=_text_or_none(g(order, fields, "customer_id")),
            lines=tuple(self._line(line) for line in self._lines(order)),
            currency=_text(g(order, fields, "currency")) or None,
            payment_method=_text(g(order, fields, "payment_method")),
            payment_reference=_text(g(order, fields, "payment_reference")),
            shipping_method=_text(g(order, fields, "shipping_method")),
            shipping_price_excl_vat=_dec_or_none(g(order, fields, "shipping_price_excl_vat")),
            shipping_vat_percent=_dec(g(order, fields, "shipping_vat_percent", 25)),
            discount_excl_vat=_dec_or_none(g(order, fields, "discount_excl_vat")),
            comment=_text(g(order, fields, "comment")),
        )

    def order_number(self, order: Any) -> str | None:
        return _text_or_none(self._get(order, self.order_fields, "number"))

    # readiness, lines committed after the order, statuses ---------------------------------------
    def order_ready(self, order: Any) -> bool:
        if self._order_ready is not None:
            return bool(self._order_ready(order))
        return any(True for _line in self._lines(order))

    def line_order_ref(self, line: Any) -> str | None:
        if self.line_model is None or not isinstance(line, self.line_model):
            return None
        if self._line_order_attr is None:
            self._line_order_attr = line_order_attr(self._orders(), self._model(self.line_model, "line"), self.order_fields.get("lines"))
        value = getattr(line, self._line_order_attr, None)
        return None if value is None else str(value)

    def order_status(self, status: str) -> Any | None:
        return self.order_status_map.get(status)

    def order_specter_no(self, order: Any) -> str | None:
        return _text_or_none(self._get(order, self.order_fields, "specter_order_no"))

    def order_transfer_error(self, order: Any) -> str | None:
        return _text_or_none(self._get(order, self.order_fields, "transfer_error"))

    def order_field_length(self, field: str) -> int | None:
        attr = self.order_fields.get(field)
        table = getattr(self.order_model, "__table__", None)
        if table is None or not attr or attr not in table.c:
            return None
        length: int | None = getattr(table.c[attr].type, "length", None)
        return length

    def set_order_transfer(self, order: Any, *, specter_order_no: str | None, error: str | None) -> None:
        self._set(order, self.order_fields, "specter_order_no", specter_order_no)
        self._set(order, self.order_fields, "transfer_error", error)

    def apply_order_change(self, order: Any, *, status: Any | None = None, tracking_no: str | None = None, invoice_id: str | None = None) -> None:
        if status is not None and status != "":
            self._set(order, self.order_fields, "status", status)
        if tracking_no:
            self._set(order, self.order_fields, "tracking_no", tracking_no)
        if invoice_id:
            self._set(order, self.order_fields, "invoice_id", invoice_id)


__all__ = ["SQLAlchemyShopAdapter", "PRODUCT_FIELDS", "CUSTOMER_FIELDS", "ORDER_FIELDS", "LINE_FIELDS"]
