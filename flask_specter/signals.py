"""Blinker signals in the extension's own namespace. Each is sent with the app as sender.

- ``batch_confirmed(app, feed, batch_no, rows)``: a Specter batch was stored and confirmed.
- ``stock_chunk_applied(app, rows, changed, unknown, remaining)``: one chunk of stock rows was applied.
- ``stock_batch_applied(app)``: the last stored stock row was applied; the shop equals Specter.
- ``order_exported(app, order_ref, specter_order_no)``: Specter acknowledged an order.
- ``order_transfer_failed(app, order_ref, error, permanent)``: an order push failed (with the reason).
- ``customer_exported(app, customer_ref, customer_no)``: a customer was created or matched in Specter.
- ``product_exported(app, sku, op)``: a product was created, updated or deleted in Specter.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

batch_confirmed = _signals.signal("specter.batch-confirmed")
stock_chunk_applied = _signals.signal("specter.stock-chunk-applied")
stock_batch_applied = _signals.signal("specter.stock-batch-applied")
order_exported = _signals.signal("specter.order-exported")
order_transfer_failed = _signals.signal("specter.order-transfer-failed")
customer_exported = _signals.signal("specter.customer-exported")
product_exported = _signals.signal("specter.product-exported")
