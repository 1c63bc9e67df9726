"""The shop's data as the connector reads it: plain dataclasses, no Specter names.

A ``ShopAdapter`` turns the host's own objects into these records (``product_record``,
``customer_record``, ``order_record``); the connector's mapper (``outbound/wire.py``) alone turns them
into Specter's wire fields. So an adapter deals in the shop's vocabulary only: SKUs, prices excluding
VAT, names and addresses, order lines. Money and percentages are ``Decimal``; text is ``str`` (any
character ISO-8859-1 can carry, since that is what Specter speaks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    """One product of the shop, as Specter's article register keeps it.

    ``sku`` is Specter's article number (at most ``SKU_MAX_LENGTH`` characters). ``stock`` is sent
    once, when the article is created in Specter; after that Specter is the stock master.
    """

    sku: str
    name: str = ""
    price_excl_vat: Decimal = Decimal("0")
    vat_percent: Decimal = Decimal("25")
    buy_price: Decimal | None = None  # None: not sent
    weight: Decimal | None = None  # kilograms; None: not sent
    barcode: str | None = None  # EAN or the like; None or "": not sent
    stock: int = 0


@dataclass(frozen=True)
class Customer:
    """One customer of the shop. Empty strings are "not known" and are not sent.

    A customer with a ``company`` is a company (``org_no`` is then its organisation number), any
    other customer a private person. ``country`` is an ISO 3166 code; empty means Sweden.
    """

    ref: str  # the shop's own id for the customer, as ``ShopAdapter.customer_ref`` gives it
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    org_no: str = ""
    phone: str = ""
    mobile: str = ""
    address: str = ""
    address2: str = ""
    zip: str = ""
    city: str = ""
    country: str = ""

    @property
    def is_company(self) -> bool:
        return bool(self.company.strip())


@dataclass(frozen=True)
class Address:
    """A postal address, such as an order's delivery address. Empty strings are "not known" and are
    not sent; ``country`` is an ISO 3166 code (empty: Sweden)."""

    name: str = ""  # the person who receives it (Specter's deliveryAttention)
    company: str = ""  # the company that receives it, if any (deliveryCompanyName)
    address: str = ""
    address2: str = ""
    zip: str = ""
    city: str = ""
    country: str = ""

@dataclass(frozen=True)
class OrderLine:
    """One line of an order: ``qty`` of the product ``sku`` at ``price_excl_vat`` each."""

    sku: str
    qty: int
    price_excl_vat: Decimal = Decimal("0")
    vat_percent: Decimal = Decimal("25")
    name: str = ""  # empty: the SKU stands for the name


@dataclass(frozen=True)
class Order:
    """One order of the shop, with its lines, shipping and discount.

    ``payment_method`` is the shop's own name for it (``invoice``, ``klarna``, ``card``, ...); the
    connector translates it through ``ShopAdapter.pay_types``. ``currency`` None means the configured
    ``SPECTER_CURRENCY``. A shipping price or discount that is None or zero adds no row. ``delivery``
    None: the order carries no delivery address (Specter delivers to the customer's address).
    """

    ref: str  # the shop's own id for the order, as ``ShopAdapter.order_ref`` gives it
    number: str | None  # the order number the customer sees
    customer_ref: str | None  # ``Customer.ref`` of the buyer; None: the order has no customer
    lines: tuple[OrderLine, ...] = field(default_factory=tuple)
    currency: str | None = None
    payment_method: str = ""
    payment_reference: str = ""
    shipping_method: str = ""
    shipping_price_excl_vat: Decimal | None = None
    shipping_vat_percent: Decimal = Decimal("25")
    discount_excl_vat: Decimal | None = None  # a positive amount taken off the order
    discount_vat_percent: Decimal = Decimal("25")  # the discount row's VAT rate
    comment: str = ""  # the customer's message, printed on the order
    delivery: Address | None = None  # where the goods go, when the shop keeps that on the order

    def quantities(self) -> list[tuple[str, int]]:
        """(sku, total quantity) per product, in the order the SKUs first appear."""
        totals: dict[str, int] = {}
        for line in self.lines:
            totals[line.sku] = totals.get(line.sku, 0) + line.qty
        return list(totals.items())


__all__ = ["Product", "Customer", "Address", "Order", "OrderLine"]
