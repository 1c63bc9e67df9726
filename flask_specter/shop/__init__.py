"""The shop side: the adapter contract and the generic SQLAlchemy adapter."""

from .adapter import ShopAdapter
from .sqla import SQLAlchemyShopAdapter

__all__ = ["ShopAdapter", "SQLAlchemyShopAdapter"]
