"""Customers and orders inside the simulated Specter (contract §6, §8).

An undelivered, unremoved order reserves its quantities on a stock site: available drops, in stock
does not. Delivery takes the quantities out of stock; removal releases them. Every such stock effect
queues the stock feed. Order changes made inside Specter queue the orders feed; the shop's own writes
are not echoed there.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import Any

from ..remote import protocol
from .articles import NotFound, add_stock
from .feeds import mark_pending
from .store import Store

CUSTOMER_ID_START = 1001
ORDER_NO_START = 10001
INVOICE_ID_START = 50001

CUSTOMER_FIELDS = (
    "customerOrganizationalForm", "firstName", "surName", "name", "contactPerson", "attention", "orgNo",
    "vatNo", "emailAddress", "phoneNo", "mobileNo", "faxNo", "homepage", "address", "addressRow2",
    "zipCodeEng", "city", "countryCode", "deliveryName", "deliveryAddress", "deliveryAddressRow2",
    "deliveryZipCodeEng", "deliveryCity", "deliveryCountryCode", "currency", "language", "customerGroupId",
    "deliveryCompanyName", "deliveryAttention", "deliveryregion", "invoiceCompanyName",
)
# An order's own delivery address: the delivery variants of the customer's address fields
# (specter-protocol.md A2), a company's name and the person it goes to (Att:), "deliveryregion" spelt as PW does.
ORDER_DELIVERY_FIELDS = (
    "deliveryCompanyName", "deliveryAttention", "deliveryAddress", "deliveryAddressRow2", "deliveryZipCodeEng",
    "deliveryCity", "deliveryCountryCode", "deliveryregion",
)
ORDER_FIELDS = (
    "customerId", "externalOrderNo", "customerOrderReference", "currency", "language", "sendOrderMail",
    "sendOrderMailToUser", "payTypeIdentifier", "payTypeReference", "payTypeIdentifierPaySystemUser",
    "isPrepayment", "externalDeliveryMethod", "publishedComment", "internalComment", "stockSiteId",
    "webshopId", "userSource", "preparedShipmentId", "ignoreExternalOrderNoControl", "orderDate",
    "deliveryDate", "customerReference", "notifyDeliveryByMobile", "notifyDeliveryMobileNo",
    *ORDER_DELIVERY_FIELDS,
)
ROW_FIELDS = ("articleNo", "articleName", "articleComment", "priceExclVAT", "noOfItems", "vatPercent")
# Parameters about the call itself, never stored as data.
CONTROL = {"action", "sbmid", "apiuserid", "key", "usexml", "forcecustomerupdate", "ignorecontrolemail",
           "ignorecontrolorgno", "identifybycustomerid"}
# Fields only a Specter user sets; a forced update from the shop keeps them.
SPECTER_ONLY = {"priority", "responsiblesalesperson"}
_CANON = {name.lower(): name for name in (*CUSTOMER_FIELDS, *ORDER_FIELDS, *ROW_FIELDS)}
_ROW_KEY = re.compile(r"^(.+)_(\d+)$")


def canonical(name: str) -> str:
    return _CANON.get(name.lower(), name)


def email_norm(email: str) -> str:
    return (email or "").strip().lower()


def org_norm(org_no: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", org_no or "").upper()


def _next_id(c: sqlite3.Connection, table: str, column: str, start: int) -> int:
    row = c.execute(f"SELECT MAX({column}) FROM {table}").fetchone()  # noqa: S608 - fixed names
    return max(start, (row[0] or 0) + 1)


# -- customers --------------------------------------------------------------------------------------


def submit_customer(
    store: Store, fields: dict[str, str], *, force: bool, ignore_email: bool, ignore_org: bool
) -> tuple[int, bool]:
    """Match by e-mail then orgNo (each skippable), else create. Returns (customerId, matched)."""
    email, org = email_norm(fields.get("emailAddress", "")), org_norm(fields.get("orgNo", ""))
    now = time.time()
    with store.tx() as c:
        match = None
        if not ignore_email and email:
            match = c.execute("SELECT * FROM customers WHERE email_norm = ? ORDER BY id LIMIT 1", (email,)).fetchone()
        if match is None and not ignore_org and org:
            match = c.execute("SELECT * FROM customers WHERE org_norm = ? ORDER BY id LIMIT 1", (org,)).fetchone()
        if match is not None:
            if force:
                data = {**json.loads(match["data"]), **fields}
                c.execute(
                    "UPDATE customers SET data = ?, email_norm = ?, org_norm = ?, updated_at = ? WHERE id = ?",
                    (json.dumps(data), email_norm(data.get("emailAddress", "")),
                     org_norm(data.get("orgNo", "")), now, match["id"]),
                )
            return match["id"], True
        cid = _next_id(c, "customers", "id", CUSTOMER_ID_START)
        c.execute(
            "INSERT INTO customers(id, data, email_norm, org_norm, created_at, updated_at) VALUES(?, ?, ?, ?, ?, ?)",
            (cid, json.dumps(fields), email, org, now, now),
        )
        return cid, False


def set_customer_fields(store: Store, customer_id: int, values: dict[str, Any]) -> None:
    """Specter-only fields set by a Specter user (priority, responsible salesperson)."""
    with store.tx() as c:
        if c.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone() is None:
            raise NotFound(f"unknown customer {customer_id}")
        if "priority" in values:
            c.execute("UPDATE customers SET priority = ? WHERE id = ?", (str(values["priority"]), customer_id))
        if "responsibleSalesperson" in values:
            c.execute(
                "UPDATE customers SET responsible_salesperson = ? WHERE id = ?",
                (str(values["responsibleSalesperson"]), customer_id),
            )


def describe_customers(store: Store) -> list[dict[str, Any]]:
    return [
        {**json.loads(r["data"]), "customerId": r["id"], "priority": r["priority"],
         "responsibleSalesperson": r["responsible_salesperson"], "createdAt": r["created_at"],
         "updatedAt": r["updated_at"]}
        for r in store.query("SELECT * FROM customers ORDER BY id")
    ]


# -- orders -----------------------------------------------------------------------------------------


def split_rows(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[int, dict[str, Any]]]:
    """Order parameters -> (header fields, rows by number), names in canonical spelling."""
    header: dict[str, str] = {}
    rows: dict[int, dict[str, Any]] = {}
    for name, value in pairs:
        if name.lower() in CONTROL:
            continue
        m = _ROW_KEY.match(name)
        if m and canonical(m.group(1)) in ROW_FIELDS:
            rows.setdefault(int(m.group(2)), {})[canonical(m.group(1))] = value
        else:
            header[canonical(name)] = value
    return header, dict(sorted(rows.items()))


def find_by_external(c: sqlite3.Connection, external_order_no: str) -> int | None:
    row = c.execute(
        "SELECT order_no FROM orders WHERE external_order_no = ? ORDER BY order_no LIMIT 1", (external_order_no,)
    ).fetchone()
    return row["order_no"] if row else None


def create_order(c: sqlite3.Connection, store: Store, header: dict[str, Any], rows: list[dict[str, Any]], site_id: int) -> int:
    """Store an order (already validated) and reserve its quantities."""
    order_no = _next_id(c, "orders", "order_no", ORDER_NO_START)
    now = time.time()
    c.execute(
        "INSERT INTO orders(order_no, external_order_no, customer_id, data, created_at, updated_at) "
        "VALUES(?, ?, ?, ?, ?, ?)",
        (order_no, header.get("externalOrderNo", ""), int(header["customerId"]), json.dumps(header), now, now),
    )
    c.executemany(
        "INSERT INTO order_rows(order_no, n, article_no, qty, site_id, data) VALUES(?, ?, ?, ?, ?, ?)",
        [(order_no, n, r["articleNo"], r["_qty"], site_id, json.dumps({k: v for k, v in r.items() if k != "_qty"}))
         for n, r in enumerate(rows, start=1)],
    )
    store.ensure_site(c, site_id)
    for r in rows:
        add_stock(c, r["articleNo"], site_id, reserved=r["_qty"])
    mark_pending(store, c, "stock", [r["articleNo"] for r in rows])
    return order_no


def _order(c: sqlite3.Connection, order_no: str | int) -> sqlite3.Row:
    try:
        key = int(str(order_no).strip())
    except ValueError:
        raise NotFound(f"unknown order {order_no!r}") from None
    row: sqlite3.Row | None = c.execute("SELECT * FROM orders WHERE order_no = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(f"unknown order {order_no!r}")
    return row


def _settle(c: sqlite3.Connection, store: Store, order: sqlite3.Row, *, deliver: bool) -> None:
    """End the reservation: delivered quantities leave stock, released ones become available again."""
    if not order["reserving"]:
        return
    rows = c.execute("SELECT article_no, qty, site_id FROM order_rows WHERE order_no = ?", (order["order_no"],))
    touched = []
    for r in rows.fetchall():
        add_stock(c, r["article_no"], r["site_id"], reserved=-r["qty"], in_stock=-r["qty"] if deliver else 0)
        touched.append(r["article_no"])
    c.execute("UPDATE orders SET reserving = 0 WHERE order_no = ?", (order["order_no"],))
    mark_pending(store, c, "stock", touched)


def delete_order(store: Store, order_no: str | int) -> bool:
    """The shop's deleteOrderSubmit: removed, reservation released; False when already removed."""
    with store.tx() as c:
        order = _order(c, order_no)
        if order["removed"]:
            return False
        _settle(c, store, order, deliver=False)
        c.execute(
            "UPDATE orders SET removed = 1, status_id = ?, updated_at = ? WHERE order_no = ?",
            (protocol.ORDER_STATUS_REMOVED, time.time(), order["order_no"]),
        )
        return True


