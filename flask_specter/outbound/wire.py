"""The mapper: the shop's records (``shop/records.py``) -> Specter's wire fields.

The one place that knows the field names of newArticleSubmit, newCustomerSubmit and newOrderSubmit
(specter-protocol.md §7-§9); adapters hand over neutral records and never see these names. The client
numbers the rows (``articleNo_1``, ...) and encodes the values as ISO-8859-1.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..remote.protocol import format_decimal
from ..shop.records import Customer, Order, Product


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def article_fields(product: Product, *, with_stock: bool = False) -> dict[str, Any]:
    """One newArticleSubmit row. ``with_stock``: the article is new in Specter and the shop's stock
    goes along once (Specter is the stock master after that)."""
    row: dict[str, Any] = {
        "articleNo": product.sku,
        "name": product.name or "",
        "priceExclVAT": format_decimal(_dec(product.price_excl_vat), 2),
        "vatPercent": format_decimal(_dec(product.vat_percent), 2),
    }
    if product.buy_price is not None:
        row["buyPrice"] = format_decimal(_dec(product.buy_price), 2)
    if product.weight is not None:
        row["productWeight"] = format_decimal(_dec(product.weight), 3)
    if product.barcode:
        row["barCode"] = product.barcode
    if with_stock:
        row.update(createArticleStock=1, noItemsInStock=product.stock)
    return row


def customer_fields(customer: Customer) -> dict[str, Any]:
    """The newCustomerSubmit fields: a company (organisational form C) or a private person (P)."""
    company = customer.company.strip()
    first, last = customer.first_name.strip(), customer.last_name.strip()
    row = {
        "customerOrganizationalForm": "C" if company else "P",
        "firstName": first,
        "surName": last,
        "contactPerson": first if first == last else f"{first} {last}".strip(),  # one word filled both names
        "emailAddress": customer.email.strip(),
        "phoneNo": customer.phone,
        "mobileNo": customer.mobile,
        "orgNo": customer.org_no,
        "address": customer.address,
        "addressRow2": customer.address2,
        "zipCodeEng": customer.zip,
        "city": customer.city,
        "countryCode": (customer.country or "SE").upper(),
    }
    if company:
        row["name"] = company
        row["invoiceCompanyName"] = company
    return {k: v for k, v in row.items() if v != ""}


def order_rows(order: Order, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """newOrderSubmit's rows: the lines, then shipping and discount as rows on the configured
    ``SPECTER_SHIPPING_ARTICLE_NO`` / ``SPECTER_DISCOUNT_ARTICLE_NO``."""
    rows: list[dict[str, Any]] = [
        {
            "articleNo": line.sku,
            "articleName": line.name or line.sku,
            "priceExclVAT": format_decimal(_dec(line.price_excl_vat), 3),
            "noOfItems": int(line.qty),
            "vatPercent": int(_dec(line.vat_percent)),
        }
        for line in order.lines
    ]
    shipping = order.shipping_price_excl_vat
    if shipping is not None and _dec(shipping) != 0:
        rows.append(
            {
                "articleNo": config["SPECTER_SHIPPING_ARTICLE_NO"],
                "articleName": order.shipping_method or config["SPECTER_SHIPPING_ROW_NAME"],
                "priceExclVAT": format_decimal(_dec(shipping), 3),
                "noOfItems": 1,
                "vatPercent": int(_dec(order.shipping_vat_percent)),
            }
        )
    discount = order.discount_excl_vat
    if discount is not None and _dec(discount) != 0:
        rows.append(
            {
                "articleNo": config["SPECTER_DISCOUNT_ARTICLE_NO"],
                "articleName": config["SPECTER_DISCOUNT_ROW_NAME"],
                "priceExclVAT": format_decimal(-abs(_dec(discount)), 3),
                "noOfItems": 1,
                "vatPercent": int(_dec(order.discount_vat_percent)),
            }
        )
    return rows


def order_header(
    order: Order,
    config: Mapping[str, Any],
    pay_types: Mapping[str, str],
    *,
    customer_no: str | None = None,
    send_order_mail: bool | None = None,
) -> dict[str, Any]:
    """newOrderSubmit's header. ``pay_types`` maps the shop's payment method (any case) to Specter's
    payTypeIdentifier; ``customer_no`` and ``send_order_mail`` are added when given. An order's delivery
    address goes on the header as the delivery variants of the customer's address fields
    (specter-protocol.md A2): the receiving person as ``deliveryAttention`` (Att:), a receiving company
    as ``deliveryCompanyName``, then ``deliveryAddress``, ``deliveryAddressRow2``,
    ``deliveryZipCodeEng``, ``deliveryCity``, ``deliveryCountryCode``. A private buyer's name is a
    person's, never a company name: PW sends ``deliveryAttention`` with a company's person and keeps
    ``deliveryCompanyName`` for the company. An order without a delivery address leaves them out and
    Specter delivers to the customer's address."""
    payment = (order.payment_method or "").lower()
    header: dict[str, Any] = {
        "externalOrderNo": order.number,
        "customerOrderReference": order.number,
        "currency": order.currency or config["SPECTER_CURRENCY"],
        "language": config["SPECTER_LANGUAGE"],
        "payTypeIdentifier": pay_types.get(payment, ""),
        "payTypeReference": order.payment_reference or "",
        "externalDeliveryMethod": order.shipping_method or "",
        "publishedComment": order.comment or "",
    }
    delivery = order.delivery
    if delivery is not None:
        header.update(
            deliveryCompanyName=delivery.company.strip(),
            deliveryAttention=delivery.name.strip(),
            deliveryAddress=delivery.address,
            deliveryAddressRow2=delivery.address2,
            deliveryZipCodeEng=delivery.zip,
            deliveryCity=delivery.city,
            deliveryCountryCode=(delivery.country or "SE").upper(),
        )
    header = {k: v for k, v in header.items() if v != ""}
    if customer_no is not None:
        header["customerId"] = customer_no
    if send_order_mail is not None:
        header["sendOrderMail"] = 1 if send_order_mail else 0
    return header


__all__ = ["article_fields", "customer_fields", "order_header", "order_rows"]
