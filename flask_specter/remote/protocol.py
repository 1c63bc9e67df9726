"""The Specter wire protocol in one place: action names, key inputs, error codes, parsing.

Everything marked [assumed] in ``shared/specter-contract.md`` lives in the tables of this module, so a
correction learned from the real Specter is a one-line change. The client and the sandbox both import
from here, so they can never disagree.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

WIRE_ENCODING = "iso-8859-1"

GET_SCRIPT = "getInfo.asp"
PUT_SCRIPT = "putInfo.asp"


@dataclass(frozen=True)
class Feed:
    """A Specter change queue: fetched with one action, confirmed with another, signalled by a callback."""

    name: str
    fetch_action: str
    confirm_action: str
    callback_param: str


STOCK = Feed("stock", "getArticleExternalNeedUpdate", "updateArticlesFromBatch", "actionStockChange")
ARTICLES = Feed(
    "articles", "getArticleInfoExternalNeedUpdate", "updateArticleInfosFromBatch", "actionArticleChange"
)
ORDERS = Feed("orders", "getOrdersExternalNeedUpdate", "updateOrdersFromBatch", "actionOrderChange")
FEEDS: dict[str, Feed] = {f.name: f for f in (STOCK, ARTICLES, ORDERS)}

# Callback parameters of checkAccountSettings that carry ids rather than a feed signal.
CALLBACK_REMOVE_ORDER = "actionRemoveOrder"
CALLBACK_NEW_INVOICE = "actionNewInvoice"
CALLBACK_PARAMS = (
    STOCK.callback_param,
    ARTICLES.callback_param,
    ORDERS.callback_param,
    CALLBACK_REMOVE_ORDER,
    CALLBACK_NEW_INVOICE,
)

CLEAR_ARTICLE_BATCH = "clearArticleBatch"
CHECK_ACCOUNT_SETTINGS = "checkAccountSettings"
NEW_CUSTOMER = "newCustomerSubmit"
NEW_ARTICLE = "newArticleSubmit"
DELETE_ARTICLE = "deleteArticleSubmit"  # [assumed]
NEW_ORDER = "newOrderSubmit"
DELETE_ORDER = "deleteOrderSubmit"  # [assumed]

# Which script each action is sent to.
ACTION_SCRIPT: dict[str, str] = {
    **{f.fetch_action: GET_SCRIPT for f in FEEDS.values()},
    **{f.confirm_action: GET_SCRIPT for f in FEEDS.values()},
    CLEAR_ARTICLE_BATCH: GET_SCRIPT,
    CHECK_ACCOUNT_SETTINGS: GET_SCRIPT,
    NEW_CUSTOMER: PUT_SCRIPT,
    NEW_ARTICLE: PUT_SCRIPT,
    DELETE_ARTICLE: PUT_SCRIPT,
    NEW_ORDER: PUT_SCRIPT,
    DELETE_ORDER: PUT_SCRIPT,
}

# The request parameter whose value is the X of the key formula, per action. newCustomerSubmit is
# special (the customer's name) and checkAccountSettings signs the date: see key_input().
KEY_FIELD: dict[str, str] = {
    **{f.fetch_action: "batchNo" for f in FEEDS.values()},
    **{f.confirm_action: "batchNo" for f in FEEDS.values()},
    CLEAR_ARTICLE_BATCH: "batchNo",
    NEW_ORDER: "customerId",
    NEW_ARTICLE: "articleNo_1",
    DELETE_ARTICLE: "articleNo",  # [assumed]
    DELETE_ORDER: "orderId",  # [assumed]
    CHECK_ACCOUNT_SETTINGS: "date",
}

# Error codes. Only 99 is observed in the wild; the rest are [assumed] and shared with the sandbox.
ERR_INVALID_KEY = 10
ERR_UNKNOWN_ACCOUNT = 11
ERR_INVALID_FIELD = 20
ERR_UNKNOWN_ARTICLE = 21
ERR_UNKNOWN_CUSTOMER = 22
ERR_DUPLICATE_ORDER = 23
ERR_UNKNOWN_ORDER = 24
ERR_OPEN_BATCH = 99

ERROR_MEANINGS: dict[int, str] = {
    ERR_INVALID_KEY: "Specter refused the signature: check the user key and the integration key",
    ERR_UNKNOWN_ACCOUNT: "Specter does not know this SBM id or API user id",
    ERR_INVALID_FIELD: "a field is missing or invalid",
    ERR_UNKNOWN_ARTICLE: "the article does not exist in Specter",
    ERR_UNKNOWN_CUSTOMER: "the customer does not exist in Specter",
    ERR_DUPLICATE_ORDER: "the order already exists in Specter",
    ERR_UNKNOWN_ORDER: "the order does not exist in Specter",
    ERR_OPEN_BATCH: "an earlier batch is still open in Specter",
}

# Order status ids of the orders feed [assumed].
ORDER_STATUS = {1: "registered", 2: "confirmed", 3: "partly_delivered", 4: "delivered", 5: "removed"}
ORDER_STATUS_REMOVED = 5
DELIVERY_STATUS_DELIVERED = "D"

NO_ITEMS_AVAILABLE = "noItemsAvailable"
BATCH_NO_RE = re.compile(r"^[0-9a-f]{32}$")
ARTICLE_NO_FORBIDDEN = re.compile(r"[;\x00-\x1f\x7f]")  # ";" and every control character (NUL, tab, CR, LF, ...)
ARTICLE_NO_MAX = 50
_QUOTED = re.compile(r"'([^']*)'")
_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode(WIRE_ENCODING)).hexdigest()


def sign(integration_key: str, user_key: str, sbm_id: str, x: str) -> str:
    """The contract's key: md5hex(integrationKey + md5hex(userKey + sbmId + X)) over latin-1 bytes."""
    return md5_hex(integration_key + md5_hex(f"{user_key}{sbm_id}{x}"))


