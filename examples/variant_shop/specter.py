"""The one file of this shop that knows Specter: the adapter's configuration, nothing else."""

from flask import Flask

from flask_specter import Specter, SQLAlchemyShopAdapter

from .models import Order, OrderLine, User, Variant, db

AT = {"address": "line1", "address2": "line2", "zip": "postcode", "city": "city", "country": "country"}
ORDER = {"number": "reference", "customer_id": "user_id", "shipping_price_excl_vat": "shipping_cost", "comment": "note"}
DELIVERY = {f"delivery_{k}": f"shipping_address.{v}" for k, v in {**AT, "name": "recipient"}.items()}


def init_specter(app: Flask) -> None:
    adapter = SQLAlchemyShopAdapter(
        db,
        product_model=Variant,
        customer_model=User,
        order_model=Order,
        line_model=OrderLine,
        product_fields={"price_excl_vat": "price", "barcode": "ean", "reserved": "allocated"},
        parent="product",
        parent_fields={"name": "title", "price_excl_vat": "base_price", "vat_percent": "vat_rate", "active": "published"},
        customer_fields={k: f"default_address.{v}" for k, v in AT.items()},
        order_fields={**ORDER, "tracking_no": "tracking_number", **DELIVERY},
        line_fields={"qty": "quantity", "price_excl_vat": "unit_price"},
        order_ready=lambda order: order.paid,  # paid orders only: payment is where this shop lowers its stock
        order_status_map={"confirmed": 3, "partly_shipped": 4, "shipped": 6, "cancelled": 5},  # OrderStatus' integers
    )
    Specter(app, db=db, adapter=adapter, create_tables=True)
