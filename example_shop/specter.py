"""The example shop joined to Specter: its models use the adapter's default names, so this is all."""

from flask import Flask

from flask_specter import Specter, SQLAlchemyShopAdapter

from .models import Category, Customer, Order, Product, db


def init_specter(app: Flask) -> None:
    adapter = SQLAlchemyShopAdapter(db, product_model=Product, customer_model=Customer, order_model=Order, category_model=Category)
    # create_tables: the demo has no migrations (a real shop runs the shipped Alembic revisions)
    Specter(app, db=db, adapter=adapter, create_tables=True)
