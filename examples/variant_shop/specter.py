"""The one file of this shop that knows Specter: the adapter's configuration and a cache-clearing receiver."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from flask_specter import Specter, SQLAlchemyShopAdapter, signals

from .cache import get_cache
from .models import Order, OrderLine, OrderStatus, User, Variant, db

specter = Specter()

ADDRESS = {"address": "line1", "address2": "line2", "zip": "postcode", "city": "city", "country": "country"}


def init_specter(app: Flask) -> None:
    adapter = SQLAlchemyShopAdapter(
        db, product_model=Variant, customer_model=User, order_model=Order, line_model=OrderLine,
        product_fields={"price_excl_vat": "price", "barcode": "ean", "reserved": "allocated", "vat_percent": None,
                        "active": None, "buy_price": None, "weight": None, "category_id": None},
        parent="product", parent_fields={"name": "title", "price_excl_vat": "base_price", "vat_percent": "vat_rate", "active": "published"},
        variant_name="{parent} ({variant})",
        customer_fields={**{k: f"default_address.{v}" for k, v in ADDRESS.items()}, "company": None, "org_no": None, "mobile": None, "specter_customer_no": None},
        order_fields={"number": "reference", "customer_id": "user_id", "shipping_price_excl_vat": "shipping_cost", "comment": "note",
                      "tracking_no": "tracking_number", "delivery_name": "shipping_address.recipient",
                      **{f"delivery_{k}": f"shipping_address.{v}" for k, v in ADDRESS.items()},
                      "currency": None, "shipping_vat_percent": None, "discount_excl_vat": None, "specter_order_no": None, "transfer_error": None, "invoice_id": None},
        line_fields={"qty": "quantity", "price_excl_vat": "unit_price", "name": None, "vat_percent": None},
        order_ready=lambda order: order.paid,  # paid orders only: payment is where this shop lowers its stock
        order_status_map={"confirmed": OrderStatus.PROCESSING, "partly_shipped": OrderStatus.PARTLY_SHIPPED,
                          "shipped": OrderStatus.SHIPPED, "cancelled": OrderStatus.CANCELLED},
    )
    specter.init_app(app, db=db, adapter=adapter, create_tables=True)
    signals.stock_changed.connect(forget_cached_stock, sender=app)


def forget_cached_stock(app: Flask, changes: dict[str, tuple[int, int]], **_: Any) -> None:
    """Specter's stock is written with one bulk UPDATE that the ORM never sees: forget those products' listings."""
    with app.app_context():
        ids = db.session.execute(select(Variant.product_id).where(Variant.sku.in_(list(changes)))).scalars().all()
        get_cache(app).forget_products(ids)
