"""ShopAdapter: how the extension reads and writes the host shop's products, customers and orders.

The extension never imports the host's models. ``SQLAlchemyShopAdapter`` covers the common case of
plain SQLAlchemy models configured by class and field names; subclass it (or ``ShopAdapter``) where a
shop's schema needs more than a renamed field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..remote.parsing import ArticleInfo

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

# Shop payment method -> Specter payTypeIdentifier (specter-protocol.md §9.2). Klarna marks the order
# so the invoice is activated from Specter.
PAY_TYPES = {"invoice": "I", "klarna": "K", "card": "DP", "swish": "SW", "prepayment": "PP", "paypal": "PL", "store": "D"}

# Shop order status for each Specter statusId of the orders feed.
ORDER_STATUS_MAP = {1: "received", 2: "confirmed", 3: "partly_shipped", 4: "shipped", 5: "cancelled"}


@dataclass
class OrderPayload:
    """What newOrderSubmit needs from a shop order, minus the customer number."""

    external_order_no: str
    customer_ref: str
    header: dict[str, Any]
    rows: list[dict[str, Any]]
    lines: list[tuple[str, int]] = field(default_factory=list)  # (sku, qty) of real products


class ShopAdapter:
    """What the extension needs from any shop. Every method is documented by its name and return type."""

    product_model: Any = None
    customer_model: Any = None
    order_model: Any = None

    # products
    def stock_target(self) -> tuple[Any, Any, Any]:
        """(table, sku column, stock column) for the one-statement bulk stock write."""
        raise NotImplementedError

    def get_product(self, sku: str) -> Any | None:
        raise NotImplementedError

    def product_sku(self, product: Any) -> str:
        raise NotImplementedError

    def product_stock(self, product: Any) -> int:
        raise NotImplementedError

    def article_row(self, product: Any) -> dict[str, Any]:
        raise NotImplementedError

    def iter_products(self) -> Iterator[Any]:
        raise NotImplementedError

    def apply_article(self, info: ArticleInfo, options: dict[str, bool]) -> str:
        raise NotImplementedError

    # customers
    def get_customer(self, customer_id: str) -> Any | None:
        raise NotImplementedError

    def customer_ref(self, customer: Any) -> str:
        raise NotImplementedError

    def customer_row(self, customer: Any) -> dict[str, Any]:
        raise NotImplementedError

    def set_customer_specter_no(self, customer: Any, customer_no: str) -> None:
        raise NotImplementedError

    def iter_customers(self) -> Iterator[Any]:
        raise NotImplementedError

    # orders
    def get_order(self, order_id: str) -> Any | None:
        raise NotImplementedError

    def find_order(self, *, number: str | None = None, specter_order_no: str | None = None) -> Any | None:
        raise NotImplementedError

    def order_ref(self, order: Any) -> str:
        raise NotImplementedError

    def order_payload(self, order: Any, config: dict[str, Any]) -> OrderPayload:
        raise NotImplementedError

    def order_lines(self, order: Any) -> list[tuple[str, int]]:
        raise NotImplementedError

    def set_order_transfer(self, order: Any, *, specter_order_no: str | None, error: str | None) -> None:
        raise NotImplementedError

    def apply_order_change(self, order: Any, *, status: str | None = None, tracking_no: str | None = None, invoice_id: str | None = None) -> None:
        raise NotImplementedError


__all__ = ["ShopAdapter", "OrderPayload", "PAY_TYPES", "ORDER_STATUS_MAP"]
