"""The shop side: the adapter contract, the records it returns and the generic SQLAlchemy adapter."""

from .adapter import ORDER_STATUS_MAP, ORDER_STATUS_NAMES, PAY_TYPES, ShopAdapter
from .computed import Computed
from .records import Address, Customer, Order, OrderLine, Product
from .sqla import SQLAlchemyShopAdapter

__all__ = [
    "ShopAdapter", "SQLAlchemyShopAdapter", "Product", "Customer", "Address", "Order", "OrderLine", "PAY_TYPES",
    "ORDER_STATUS_MAP", "ORDER_STATUS_NAMES", "Computed",
]