def normalise_name(text: str) -> str:
    """Trim and collapse runs of spaces, as Specter does before hashing a customer name."""
    return re.sub(r" {2,}", " ", (text or "").strip())


def customer_key_input(params: dict[str, str]) -> str:
    """X for newCustomerSubmit: the company name, or "first last" for a private person."""
    if (params.get("customerOrganizationalForm") or "P").upper() == "C":
        return normalise_name(params.get("name", ""))
    return normalise_name(f"{params.get('firstName', '')} {params.get('surName', '')}")


def key_input(action: str, params: dict[str, str]) -> str:
    """The X value that signs a request for ``action`` given its parameters."""
    if action == NEW_CUSTOMER:
        return customer_key_input(params)
    field = KEY_FIELD.get(action)
    if field is None:
        raise ValueError(f"unknown Specter action {action!r}")
    return str(params.get(field, ""))


def new_batch_no() -> str:
    """A fresh batch number: 32 lower-case hex characters."""
    return secrets.token_hex(16)


def parse_decimal(value: str | None, *, field: str = "value") -> Decimal:
    """Parse a Specter number: dot or decimal comma, spaces as thousands separators, never float."""
    text = (value or "").replace("\xa0", "").replace(" ", "").strip()
    if not _NUMBER.match(text):
        raise ValueError(f"{field}: {value!r} is not a number")
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards
        raise ValueError(f"{field}: {value!r} is not a number") from exc


def parse_quantity(value: str | None, *, field: str = "quantity") -> int:
    """A stock figure: ``noItemsAvailable`` is 0, ``0,5`` is read leniently and rounded down."""
    text = (value or "").strip()
    if text == NO_ITEMS_AVAILABLE:
        return 0
    return int(parse_decimal(text, field=field).to_integral_value(rounding="ROUND_FLOOR"))


def format_decimal(value: Decimal | float | str, places: int = 2) -> str:
    """A number for the wire: dot decimal, no thousands separator."""
    quant = Decimal(1).scaleb(-places)
    return str(Decimal(str(value)).quantize(quant))


def quoted_tokens(message: str) -> list[str]:
    return _QUOTED.findall(message or "")


# Code 20 for an order sent without rows ("articleNo_1 is required"): the order is not complete yet.
_NO_ROWS = re.compile(r"\barticleNo_1\b.*\b(required|missing)\b", re.IGNORECASE)


def is_no_rows_message(code: int, message: str) -> bool:
    """True when Specter refused an order because it had no rows (code 20 naming ``articleNo_1`` as missing)."""
    return code == ERR_INVALID_FIELD and bool(_NO_ROWS.search(message or ""))


def quoted_batch_no(message: str, *, sent: str | None = None) -> str | None:
    """The open batch number quoted in an error-99 message; prefers one that differs from ``sent``."""
    candidates = [t for t in quoted_tokens(message) if BATCH_NO_RE.match(t.lower())]
    for token in candidates:
        if token.lower() != (sent or "").lower():
            return token.lower()
    return candidates[0].lower() if candidates else None


def quoted_order_no(message: str) -> str | None:
    """The existing order number quoted in a code-23 message."""
    tokens = quoted_tokens(message)
    return tokens[-1] if tokens else None


def validate_article_no(article_no: str) -> str | None:
    """Why ``article_no`` cannot be a Specter articleNo, or None when it can."""
    if not article_no:
        return "articleNo is empty"
    if len(article_no) > ARTICLE_NO_MAX:
        return f"articleNo {article_no!r} is longer than {ARTICLE_NO_MAX} characters"
    if ARTICLE_NO_FORBIDDEN.search(article_no):
        return f"articleNo {article_no!r} contains ';' or a control character (tab, line break, NUL, ...)"
    return None