def specter_remove(store: Store, order_no: str | int) -> None:
    """An order removed in Specter: statusId 5 in the orders feed AND the actionRemoveOrder callback."""
    with store.tx() as c:
        order = _order(c, order_no)
        _settle(c, store, order, deliver=False)
        c.execute(
            "UPDATE orders SET removed = 1, status_id = ?, updated_at = ? WHERE order_no = ?",
            (protocol.ORDER_STATUS_REMOVED, time.time(), order["order_no"]),
        )
        mark_pending(store, c, "orders", [order["order_no"]])
        store.signal(protocol.CALLBACK_REMOVE_ORDER, orderNo=order["order_no"])


def specter_status(store: Store, order_no: str | int, status_id: int, delivery_status: str | None = None) -> None:
    """A status change made in Specter: the orders feed."""
    if status_id == protocol.ORDER_STATUS_REMOVED:
        specter_remove(store, order_no)
        return
    with store.tx() as c:
        order = _order(c, order_no)
        c.execute(
            "UPDATE orders SET status_id = ?, delivery_status = ?, updated_at = ? WHERE order_no = ?",
            (status_id, order["delivery_status"] if delivery_status is None else delivery_status,
             time.time(), order["order_no"]),
        )
        mark_pending(store, c, "orders", [order["order_no"]])


