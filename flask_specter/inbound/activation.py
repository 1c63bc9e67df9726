"""Activate Automatic Stock Synchronization: register the callback URLs with checkAccountSettings;
"Uppdatera lager": a full stock refresh."""

from __future__ import annotations

from urllib.parse import quote

from ..remote import protocol
from ..remote.errors import SpecterConfigError
from ..remote.parsing import Reply
from ..state import get_state
from .pulls import request_pull

# Route (under SPECTER_URL_PREFIX) and the placeholders Specter substitutes, per callback parameter.
CALLBACK_ROUTES = {
    protocol.STOCK.callback_param: ("/callback/stock", ""),
    protocol.ARTICLES.callback_param: ("/get_specter_articles", ""),
    protocol.ORDERS.callback_param: ("/callback/orders", ""),
    protocol.CALLBACK_REMOVE_ORDER: ("/callback/order-removed", "&orderNo=$orderNo"),
    protocol.CALLBACK_NEW_INVOICE: ("/callback/invoice", "&orderId=$orderId&invoiceId=$invoiceId&invoiceSource=$invoiceSource"),
}


def callback_urls() -> dict[str, str]:
    """The five URLs Specter should call, each carrying the callback token."""
    config = get_state().config
    public = (config.get("SPECTER_PUBLIC_URL") or "").rstrip("/")
    token = config.get("SPECTER_CALLBACK_TOKEN") or ""
    if not public:
        raise SpecterConfigError("Set SPECTER_PUBLIC_URL to the shop's public address (what Specter calls)", settings=("SPECTER_PUBLIC_URL",))
    if len(token) < 16:
        raise SpecterConfigError("Set SPECTER_CALLBACK_TOKEN to a long random secret (at least 16 characters)", settings=("SPECTER_CALLBACK_TOKEN",))
    prefix = config["SPECTER_URL_PREFIX"].rstrip("/")
    return {param: f"{public}{prefix}{path}?token={quote(token, safe='')}{extra}" for param, (path, extra) in CALLBACK_ROUTES.items()}


def activate() -> Reply:
    """Register the callbacks; the reply's message is what Specter said, shown to the admin as is."""
    state = get_state()
    reply = state.client.check_account_settings(callback_urls())
    return reply


def sync_stock() -> bool:
    """"Uppdatera lager": ask Specter to queue every article's stock, then pull as usual."""
    get_state().client.clear_article_batch()
    return request_pull("stock")
