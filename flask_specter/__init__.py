"""Flask-Specter: join a Flask shop to Specter Business Management (SBM)."""

from __future__ import annotations

from .extension import Specter
from .models import Base
from .remote.client import SpecterClient
from .remote.errors import SpecterError
from .shop import Address, Computed, Customer, Order, OrderLine, Product, ShopAdapter, SQLAlchemyShopAdapter
from .sku import SKU_MAX_LENGTH, InvalidSku
from .stock import OutOfStock, StockManagedBySpecter, shop_stock_change

# The extension's tables (all named ``specter_*``), on their own MetaData: for Alembic and for ``create_all``.
metadata = Base.metadata

__all__ = [
    "Specter",
    "SpecterClient",
    "SpecterError",
    "ShopAdapter",
    "SQLAlchemyShopAdapter",
    "Computed",
    "Product",
    "Customer",
    "Address",
    "Order",
    "OrderLine",
    "OutOfStock",
    "StockManagedBySpecter",
    "shop_stock_change",
    "InvalidSku",
    "SKU_MAX_LENGTH",
    "metadata",
]
__version__ = "0.1.0"
