"""The shop owner's admin: Flask-Admin's own views of the catalogue and the orders, behind /login."""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, request, session, url_for
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView
from flask_wtf import FlaskForm

from .models import Order, Product, User, Variant, db


class OwnerView(ModelView):  # type: ignore[misc]
    form_base_class = FlaskForm  # its csrf_token is the one CSRFProtect checks on every POST

    def is_accessible(self) -> bool:
        return bool(session.get("admin"))

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        return redirect(url_for("shop.login", next=request.full_path))


class ProductView(OwnerView):
    column_list = ("name", "price", "vat_rate", "is_kit", "published", "updated_at")
    form_excluded_columns = ("created_at", "updated_at")


class VariantView(OwnerView):
    column_list = ("sku", "product_id", "label", "price", "stock", "updated_at")
    form_columns = ("product_id", "sku", "label", "price", "stock")


class OrderView(OwnerView):
    can_create = False
    column_list = ("number", "name", "email", "status", "shipping_price", "created_at")
    column_filters = ("status",)


def init_admin(app: Flask) -> Admin:
    admin = Admin(app, name="Fika & Form admin")
    admin.add_view(ProductView(Product, db.session, name="Products"))
    admin.add_view(VariantView(Variant, db.session, name="Variants"))
    admin.add_view(OrderView(Order, db.session, name="Orders"))
    admin.add_view(OwnerView(User, db.session, name="Customers"))
    return admin
