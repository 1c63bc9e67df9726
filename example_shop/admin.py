"""Flask-Admin at ``/admin``: deny by default, CSRF on every form, and Specter's stock rule visible.

The ``Admin`` is created before ``init_specter`` (``specter.py``) so the extension can add its own views to it.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import SecureForm
from flask_admin.menu import MenuLink
from flask_babel import Babel
from wtforms.validators import Length, ValidationError

from flask_specter.compat import admin_theme, model_view_db
from flask_specter.sku import InvalidSku, sku_problem
from flask_specter.stock import is_specter_managed

from .auth import is_admin
from .models import Category, Customer, Order, OrderLine, Product, db

CATALOGUE = "Katalog & Produkter"
SALES = "Kunder & Beställningar"
STOCK_HELP = "Specter är lagermaster: ändra saldot i Specter (Inleverans eller Saldo-/Prisjustering), så följer butiken."


def _to_login():
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


class ShopIndexView(AdminIndexView):
    def is_accessible(self) -> bool:
        return is_admin()

    def inaccessible_callback(self, name, **kwargs):
        return _to_login()

    @expose("/")
    def index(self):
        return self.render("shop/admin_index.html")


class SecureModelView(ModelView):
    form_base_class = SecureForm
    page_size = 50

    def is_accessible(self) -> bool:
        return is_admin()

    def inaccessible_callback(self, name, **kwargs):
        return _to_login()


class CategoryView(SecureModelView):
    column_list = ("name", "active", "parent")
    form_columns = ("name", "active", "parent")
    column_searchable_list = ("name",)


def _sku_for_specter(form, field) -> None:  # noqa: ARG001
    """The SKU is Specter's article number: say in Swedish why Specter could not take it."""
    problem = sku_problem(field.data)
    if problem is not None:
        raise ValidationError(problem.message_sv)


class ProductView(SecureModelView):
    column_list = ("sku", "name", "price_excl_vat", "vat_percent", "stock", "active", "category", "parent")
    column_searchable_list = ("sku", "name", "barcode")
    column_filters = ("active", "category.name")
    column_default_sort = "sku"
    form_columns = (
        "sku",
        "name",
        "description",
        "price_excl_vat",
        "vat_percent",
        "stock",
        "active",
        "category",
        "parent",
        "buy_price",
        "barcode",
        "weight",
    )
    column_labels = {"price_excl_vat": "Pris exkl. moms", "vat_percent": "Moms %", "stock": "Lager", "parent": "Huvudprodukt (variant av)"}

    def scaffold_form(self):
        """The SKU field checks what Specter accepts, in Swedish (instead of WTForms' English length text)."""
        form_class = super().scaffold_form()
        validators = [v for v in form_class.sku.kwargs.get("validators", []) if not isinstance(v, Length)]
        form_class.sku.kwargs["validators"] = [*validators, _sku_for_specter]
        return form_class

    def edit_form(self, obj=None):
        """Stock is read-only once Specter owns it (the article exists in Specter)."""
        form = super().edit_form(obj)
        if obj is not None and obj.sku and is_specter_managed(obj.sku):
            form.stock.render_kw = {"readonly": True}
            form.stock.description = STOCK_HELP
        return form

    # A changed stock of a Specter-managed product (a tampered form) is refused by the extension's stock
    # guard itself: a form error in this view (flask_specter.stock_guard.StockEditRefused).

    def handle_view_exception(self, exc):
        if isinstance(exc, InvalidSku):  # the extension's own check, should a SKU get past the form
            flash(exc.message_sv, "error")
            return True
        return super().handle_view_exception(exc)


class CustomerView(SecureModelView):
    column_list = ("email", "first_name", "last_name", "company", "city", "specter_customer_no", "created_at")
    column_searchable_list = ("email", "first_name", "last_name", "company", "org_no")
    form_excluded_columns = ("password_hash", "orders", "created_at")
    column_default_sort = ("created_at", True)


def _payment_with_transfer_panel(view, context, model, name):
    """Under "Betalningsmetod": why the order failed to reach Specter, and the "Överför order" button."""
    from markupsafe import Markup, escape

    from flask_specter.admin import order_transfer_panel

    return Markup("{}<br>{}").format(escape(model.payment_method or ""), order_transfer_panel(model.id))


class OrderView(SecureModelView):
    can_create = False  # orders come from the shop (stock is decremented there), not from a form
    can_view_details = True
    column_formatters = {"payment_method": _payment_with_transfer_panel}
    column_labels = {
        "number": "Ordernr",
        "customer": "Kund",
        "payment_method": "Betalningsmetod",
        "created_at": "Skapad",
        "specter_order_no": "Specter-ordernr",
        "tracking_no": "Kollinr",
        "transfer_error": "Överföringsfel",
    }
    # The transfer failure is shown in the panel under "Betalningsmetod", as the seed describes.
    column_list = ("number", "customer", "status", "payment_method", "created_at", "specter_order_no", "tracking_no")
    column_searchable_list = ("number", "specter_order_no", "tracking_no")
    column_filters = ("status", "payment_method")
    column_default_sort = ("created_at", True)
    form_excluded_columns = ("created_at",)
    inline_models = ((OrderLine, {"form_columns": ("id", "sku", "name", "qty", "price_excl_vat", "vat_percent")}),)


def init_admin(app) -> Admin:
    Babel(app, default_locale="sv")  # the shop's own admin speaks Swedish (Flask-Admin's sv catalogue); Specter's pages follow SPECTER_LOCALE
    admin = Admin(app, name="Exempelbutiken", **admin_theme(base_template="shop/admin_base.html"), index_view=ShopIndexView(name="Översikt"))
    admin.add_view(CategoryView(Category, model_view_db(db), name="Kategorier", category=CATALOGUE))
    admin.add_view(ProductView(Product, model_view_db(db), name="Produkter", category=CATALOGUE))
    admin.add_view(CustomerView(Customer, model_view_db(db), name="Kunder", category=SALES))
    admin.add_view(OrderView(Order, model_view_db(db), name="Beställningar", category=SALES))
    admin.add_link(MenuLink(name="Till butiken", url="/"))
    return admin