def specter_deliver(store: Store, order_no: str | int, tracking_no: str = "") -> None:
    """Delivered in Specter: reserved quantities leave stock; orders feed with deliveryStatus D."""
    with store.tx() as c:
        order = _order(c, order_no)
        _settle(c, store, order, deliver=True)
        deliveries = json.loads(order["deliveries"]) + ([tracking_no] if tracking_no else [])
        c.execute(
            "UPDATE orders SET status_id = 4, delivery_status = ?, deliveries = ?, deliveries_updated = 1, "
            "updated_at = ? WHERE order_no = ?",
            (protocol.DELIVERY_STATUS_DELIVERED, json.dumps(deliveries), time.time(), order["order_no"]),
        )
        mark_pending(store, c, "orders", [order["order_no"]])


def specter_invoice(store: Store, order_no: str | int, invoice_id: str | None, source: str) -> str:
    """An invoice made in Specter: the actionNewInvoice callback with the order and invoice ids."""
    with store.tx() as c:
        order = _order(c, order_no)
        invoices = json.loads(order["invoices"])
        if not invoice_id:
            count = c.execute("SELECT COALESCE(SUM(json_array_length(invoices)), 0) FROM orders").fetchone()[0]
            invoice_id = str(INVOICE_ID_START + count)
        invoices.append({"invoiceId": str(invoice_id), "invoiceSource": source})
        c.execute("UPDATE orders SET invoices = ? WHERE order_no = ?", (json.dumps(invoices), order["order_no"]))
        store.signal(
            protocol.CALLBACK_NEW_INVOICE, orderId=order["order_no"], orderNo=order["order_no"],
            invoiceId=invoice_id, invoiceSource=source,
        )
    return str(invoice_id)


def describe_orders(store: Store) -> list[dict[str, Any]]:
    rows_by_order: dict[int, list[dict[str, Any]]] = {}
    for r in store.query("SELECT * FROM order_rows ORDER BY order_no, n"):
        rows_by_order.setdefault(r["order_no"], []).append(
            {**json.loads(r["data"]), "qty": r["qty"], "stockSiteId": r["site_id"]}
        )
    out = []
    for o in store.query("SELECT * FROM orders ORDER BY order_no"):
        header = json.loads(o["data"])
        out.append({
            **header,
            "fields": header,
            "orderNo": o["order_no"], "externalOrderNo": o["external_order_no"], "customerId": o["customer_id"],
            "delivery": {k: header[k] for k in ORDER_DELIVERY_FIELDS if k in header} or None,
            "statusId": o["status_id"], "deliveryStatus": o["delivery_status"],
            "trackingNos": json.loads(o["deliveries"]), "removed": bool(o["removed"]),
            "reserving": bool(o["reserving"]), "invoices": json.loads(o["invoices"]),
            "rows": rows_by_order.get(o["order_no"], []), "createdAt": o["created_at"],
        })
    return out

