"""Flask-Specter: join a Flask shop to Specter Business Management (SBM)."""

from __future__ import annotations

from .client import SpecterClient
from .errors import SpecterError
from .extension import Specter
from .shop import ShopAdapter, SQLAlchemyShopAdapter
from .sku import SKU_MAX_LENGTH, InvalidSku
from .stock import OutOfStock, StockManagedBySpecter

__all__ = [
    "Specter",
    "SpecterClient",
    "SpecterError",
    "ShopAdapter",
    "SQLAlchemyShopAdapter",
    "OutOfStock",
    "StockManagedBySpecter",
    "InvalidSku",
    "SKU_MAX_LENGTH",
]
__version__ = "0.1.0"
