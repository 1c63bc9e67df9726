"""The moms shop joined to Specter: the adapter's configuration, nothing else."""

from flask import Flask

from flask_specter import Computed, Specter, SQLAlchemyShopAdapter

from .models import Order, User, Variant, db

BUYER = {"email": "email", "name": "name", "phone": "phone", "address": "street", "zip": "postcode", "city": "city", "country": "country"}


def init_specter(app: Flask) -> None:
    adapter = SQLAlchemyShopAdapter(
        db,
        product_model=Variant,
        customer_model=User,
        order_model=Order,
        product_fields={"name": "label", "price_excl_vat": Computed(lambda v: v.list_price, reads=("price", "product_id.price"))},
        parent="product_id",
        parent_fields={"name": "name", "vat_percent": "vat_rate"},
        customer_fields={"name": "name", "address": "street", "zip": "postcode"},
        guest_customer_fields=BUYER,
        order_fields={"customer_id": "user_id", "shipping_price_excl_vat": "shipping_price", "payment_reference": "transaction_id"},
        line_fields={"qty": "quantity"},
        line_rows=lambda line: line.shipments(),  # a kit ships its components: (sku, qty, price, VAT rate) each
        prices_include_vat=True,
        order_ready=lambda order: order.status == "betald",
        order_status_map={"shipped": "skickad", "cancelled": "makulerad"},
    )
    Specter(app, db=db, adapter=adapter, create_tables=True)
