"""The moms shop joined to Specter: the adapter's configuration, nothing else."""

from decimal import Decimal

from flask import Flask, session

from flask_specter import Computed, Specter, SQLAlchemyShopAdapter
from flask_specter.shop.records import OrderLine as Row

from .models import Order, OrderLine, User, Variant, db

specter = Specter()
BUYER = {"email": "email", "name": "name", "phone": "phone", "address": "street", "zip": "postcode", "city": "city", "country": "country"}
DELIVERY = {f"delivery_{key}": path for key, path in BUYER.items() if key not in ("email", "phone")}
ORDER = {"customer_id": "user_id", "shipping_price_excl_vat": "shipping_price", "payment_reference": "transaction_id", **DELIVERY}


def shipped_rows(line: OrderLine) -> list[Row]:
    """One row for each article the line ships (a kit: its components, with the receipt's share of its price)."""
    return [Row(sku, qty, (gross / (1 + vat / 100)).quantize(Decimal("0.01")), vat) for sku, qty, gross, vat in line.shipments()]


def init_specter(app: Flask) -> None:
    app.config.setdefault("SPECTER_ADMIN_ACCESS", lambda: bool(session.get("admin")))
    adapter = SQLAlchemyShopAdapter(
        db,
        product_model=Variant,
        customer_model=User,
        order_model=Order,
        product_fields={"name": "label", "price_excl_vat": Computed(lambda v: v.list_price, reads=("price", "product_id.price"))},
        parent="product_id",
        parent_fields={"name": "name", "price_excl_vat": "price", "vat_percent": "vat_rate", "active": "published"},
        customer_fields={"name": "name", "address": "street", "zip": "postcode"},
        guest_customer_fields=BUYER,
        order_fields=ORDER,
        line_fields={"qty": "quantity"},
        line_rows=shipped_rows,
        prices_include_vat={"product.price_excl_vat", "order.shipping_price_excl_vat"},
        order_ready=lambda order: order.status == "betald",
        order_status_map={"shipped": "skickad", "cancelled": "makulerad"},
    )
    specter.init_app(app, db=db, adapter=adapter, create_tables=True)
