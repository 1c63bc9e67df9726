"""``ShopAdapter``: the whole contract between the connector and the host shop.

The connector never imports the host's models and never reads an adapter's internals: everything it
needs is a method or attribute below. An adapter speaks the shop's language only; it returns the
neutral records of ``shop/records.py`` and never sees a Specter wire field (the connector's mapper,
``outbound/wire.py``, builds those).

``SQLAlchemyShopAdapter`` implements the contract for plain SQLAlchemy models configured by class and
field names. A shop whose schema needs more writes its own adapter: subclass ``ShopAdapter`` (which
also gives the optional members their defaults) and implement the members marked *required*; mypy
names any that are missing.

Shop objects (``product``, ``customer``, ``order`` below) are whatever the adapter's ``get_*`` and
``iter_*`` return; the connector only hands them back to the adapter. All calls happen inside the
app context, in the host's ``db.session`` transaction; an adapter never commits or rolls back (the
connector commits together with its own bookkeeping) and never calls Specter.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from sqlalchemy import Column, Table

from ..remote.parsing import ArticleInfo
from .records import Customer, Order, Product

# Shop payment method -> Specter payTypeIdentifier (specter-protocol.md §9.2). Klarna marks the order
# so the invoice is activated from Specter.
PAY_TYPES = {"invoice": "I", "klarna": "K", "card": "DP", "swish": "SW", "prepayment": "PP", "paypal": "PL", "store": "D"}

# Specter's order status *names*, by the statusId of the orders feed. The connector speaks these names
# to the adapter (``ShopAdapter.order_status(name)`` gives the shop's own value for one); a delivered
# order is "shipped", a removed one "cancelled".
ORDER_STATUS_MAP = {1: "received", 2: "confirmed", 3: "partly_shipped", 4: "shipped", 5: "cancelled"}
ORDER_STATUS_NAMES = tuple(ORDER_STATUS_MAP.values())

StockTarget = tuple[Table, "Column[Any]", "Column[Any]"]

# The ``Product`` fields Specter keeps: a change to one of them is sent (the listeners watch them).
ARTICLE_FIELDS = ("sku", "name", "price_excl_vat", "vat_percent", "buy_price", "barcode", "weight")


@dataclass(frozen=True)
class Dependency:
    """A product's or customer's data that lives on another object (a variant's parent, a user's
    address, ...): a change there must send the product or customer again.

    When an instance of ``model`` is flushed with a change to one of ``attributes``, the listeners
    call ``owners(instance)`` and queue an update for each product (``kind`` "product") or customer
    (``kind`` "customer") it returns: the shop objects ``get_product`` / ``get_customer`` return.
    ``model`` may be the product or customer model itself (a relationship attribute pointed at
    another object); ``owners`` then returns the instance itself.
    """

    kind: Literal["product", "customer"]
    model: type[Any]
    attributes: tuple[str, ...]
    owners: Callable[[Any], Iterable[Any]]


@runtime_checkable
class ShopAdapter(Protocol):
    """What the connector needs from a shop: its products, customers and orders.

    Members whose body raises ``NotImplementedError`` are required; the others have a default that
    a subclass inherits (a class that implements the protocol without subclassing it defines them all).
    """

    # -- the models the session listeners watch ---------------------------------------------------
    product_model: type[Any] | None = None
    """The SQLAlchemy mapped class of products, or None. The outbox listeners turn inserts, updates
    and deletes of its instances into product pushes; the stock guard watches its stock attribute."""

    customer_model: type[Any] | None = None
    """The mapped class of customers, or None: inserts and updates become customer pushes."""

    order_model: type[Any] | None = None
    """The mapped class of orders, or None: inserts become order pushes, deletes order removals."""

    line_model: type[Any] | None = None
    """The mapped class of order lines, or None. Set it when the shop commits an order's lines after
    the order: a line inserted, changed or deleted later makes an order that waits for
    ``order_ready`` try again at once (``line_order_ref`` names its order), and its flush counts as
    order-driven for the stock guard."""

    pay_types: Mapping[str, str] = PAY_TYPES
    """The shop's payment method names (lower case) -> Specter's pay type codes. Only a shop whose
    names differ from the default table's (invoice, klarna, card, swish, ...) sets it."""

    def validate(self) -> None:
        """Check the adapter's configuration against the shop's models; called once by ``init_app``.
        Raises ``SpecterConfigError`` naming what is wrong, so a misspelled name stops the app at
        start-up instead of sending empty fields. Default: nothing to check."""
        return None

    def dependencies(self) -> Iterable[Dependency]:
        """The other objects a product's or customer's data is read from (``Dependency``); the
        listeners queue updates when they change. Default: none (every field lives on the product or
        customer model itself)."""
        return ()

    # -- products ---------------------------------------------------------------------------------
    def get_product(self, sku: str) -> Any | None:
        """*Required.* The product with this SKU, or None. Called when a product row of the outbox is
        sent and when Specter's stock or article data is shown or applied. Reads only."""
        raise NotImplementedError

    def iter_products(self) -> Iterator[Any]:
        """*Required.* Every product, for the bulk exports (paged by SKU when ``product_model`` and
        ``product_attribute("sku")`` are set). Reads only."""
        raise NotImplementedError

    def product_sku(self, product: Any) -> str:
        """*Required.* The product's SKU (Specter's article number). Called in the listeners on every
        flush that touches a product: cheap, no query, no write."""
        raise NotImplementedError

    def product_record(self, product: Any) -> Product:
        """*Required.* The product as a ``Product`` record, read when it is pushed to Specter (the
        shop's current data, however long the outbox row waited). Reads only."""
        raise NotImplementedError

    def product_stock(self, product: Any) -> int:
        """The product's stock in the shop (shown in the admin; sent when the article is created)."""
        return self.product_record(product).stock

    def product_attribute(self, field: str) -> str | None:
        """The attribute of ``product_model`` that holds the ``Product`` field ``field`` ("sku",
        "name", "stock", ...), or None when the model has none. The listeners watch these attributes:
        a change to one of the fields Specter keeps (sku, name, prices, VAT, barcode, weight) makes a
        product push; "stock" is the attribute the stock guard watches. Default: none watched."""
        return None

    def stock_target(self) -> StockTarget:
        """*Required.* (table, SKU column, stock column) of the shop's products: Specter's stock
        figures are written there in one ``UPDATE`` per chunk (and the checkout's decrement), bypassing
        the ORM. The connector writes only the stock column, only while it is the stock master."""
        raise NotImplementedError

    def apply_article(self, info: ArticleInfo, options: Mapping[str, Any]) -> str:
        """*Required.* Write Specter's article data to the shop's product (the article import).

        Called inside ``suppress_outbox()``, so the write is not echoed back to Specter. ``options`` are
        the admin's toggles (``import_price_only``, ``article_group_creates_category``, ...). A deleted
        article deactivates the product; an unknown one is created unless only prices are imported.
        Returns what happened: "created", "updated", "price", "deactivated" or "skipped". Does not
        commit and never touches stock (Specter's stock arrives through ``stock_target``).
        """
        raise NotImplementedError

    # -- customers --------------------------------------------------------------------------------
    def get_customer(self, ref: str) -> Any | None:
        """*Required.* The customer whose ``customer_ref`` is ``ref``, or None. Reads only."""
        raise NotImplementedError

    def iter_customers(self) -> Iterator[Any]:
        """*Required.* Every customer, for the customers export. Reads only."""
        raise NotImplementedError

    def customer_ref(self, customer: Any) -> str:
        """*Required.* The shop's own id for the customer, stable for its lifetime (the outbox keys
        rows by it). Called in the listeners after the insert is flushed: no query, no write."""
        raise NotImplementedError

    def customer_record(self, customer: Any) -> Customer:
        """*Required.* The customer as a ``Customer`` record, read when it is pushed. Reads only."""
        raise NotImplementedError

    def customer_specter_no(self, customer: Any) -> str | None:
        """The Specter customer number the shop stored (``set_customer_specter_no``), or None. The
        connector also keeps it in its own link table; the default stores nothing in the shop."""
        return None

    def set_customer_specter_no(self, customer: Any, customer_no: str) -> None:
        """Store Specter's customer number on the customer after a push, if the shop keeps it.
        Called in the connector's transaction; must not commit. Default: nothing stored."""
        return None

    def customer_attribute(self, field: str) -> str | None:
        """The attribute of ``customer_model`` that holds ``field``; the connector asks only for
        "specter_customer_no", the attribute it writes itself, so that a change to it alone is not
        pushed back to Specter. Default: None (every column change of a customer is pushed)."""
        return None

    # -- orders -----------------------------------------------------------------------------------
    def prefetch(self, *, customers: Collection[str] = (), orders: Collection[str] = ()) -> Any:
        """Load these customers and orders (and the orders' customers and lines) at once, before
        ``get_customer``/``get_order`` are asked for them one by one: the outbox drain reads twenty rows
        at a time. Returns anything the caller must hold meanwhile. Default: nothing (each is read when
        asked)."""
        return None

    def get_order(self, ref: str) -> Any | None:
        """*Required.* The order whose ``order_ref`` is ``ref``, or None. Reads only."""
        raise NotImplementedError

    def find_order(self, *, number: str | None = None, specter_order_no: str | None = None) -> Any | None:
        """*Required.* The order with this order number, or (when ``number`` is None) with this
        Specter order number; None when there is none. Used when Specter reports order news, after
        the connector's own link table (which knows every order it sent): a shop that keeps no Specter
        order number returns None for ``specter_order_no``."""
        raise NotImplementedError

    def order_ref(self, order: Any) -> str:
        """*Required.* The shop's own id for the order, stable for its lifetime (outbox rows and stock
        reservations are keyed by it). Called in the listeners after the insert is flushed."""
        raise NotImplementedError

    def order_record(self, order: Any) -> Order:
        """*Required.* The order with its lines as an ``Order`` record: read when the order is pushed,
        and at checkout (``decrement_for_order``) for its quantities. Reads only."""
        raise NotImplementedError

    def order_ready(self, order: Any) -> bool:
        """Whether the order may be sent to Specter now. Default: it has at least one line.

        Asked each time its outbox row comes up. A not-ready order is never "failed": its row stays
        pending with the reason "väntar: ordern är inte klar" and is tried again when the order or one
        of its lines (``line_model``) changes, and by the sweep (``SPECTER_SWEEP_INTERVAL``). A shop
        that must not send before payment overrides it (``SQLAlchemyShopAdapter(order_ready=...)``).
        Reads only."""
        return bool(self.order_record(order).lines)

    def line_order_ref(self, line: Any) -> str | None:
        """The ``order_ref`` of the order a ``line_model`` object belongs to, or None. Called in the
        listeners after a flush that touched the line: no query, no write. Default: None."""
        return None

    def order_status(self, status: str) -> Any | None:
        """The shop's value for Specter's order status ``status`` (one of ``ORDER_STATUS_NAMES``:
        "received", "confirmed", "partly_shipped", "shipped", "cancelled"), or None when the shop has
        none: the connector then records "status X has no shop value" on the order event and leaves
        the shop's status alone. The value is what ``apply_order_change(status=...)`` receives (any
        type: a string, an int, an Enum member). Default: the name itself."""
        return status

    def order_number(self, order: Any) -> str | None:
        """The order number the customer sees (admin messages, stock history). Default: the record's."""
        return self.order_record(order).number

    def order_specter_no(self, order: Any) -> str | None:
        """Specter's order number as the shop stored it (``set_order_transfer``), or None; the
        connector falls back to its own link table. Default: None."""
        return None

    def order_transfer_error(self, order: Any) -> str | None:
        """Why the last transfer failed, as the shop stored it (``set_order_transfer``), or None.
        Shown in the admin when the outbox row has no reason of its own. Default: None."""
        return None

    def set_order_transfer(self, order: Any, *, specter_order_no: str | None, error: str | None) -> None:
        """Store the outcome of a transfer on the order: Specter's number after success, or the reason
        of a permanent failure. In the connector's transaction; must not commit. Default: nothing."""
        return None

    def apply_order_change(self, order: Any, *, status: Any | None = None, tracking_no: str | None = None, invoice_id: str | None = None) -> None:
        """*Required.* Apply order news from Specter: a new status (the shop's value, as
        ``order_status`` gave it), a tracking number, an invoice id; None leaves a field alone. Called
        inside ``suppress_outbox()``; must not commit."""
        raise NotImplementedError

    def order_field_length(self, field: str) -> int | None:
        """The longest value the shop can store for an order field ("specter_order_no",
        "invoice_id"), or None for "no limit known". Callback parameters longer than this are refused
        before anything is stored (the connector's own limit applies when None)."""
        return None


__all__ = ["ShopAdapter", "StockTarget", "Dependency", "ARTICLE_FIELDS", "PAY_TYPES", "ORDER_STATUS_MAP", "ORDER_STATUS_NAMES"]
