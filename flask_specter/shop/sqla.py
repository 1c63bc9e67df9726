"""``SQLAlchemyShopAdapter``: the ``ShopAdapter`` for plain SQLAlchemy models, configured by model
classes and field names, so most shops need no adapter code of their own."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ..remote.parsing import ArticleInfo
from ..remote.protocol import format_decimal
from .adapter import CUSTOMER_FIELDS, LINE_FIELDS, ORDER_FIELDS, ORDER_STATUS_MAP, PAY_TYPES, PRODUCT_FIELDS, OrderPayload, ShopAdapter


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


class SQLAlchemyShopAdapter(ShopAdapter):
    """A ``ShopAdapter`` for SQLAlchemy models, configured by model classes and field names.

    ``product_fields``, ``customer_fields``, ``order_fields`` and ``line_fields`` map the extension's
    names (left) to attribute names on the host's models (right); missing keys keep the defaults above.
    ``category_model`` (optional, with ``name`` and ``active``) enables categories from article groups.
    """

    def __init__(
        self,
        db,
        *,
        product_model,
        customer_model=None,
        order_model=None,
        category_model=None,
        product_fields: dict[str, str] | None = None,
        customer_fields: dict[str, str] | None = None,
        order_fields: dict[str, str] | None = None,
        line_fields: dict[str, str] | None = None,
        pay_types: dict[str, str] | None = None,
        order_status_map: dict[int, str] | None = None,
    ):
        self.db = db
        self.product_model = product_model
        self.customer_model = customer_model
        self.order_model = order_model
        self.category_model = category_model
        self.pf = {**PRODUCT_FIELDS, **(product_fields or {})}
        self.cf = {**CUSTOMER_FIELDS, **(customer_fields or {})}
        self.of = {**ORDER_FIELDS, **(order_fields or {})}
        self.lf = {**LINE_FIELDS, **(line_fields or {})}
        self.pay_types = {**PAY_TYPES, **(pay_types or {})}
        self.order_status_map = {**ORDER_STATUS_MAP, **(order_status_map or {})}

    # helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _get(obj: Any, mapping: dict[str, str], name: str, default: Any = None) -> Any:
        attr = mapping.get(name)
        return getattr(obj, attr, default) if attr else default

    @staticmethod
    def _set(obj: Any, mapping: dict[str, str], name: str, value: Any) -> None:
        attr = mapping.get(name)
        if attr and hasattr(type(obj), attr):
            setattr(obj, attr, value)

    # products --------------------------------------------------------------------------------------
    def stock_target(self):
        table = self.product_model.__table__
        return table, table.c[self.pf["sku"]], table.c[self.pf["stock"]]

    def get_product(self, sku):
        col = getattr(self.product_model, self.pf["sku"])
        return self.db.session.execute(select(self.product_model).where(col == sku)).scalar_one_or_none()

    def product_sku(self, product):
        return self._get(product, self.pf, "sku")

    def product_stock(self, product):
        return int(self._get(product, self.pf, "stock", 0) or 0)

    def article_row(self, product):
        row = {
            "articleNo": self.product_sku(product),
            "name": self._get(product, self.pf, "name", "") or "",
            "priceExclVAT": format_decimal(_dec(self._get(product, self.pf, "price_excl_vat")), 2),
            "vatPercent": format_decimal(_dec(self._get(product, self.pf, "vat_percent", 25)), 2),
        }
        for name, wire, places in (("buy_price", "buyPrice", 2), ("weight", "productWeight", 3)):
            value = self._get(product, self.pf, name)
            if value is not None:
                row[wire] = format_decimal(_dec(value), places)
        barcode = self._get(product, self.pf, "barcode")
        if barcode:
            row["barCode"] = barcode
        return row

    def iter_products(self):
        col = getattr(self.product_model, self.pf["sku"])
        return iter(self.db.session.execute(select(self.product_model).order_by(col)).scalars().all())

    def apply_article(self, info: ArticleInfo, options: dict[str, bool]) -> str:
        """Write Specter's article data to the shop's product; create it when importing is on."""
        product = self.get_product(info.article_no)
        if info.deleted:
            if product is not None:
                self._set(product, self.pf, "active", False)
                return "deactivated"
            return "skipped"
        if product is None:
            if options.get("import_price_only"):
                return "skipped"
            product = self.product_model()
            self._set(product, self.pf, "sku", info.article_no)
            self._set(product, self.pf, "stock", 0)
            self._set(product, self.pf, "name", info.name or info.article_no)
            self._set(product, self.pf, "vat_percent", info.vat_percent if info.vat_percent is not None else Decimal("25"))
            self._set(product, self.pf, "price_excl_vat", info.price_excl_vat or Decimal("0"))
            self._set(product, self.pf, "active", True)
            self.db.session.add(product)
            created = True
        else:
            created = False
        if info.price_excl_vat is not None:
            self._set(product, self.pf, "price_excl_vat", info.price_excl_vat)
        if options.get("import_price_only") and not created:
            return "price"
        if info.name:
            self._set(product, self.pf, "name", info.name)
        if info.buy_price is not None:
            self._set(product, self.pf, "buy_price", info.buy_price)
        if info.bar_code:
            self._set(product, self.pf, "barcode", info.bar_code)
        if info.weight is not None:
            self._set(product, self.pf, "weight", info.weight)
        if info.vat_percent is not None:
            self._set(product, self.pf, "vat_percent", info.vat_percent)
        if self.category_model is not None and (created or options.get("move_product_to_group_category")):
            category = self._group_category(info, options) if options.get("article_group_creates_category") else None
            if category is not None or created:
                self.db.session.flush()
                self._set(product, self.pf, "category_id", getattr(category, "id", None))
        return "created" if created else "updated"

    def _group_category(self, info: ArticleInfo, options: dict[str, bool]):
        name = info.group_name or info.group_no
        if not name:
            return None
        model = self.category_model
        category = self.db.session.execute(select(model).where(model.name == name)).scalar_one_or_none()
        if category is None:
            category = model(name=name)
            if hasattr(model, "active"):
                category.active = bool(options.get("article_group_category_active", True))
            self.db.session.add(category)
            self.db.session.flush()
        return category

    # customers -------------------------------------------------------------------------------------
    def get_customer(self, customer_id):
        return self.db.session.get(self.customer_model, int(customer_id))

    def customer_ref(self, customer):
        return str(customer.id)

    def customer_row(self, customer):
        g = lambda name: (self._get(customer, self.cf, name) or "")  # noqa: E731
        company = g("company").strip()
        first, last = g("first_name").strip(), g("last_name").strip()
        row = {
            "customerOrganizationalForm": "C" if company else "P",
            "firstName": first,
            "surName": last,
            "contactPerson": f"{first} {last}".strip(),
            "emailAddress": g("email").strip(),
            "phoneNo": g("phone"),
            "mobileNo": g("mobile"),
            "orgNo": g("org_no"),
            "address": g("address"),
            "addressRow2": g("address2"),
            "zipCodeEng": g("zip"),
            "city": g("city"),
            "countryCode": (g("country") or "SE").upper(),
        }
        if company:
            row["name"] = company
            row["invoiceCompanyName"] = company
        return {k: v for k, v in row.items() if v != ""}

    def set_customer_specter_no(self, customer, customer_no):
        self._set(customer, self.cf, "specter_customer_no", customer_no)

    def customer_specter_no(self, customer) -> str | None:
        return self._get(customer, self.cf, "specter_customer_no")

    def iter_customers(self):
        return iter(self.db.session.execute(select(self.customer_model).order_by(self.customer_model.id)).scalars().all())

    # orders ----------------------------------------------------------------------------------------
    def get_order(self, order_id):
        return self.db.session.get(self.order_model, int(order_id))

    def find_order(self, *, number=None, specter_order_no=None):
        if number is not None:
            col = getattr(self.order_model, self.of["number"])
            value = number
        else:
            col = getattr(self.order_model, self.of["specter_order_no"])
            value = specter_order_no
        return self.db.session.execute(select(self.order_model).where(col == value)).scalars().first()

    def order_ref(self, order):
        return str(order.id)

    def _lines(self, order) -> Iterable[Any]:
        return self._get(order, self.of, "lines", []) or []

    def order_lines(self, order):
        totals: dict[str, int] = {}
        for line in self._lines(order):
            sku = self._get(line, self.lf, "sku")
            totals[sku] = totals.get(sku, 0) + int(self._get(line, self.lf, "qty", 0))
        return list(totals.items())

    def order_payload(self, order, config):
        g = lambda name, default=None: self._get(order, self.of, name, default)  # noqa: E731
        rows = []
        for line in self._lines(order):
            lg = lambda name, default=None, line=line: self._get(line, self.lf, name, default)  # noqa: E731
            rows.append(
                {
                    "articleNo": lg("sku"),
                    "articleName": lg("name") or lg("sku"),
                    "priceExclVAT": format_decimal(_dec(lg("price_excl_vat")), 3),
                    "noOfItems": int(lg("qty", 0)),
                    "vatPercent": int(_dec(lg("vat_percent", 25))),
                }
            )
        shipping = g("shipping_price_excl_vat")
        if shipping is not None and _dec(shipping) != 0:
            rows.append(
                {
                    "articleNo": config["SPECTER_SHIPPING_ARTICLE_NO"],
                    "articleName": g("shipping_method") or "Frakt",
                    "priceExclVAT": format_decimal(_dec(shipping), 3),
                    "noOfItems": 1,
                    "vatPercent": int(_dec(g("shipping_vat_percent", 25))),
                }
            )
        discount = g("discount_excl_vat")
        if discount is not None and _dec(discount) != 0:
            rows.append(
                {
                    "articleNo": config["SPECTER_DISCOUNT_ARTICLE_NO"],
                    "articleName": "Rabatt",
                    "priceExclVAT": format_decimal(-abs(_dec(discount)), 3),
                    "noOfItems": 1,
                    "vatPercent": 25,
                }
            )
        payment = (g("payment_method") or "").lower()
        header = {
            "externalOrderNo": g("number"),
            "customerOrderReference": g("number"),
            "currency": g("currency") or config["SPECTER_CURRENCY"],
            "language": config["SPECTER_LANGUAGE"],
            "payTypeIdentifier": self.pay_types.get(payment, ""),
            "payTypeReference": g("payment_reference") or "",
            "externalDeliveryMethod": g("shipping_method") or "",
            "publishedComment": g("comment") or "",
        }
        return OrderPayload(
            external_order_no=str(g("number")),
            customer_ref=str(g("customer_id")),
            header={k: v for k, v in header.items() if v != ""},
            rows=rows,
            lines=self.order_lines(order),
        )

    def set_order_transfer(self, order, *, specter_order_no, error):
        self._set(order, self.of, "specter_order_no", specter_order_no)
        self._set(order, self.of, "transfer_error", error)

    def apply_order_change(self, order, *, status=None, tracking_no=None, invoice_id=None):
        if status:
            self._set(order, self.of, "status", status)
        if tracking_no:
            self._set(order, self.of, "tracking_no", tracking_no)
        if invoice_id:
            self._set(order, self.of, "invoice_id", invoice_id)
