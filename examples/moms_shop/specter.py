"""The moms shop joined to Specter: the adapter's configuration, nothing else."""

from decimal import Decimal

from flask import Flask, session

from flask_specter import Computed, Specter, SQLAlchemyShopAdapter
from flask_specter.shop.records import OrderLine as Row

from .models import Order, OrderLine, Product, User, Variant, db, kit_parts, unit_price

specter = Specter()
BUYER = {"email": "email", "name": "name", "phone": "phone", "address": "street", "zip": "postcode", "city": "city", "country": "country"}
DELIVERY = {f"delivery_{key}": path for key, path in BUYER.items() if key not in ("email", "phone")}
ORDER = {"customer_id": "user_id", "shipping_price_excl_vat": "shipping_price", "payment_reference": "transaction_id", **DELIVERY}
PRICE = Computed(lambda v: unit_price(v, db.session.get(Product, v.product_id)), reads=("price", "product_id.price"))  # 0: the product's


def kit_rows(line: OrderLine) -> list[Row]:
    """A kit's line ships its components, the kit's price shared out by their own prices; any other line ships itself."""
    share = [(line.sku, 1, line.unit_price, line.vat_rate)]
    if parts := kit_parts(line.product_id):
        products = [db.session.get(Product, v.product_id) for v, _n in parts]
        share = [(v.sku, n, unit_price(v, p), p.vat_rate) for (v, n), p in zip(parts, products, strict=True)]
    worth = sum(n * gross for _sku, n, gross, _vat in share)
    return [Row(sku, n * line.quantity, excl(line.unit_price * gross / worth, vat), vat) for sku, n, gross, vat in share]


def excl(gross: Decimal, vat: Decimal) -> Decimal:
    return (gross / (1 + vat / 100)).quantize(Decimal("0.01"))


def init_specter(app: Flask) -> None:
    app.config.setdefault("SPECTER_ADMIN_ACCESS", lambda: bool(session.get("admin")))
    adapter = SQLAlchemyShopAdapter(
        db,
        product_model=Variant,
        customer_model=User,
        order_model=Order,
        product_fields={"name": "label", "price_excl_vat": PRICE},
        parent="product_id",
        parent_fields={"name": "name", "price_excl_vat": "price", "vat_percent": "vat_rate", "active": "published"},
        customer_fields={"name": "name", "address": "street", "zip": "postcode"},
        guest_customer_fields=BUYER,
        order_fields=ORDER,
        line_fields={"qty": "quantity"},
        line_rows=kit_rows,
        prices_include_vat={"product.price_excl_vat", "order.shipping_price_excl_vat"},
        order_ready=lambda order: order.status == "betald",
        order_status_map={"shipped": "skickad", "cancelled": "makulerad"},
    )
    specter.init_app(app, db=db, adapter=adapter, create_tables=True)
