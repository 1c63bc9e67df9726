"""``SQLAlchemyShopAdapter``: the ``ShopAdapter`` for plain SQLAlchemy models, configured by model
classes and field names, so most shops need no adapter code of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import select

from .adapter import PAY_TYPES, Dependency, ShopAdapter, StockTarget
from .article_writer import ArticleWriter
from .computed import FieldSpec, path_of, read_value, specs, write_value
from .fields import (
    CUSTOMER_FIELDS,
    DELIVERY_FIELDS,
    LINE_FIELDS,
    ORDER_FIELDS,
    PARENT_FIELDS_DEFAULT,
    PRODUCT_FIELDS,
    VARIANT_NAME,
)
from .fk_paths import follow
from .guest import GuestCustomers
from .kits import LineRows
from .names import person_record
from .options_check import OptionsCheck
from .order_feedback import OrderFeedback
from .order_rules import line_order_attr, status_map
from .prefetch import Prefetch
from .prices import DISCOUNT_VAT_PERCENT, ROW_PLACES, gross_fields
from .readers import Readers
from .records import Customer, Order, Product
from .values import dec, dec_or_none, empty, text, text_or_none


class SQLAlchemyShopAdapter(ArticleWriter, OptionsCheck, Readers, Prefetch, GuestCustomers, OrderFeedback, ShopAdapter):
    """A ``ShopAdapter`` for SQLAlchemy models, configured by model classes and field names.

    ``SQLAlchemyShopAdapter(db, product_model=Product, customer_model=Customer, order_model=Order)``
    joins a shop whose models use the default attribute names; the keyword arguments below adapt it to
    other shapes. ``init_app`` checks the configuration against the models (``validate``): a
    misspelled field, path or option raises ``SpecterConfigError`` naming the model, the field and the
    attribute, when the app starts.

    :param db: the host's Flask-SQLAlchemy object (its ``session`` is used for every read and write).
    :param product_model: the mapped class of products (or of variants, see ``parent``): one row per
        SKU, with the stock column. Required.
    :param customer_model: the mapped class of customers, or None (no customer pushes).
    :param order_model: the mapped class of orders, or None (no order pushes).
    :param category_model: a mapped class with ``name`` (and optionally ``active``), or None: with it the
        article import creates categories from Specter's article groups. Default None.
    :param product_fields: the connector's product field names -> attribute paths on ``product_model``.
        Keys (default: the same name): ``sku``, ``name``, ``stock``, ``price_excl_vat``, ``vat_percent``
        (a missing attribute means 25), ``buy_price``, ``barcode``, ``weight``, ``active``,
        ``category_id``, and ``reserved`` (no default). ``sku`` and ``stock`` must be plain columns of
        the model's table.
    :param customer_fields: customer field names -> attribute paths on ``customer_model``. Keys (default:
        the same name): ``email``, ``first_name``, ``last_name``, ``company``, ``org_no``, ``phone``,
        ``mobile``, ``address``, ``address2``, ``zip``, ``city``, ``country``, ``specter_customer_no``;
        ``name`` (no default): one name field, split into first and last name (``shop/names.py``).
    :param guest_customer_fields: customer field names -> attribute paths on ``order_model``: the buyer
        of an order without a customer row (guest checkout; ``shop/guest.py``). Default None.
    :param order_fields: order field names -> attribute paths on ``order_model``. Keys (default: the
        same name): ``number``, ``customer_id``, ``lines`` (the relationship to the order's lines),
        ``currency``, ``payment_method``, ``payment_reference``, ``shipping_method``,
        ``shipping_price_excl_vat``, ``shipping_vat_percent``, ``discount_excl_vat``, ``comment``,
        ``status``, ``specter_order_no``, ``transfer_error``, ``tracking_no``, ``invoice_id``;
        ``discount_vat_percent`` (no default: the discount row's VAT rate, else 25); and the
        delivery address (no default: an order without them carries no delivery address and Specter
        delivers to the customer's address): ``delivery_name`` (the person who receives it: Specter's
        ``deliveryAttention``), ``delivery_company`` (a company receiving it: ``deliveryCompanyName``),
        ``delivery_address``, ``delivery_address2``, ``delivery_zip``, ``delivery_city``,
        ``delivery_country``.
    :param line_fields: order line field names -> attribute paths on the line class (the class the
        ``lines`` relationship leads to). Keys (default: the same name): ``sku``, ``name``, ``qty``,
        ``price_excl_vat``, ``vat_percent``.
    :param parent: the name of the many-to-one relationship on ``product_model`` leading to the
        variant's parent product (or its foreign-key id column, ``"product_id"``), or None (default:
        products have no parents). A product whose parent is set is a *variant*: see ``parent_fields``.
    :param parent_fields: what a variant takes from its parent: field names -> attribute paths on the
        parent's class. Keys: ``name``, ``price_excl_vat``, ``vat_percent``, ``buy_price``, ``weight``,
        ``active``. Default (with ``parent`` set): ``name``, ``price_excl_vat``, ``vat_percent`` and
        ``active`` at the attributes ``product_fields`` names (a product model whose parents are rows
        of the same model). A price, VAT rate, buy price or weight is the parent's when the variant's
        own value is None or empty (a variant's own value, 0 included, overrides it). ``active`` is
        checked but not read. A default (not given) that the parent's class lacks reads as empty.
    :param variant_name: the format of a variant's name in Specter when the variant has a name of its
        own, with the fields ``{parent}`` and ``{variant}``; default ``"{parent} ({variant})"``
        ("Tröja (Röd, M)"). A variant without its own name gets its parent's name, and one whose
        parent has none either its SKU: never an empty name.
    :param pay_types: the shop's payment method names -> Specter's pay type codes, added to (or
        replacing entries of) ``PAY_TYPES``.
    :param order_status_map: Specter's status names (``ORDER_STATUS_NAMES``: "received", "confirmed",
        "partly_shipped", "shipped", "cancelled") -> the value the shop's status column takes, of any
        type: ``{"shipped": 6, "cancelled": 5}`` for an integer column, Enum members for an Enum column.
        Only the names given are written; news with another status is recorded on the order event
        ("status X has no shop value") and the shop's status is left alone. Default (None): each name
        itself, for a text column. The older form keyed by Specter's statusId (``{4: "sent"}``) is
        still read: it changes the names' defaults. A function ``name -> value`` (None: no shop value)
        may stand for the map.
    :param order_ready: ``order -> bool``, whether an order may be sent now (say
        ``lambda o: o.paid_at is not None``). Default: the order has at least one line. A not-ready
        order waits (pending, "väntar: ordern är inte klar"), it never fails.
    :param line_model: the order-line class, when the shop commits lines after their order: a line
        inserted, changed or deleted later sends the waiting order at once. Its order is found through
        the relationship ``order_fields["lines"]`` (or a many-to-one from the line to the order).
        Default None.
    :param prices_include_vat: True, or the names of the shop's prices that include VAT (moms):
        "product.price_excl_vat", "parent.price_excl_vat", "line.price_excl_vat",
        "order.shipping_price_excl_vat", "order.discount_excl_vat". Specter gets them excluding VAT at
        the product's, line's or shipping's rate (a discount's at 25 %), rounded half up to 2 decimals
        on articles and 3 on order rows; the article import writes prices including VAT back
        (``shop/prices.py`` says how it rounds). Default False: the prices exclude VAT.
    :param line_rows: ``line -> rows`` for a kit or bundle: the ``OrderLine`` records one line of the
        shop is sent as (prices in the shop's own terms), or None for an ordinary line.
        ``flask_specter.shop.kits.share_price`` shares a kit's price out. Default None.

    Attribute paths: a plain attribute name (``"title"``), or a dotted path through many-to-one or
    one-to-one relationships (``"default_address.postcode"``, ``"user.profile.phone"``), foreign-key
    ids (``"user_id.email"``) and rows that point here by id (``"Address[user_id].city"``; of several
    rows the ``default_flag`` one, else the latest: ``shop/fk_paths.py``); a related
    object that is None reads as an empty value. A change of the related object (the address edited,
    or another one chosen) updates the product or customer in Specter. A map value of ``None`` means
    the shop has no such attribute: the field is empty. A value may also be a function of the object,
    best as ``flask_specter.Computed(fn, reads=("price", "parent.price"))``: a change of an attribute it
    ``reads`` updates the record in Specter (a plain callable's inputs are not watched); it is
    read-only, so the article import does not write it. For ``order_fields``' ``specter_order_no`` /
    ``transfer_error`` and ``customer_fields``' ``specter_customer_no`` Specter's numbers then live only
    in the connector's link table, and the transfer error on the outbox row.

    Writes from Specter (the article import) go to the product's own attributes: a variant's name is
    the shop's composition and is not written back, and a price or VAT rate Specter reports equal to
    what the variant shows already (its parent's) is not copied onto the variant.
    """

    def __init__(
        self,
        db: Any,
        *,
        product_model: type[Any],
        customer_model: type[Any] | None = None,
        order_model: type[Any] | None = None,
        category_model: type[Any] | None = None,
        product_fields: Mapping[str, Any] | None = None,
        customer_fields: Mapping[str, Any] | None = None,
        order_fields: Mapping[str, Any] | None = None,
        line_fields: Mapping[str, Any] | None = None,
        parent: str | None = None,
        parent_fields: Mapping[str, Any] | None = None,
        variant_name: str = VARIANT_NAME,
        pay_types: Mapping[str, str] | None = None,
        order_status_map: Mapping[str, Any] | Mapping[int, str] | Callable[[str], Any] | None = None,
        order_ready: Callable[[Any], bool] | None = None,
        line_model: type[Any] | None = None,
        prices_include_vat: bool | Iterable[str] = False,
        line_rows: LineRows | None = None,
        guest_customer_fields: Mapping[str, Any] | None = None,
        default_flag: str | None = None,
    ):
        self.db = db
        self.product_model = product_model
        self.customer_model = customer_model
        self.order_model = order_model
        self.category_model = category_model
        self.product_fields: dict[str, FieldSpec] = {**PRODUCT_FIELDS, **specs(product_fields)}
        self.customer_fields: dict[str, FieldSpec] = {**CUSTOMER_FIELDS, **specs(customer_fields)}
        self.order_fields: dict[str, FieldSpec] = {**ORDER_FIELDS, **specs(order_fields)}
        self.line_fields: dict[str, FieldSpec] = {**LINE_FIELDS, **specs(line_fields)}
        self.parent = parent
        # A computed product field is a function of the variant, not of its parent: no default for the parent.
        defaults = {name: path_of(self.product_fields.get(name)) for name in PARENT_FIELDS_DEFAULT} if parent else {}
        self.parent_fields: dict[str, FieldSpec] = {**defaults, **specs(parent_fields)}
        self.variant_name = variant_name
        self.pay_types = {**PAY_TYPES, **(pay_types or {})}
        self._status_fn: Callable[[str], Any] | None = None
        if callable(order_status_map) and not isinstance(order_status_map, Mapping):
            self._status_fn, order_status_map = order_status_map, None
        self.order_status_map: dict[str, Any] = status_map(order_status_map)
        self.gross_prices = gross_fields(prices_include_vat)
        self.line_rows = line_rows
        self._order_ready = order_ready
        self.line_model = line_model
        self.guest_customer_fields: dict[str, FieldSpec] = specs(guest_customer_fields)
        self.default_flag = default_flag
        self._line_order_attr: str | None = None
        # What the host gave (checked by ``validate``; the defaults may be absent on a model).
        self._given: dict[str, dict[str, FieldSpec]] = {
            "product_fields": specs(product_fields),
            "customer_fields": specs(customer_fields),
            "order_fields": specs(order_fields),
            "line_fields": specs(line_fields),
            "parent_fields": specs(parent_fields),
            "guest_customer_fields": dict(self.guest_customer_fields),
        }
        self._dependencies: tuple[Dependency, ...] | None = None

    # helpers ---------------------------------------------------------------------------------------
    def _get(self, obj: Any, mapping: Mapping[str, FieldSpec], name: str, default: Any = None) -> Any:
        return read_value(obj, mapping.get(name), default, self.default_flag)

    @staticmethod
    def _set(obj: Any, mapping: Mapping[str, FieldSpec], name: str, value: Any) -> None:
        write_value(obj, mapping.get(name), value)  # a computed field is read-only

    @staticmethod
    def _model(model: type[Any] | None, kind: str) -> type[Any]:
        if model is None:
            raise LookupError(f"SQLAlchemyShopAdapter has no {kind}_model")
        return model

    # products --------------------------------------------------------------------------------------
    def _products(self) -> type[Any]:
        return self._model(self.product_model, "product")

    def _required(self, mapping: Mapping[str, FieldSpec], name: str) -> str:
        attr = path_of(mapping.get(name))
        if not attr:
            raise LookupError(f"SQLAlchemyShopAdapter maps no attribute for {name!r}")
        return attr

    def stock_target(self) -> StockTarget:
        table = self._products().__table__
        return table, table.c[self._required(self.product_fields, "sku")], table.c[self._required(self.product_fields, "stock")]

    def get_product(self, sku: str) -> Any | None:
        model = self._products()
        col = getattr(model, self._required(self.product_fields, "sku"))
        return self.db.session.execute(select(model).where(col == sku)).scalar_one_or_none()

    def product_sku(self, product: Any) -> str:
        sku: str = self._get(product, self.product_fields, "sku")
        return sku

    def product_stock(self, product: Any) -> int:
        return int(self._get(product, self.product_fields, "stock", 0) or 0)

    def product_parent(self, product: Any) -> Any | None:
        """The variant's parent product (through ``parent``), or None for a product without one."""
        return follow(product, self.parent, self.default_flag) if self.parent else None

    def _product_value(self, product: Any, parent: Any | None, name: str, default: Any = None) -> Any:
        """The product's own value, or for a variant whose own value is None or empty its parent's."""
        if parent is None:
            return self._get(product, self.product_fields, name, default)
        own = self._get(product, self.product_fields, name)
        if empty(own) and self.parent_fields.get(name):
            inherited = self._get(parent, self.parent_fields, name)
            if not empty(inherited):
                return inherited
        return default if empty(own) else own

    def product_name(self, product: Any) -> str:
        """The name Specter gets: the product's own; for a variant ``variant_name`` of its parent's name
        and its own, or its parent's name when it has none (its SKU when neither has one)."""
        own = text(self._get(product, self.product_fields, "name", "")).strip()
        parent = self.product_parent(product)
        if parent is None:
            return text(self._get(product, self.product_fields, "name", ""))
        parent_name = text(self._get(parent, self.parent_fields, "name", "")).strip()
        if own and parent_name:
            return self.variant_name.format(parent=parent_name, variant=own)
        return own or parent_name or text(self.product_sku(product))

    def product_record(self, product: Any) -> Product:
        parent = self.product_parent(product)

        def value(name: str, default: Any = None) -> Any:
            return self._product_value(product, parent, name, default)

        barcode = self._get(product, self.product_fields, "barcode")
        vat_percent = dec(value("vat_percent", 25))
        return Product(
            sku=self.product_sku(product),
            name=self.product_name(product),
            price_excl_vat=self._product_price(product, parent, vat_percent),
            vat_percent=vat_percent,
            buy_price=dec_or_none(value("buy_price")),
            weight=dec_or_none(value("weight")),
            barcode=str(barcode) if barcode else None,
            stock=self.product_stock(product),
        )

    def product_attribute(self, field: str) -> str | None:
        attr = path_of(self.product_fields.get(field))
        return attr if attr and "." not in attr else None  # a dotted path or a Computed is watched through dependencies()

    def iter_products(self) -> Iterator[Any]:
        model = self._products()
        col = getattr(model, self._required(self.product_fields, "sku"))
        return iter(self.db.session.execute(select(model).order_by(col)).scalars().all())

    # customers -------------------------------------------------------------------------------------
    def get_customer(self, ref: str) -> Any | None:
        return self.db.session.get(self._model(self.customer_model, "customer"), int(ref))

    def customer_ref(self, customer: Any) -> str:
        return str(customer.id)

    def customer_record(self, customer: Any) -> Customer:
        return person_record(self.customer_ref(customer), lambda name: self._get(customer, self.customer_fields, name))

    def set_customer_specter_no(self, customer: Any, customer_no: str) -> None:
        self._set(customer, self.customer_fields, "specter_customer_no", customer_no)

    def customer_specter_no(self, customer: Any) -> str | None:
        return text_or_none(self._get(customer, self.customer_fields, "specter_customer_no"))

    def customer_attribute(self, field: str) -> str | None:
        return path_of(self.customer_fields.get(field)) or None

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
            attr, value = path_of(self.order_fields.get("number")), number
        else:
            attr, value = path_of(self.order_fields.get("specter_order_no")), specter_order_no
        if not attr or "." in attr or not hasattr(model, attr):  # no such column: the connector's link table knows the order
            return None
        col = getattr(model, attr)
        return self.db.session.execute(select(model).where(col == value)).scalars().first()

    def order_ref(self, order: Any) -> str:
        return str(order.id)

    def order_record(self, order: Any) -> Order:
        fields = self.order_fields
        g = self._get
        shipping_vat = dec(g(order, fields, "shipping_vat_percent", 25))
        discount_vat = dec(g(order, fields, "discount_vat_percent", DISCOUNT_VAT_PERCENT))
        shipping, discount = g(order, fields, "shipping_price_excl_vat"), g(order, fields, "discount_excl_vat")
        return Order(
            ref=self.order_ref(order),
            number=self.order_number(order),
            customer_ref=text_or_none(g(order, fields, "customer_id")),
            lines=tuple(row for line in self._lines(order) for row in self._rows(line)),
            currency=text(g(order, fields, "currency")) or None,
            payment_method=text(g(order, fields, "payment_method")),
            payment_reference=text(g(order, fields, "payment_reference")),
            shipping_method=text(g(order, fields, "shipping_method")),
            shipping_price_excl_vat=None if shipping is None else self._net("order.shipping_price_excl_vat", shipping, shipping_vat, ROW_PLACES),
            shipping_vat_percent=shipping_vat,
            discount_excl_vat=None if discount is None else self._net("order.discount_excl_vat", discount, discount_vat, ROW_PLACES),
            discount_vat_percent=discount_vat,
            comment=text(g(order, fields, "comment")),
            delivery=self._delivery(order),
        )

    def order_number(self, order: Any) -> str | None:
        return text_or_none(self._get(order, self.order_fields, "number"))

    # readiness, lines committed after the order, statuses ---------------------------------------
    def order_ready(self, order: Any) -> bool:
        if self._order_ready is not None:
            return bool(self._order_ready(order))
        return any(True for _line in self._lines(order))

    def line_order_ref(self, line: Any) -> str | None:
        if self.line_model is None or not isinstance(line, self.line_model):
            return None
        if self._line_order_attr is None:
            self._line_order_attr = line_order_attr(self._orders(), self._model(self.line_model, "line"), path_of(self.order_fields.get("lines")))
        value = getattr(line, self._line_order_attr, None)
        return None if value is None else str(value)


__all__ = ["SQLAlchemyShopAdapter", "PRODUCT_FIELDS", "CUSTOMER_FIELDS", "ORDER_FIELDS", "LINE_FIELDS", "DELIVERY_FIELDS", "VARIANT_NAME"]
