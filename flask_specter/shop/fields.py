"""The field names of ``SQLAlchemyShopAdapter``'s maps and their defaults (documented on the adapter)."""

from __future__ import annotations

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

# Keys a map may name beyond its defaults (none of them is read unless the shop maps it).
OPTIONAL_PRODUCT_FIELDS = ("reserved",)
OPTIONAL_CUSTOMER_FIELDS = ("name",)  # one name field, split into first and last name (shop/names.py)
OPTIONAL_ORDER_FIELDS = ("discount_vat_percent",)  # the discount row's VAT rate; unmapped: 25
DELIVERY_FIELDS = {  # order_fields key -> Address field
    "delivery_name": "name",
    "delivery_company": "company",
    "delivery_address": "address",
    "delivery_address2": "address2",
    "delivery_zip": "zip",
    "delivery_city": "city",
    "delivery_country": "country",
}
# What a variant may take from its parent, and the parent's attributes when ``parent_fields`` is not given
# (the product's own attribute names: a product model whose parents are products too).
PARENT_FIELD_NAMES = ("name", "price_excl_vat", "vat_percent", "buy_price", "weight", "active")
PARENT_FIELDS_DEFAULT = ("name", "price_excl_vat", "vat_percent", "active")
VARIANT_NAME = "{parent} ({variant})"

# The customer fields read into a ``Customer`` record (all text, "" when empty).
CUSTOMER_TEXT = ("email", "first_name", "last_name", "company", "org_no", "phone", "mobile", "address", "address2", "zip", "city", "country")


__all__ = [
    "PRODUCT_FIELDS", "CUSTOMER_FIELDS", "ORDER_FIELDS", "LINE_FIELDS", "OPTIONAL_PRODUCT_FIELDS", "OPTIONAL_CUSTOMER_FIELDS", "OPTIONAL_ORDER_FIELDS", "DELIVERY_FIELDS",
    "PARENT_FIELD_NAMES", "PARENT_FIELDS_DEFAULT", "VARIANT_NAME", "CUSTOMER_TEXT",
]
