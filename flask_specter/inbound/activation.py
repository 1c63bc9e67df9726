"""Activate Automatic Stock Synchronization: register the callback URLs with checkAccountSettings;
"Uppdatera lager": a full stock refresh."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from ..models import SettingRow, utcnow
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


REGISTERED_KEY = "registered_callbacks"  # SettingRow: fingerprint of the URLs last registered with Specter


def fingerprint(urls: dict[str, str]) -> str:
    return hashlib.sha256("\n".join(f"{k}={v}" for k, v in sorted(urls.items())).encode("utf-8")).hexdigest()


def remember_registration(urls: dict[str, str]) -> None:
    """After Specter accepted ``checkAccountSettings``: a fingerprint of the URLs (never the token itself).

    Specter's API cannot read the registered URLs back; "Testa anslutningen" compares against this.
    """
    session = get_state().db.session
    row = session.get(SettingRow, REGISTERED_KEY)
    if row is None:
        session.add(SettingRow(key=REGISTERED_KEY, value=fingerprint(urls), updated_at=utcnow()))
    else:
        row.value = fingerprint(urls)
        row.updated_at = utcnow()
    session.commit()


def activate() -> Reply:
    """Register the callbacks; the reply's message is what Specter said, shown to the admin as is."""
    state = get_state()
    urls = callback_urls()
    reply = state.client.check_account_settings(urls)
    remember_registration(urls)  # "Testa anslutningen" compares against it: Specter cannot be asked
    return reply


def sync_stock() -> bool:
    """"Uppdatera lager": ask Specter to queue every article's stock, then pull as usual."""
    get_state().client.clear_article_batch()
    return request_pull("stock")
