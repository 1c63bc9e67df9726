"""Blinker signals in the extension's own namespace. Each is sent with the app as sender.

- ``batch_confirmed(app, feed, batch_no, rows)``: a Specter batch was stored and confirmed.
- ``stock_chunk_applied(app, rows, changed, unknown, remaining)``: one chunk of stock rows was applied.
- ``stock_batch_applied(app)``: the last stored stock row was applied; the shop equals Specter.
- ``stock_changed(app, changes)``: Specter's figures changed the shop's stock; ``changes`` maps each
  SKU whose stock column changed to ``(old, new)``. Sent once per applied chunk, after its commit. The
  chunk writes with one bulk ``UPDATE`` that bypasses the ORM (no attribute, ``after_update`` or
  session events of the host's models fire), so this is the signal to clear a cache of stock by.
- ``products_imported(app, skus, product_ids, outcomes)``: the article import ("Importera produkter från
  Specter") changed products, after its commit: their SKUs, their primary keys (``None`` for an object
  that is not a mapped instance) and what happened to each (``outcomes[sku]``: "created", "updated",
  "price" or "deactivated"). Its ORM writes fire the host's own events as well.
- ``order_exported(app, order_ref, specter_order_no)``: Specter acknowledged an order.
- ``order_transfer_failed(app, order_ref, error, permanent)``: an order push failed (with the reason).
- ``customer_exported(app, customer_ref, customer_no)``: a customer was created or matched in Specter.
- ``product_exported(app, sku, op)``: a product was created, updated or deleted in Specter.
"""

from __future__ import annotations

import logging
from typing import Any

from blinker import NamedSignal, Namespace

log = logging.getLogger("flask_specter")

_signals = Namespace()

batch_confirmed = _signals.signal("specter.batch-confirmed")
stock_chunk_applied = _signals.signal("specter.stock-chunk-applied")
stock_batch_applied = _signals.signal("specter.stock-batch-applied")
order_exported = _signals.signal("specter.order-exported")
order_transfer_failed = _signals.signal("specter.order-transfer-failed")
customer_exported = _signals.signal("specter.customer-exported")
product_exported = _signals.signal("specter.product-exported")
stock_changed = _signals.signal("specter.stock-changed")
products_imported = _signals.signal("specter.products-imported")


def notify(signal: NamedSignal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` to each receiver in turn; one that raises is logged and the others still run.

    For signals sent after the connector's work is committed: a host's receiver (a cache to clear)
    can neither undo that work nor make the job fail and run again.
    """
    for receiver in signal.receivers_for(sender):
        try:
            receiver(sender, **kwargs)
        except Exception:
            log.warning("a receiver of the signal %s failed", signal.name, exc_info=True)
