"""The service articles (shipping, discount) that every order may carry: made sure to exist in Specter.

They are articles in Specter but never products for sale in the shop: the article import skips them,
and the order exporter puts them on order rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, scoped_session

from .i18n import N_
from .models import ArticleRow, Link, StockLevel, upsert_link
from .state import get_state

SERVICE_LINK = "service_article"  # Link.kind: Specter confirmed the article (our create, or it was there)


@dataclass(frozen=True)
class ServiceArticle:
    """An article that only exists for order rows (shipping, discount), never a product for sale."""

    article_no: str
    label: str  # Swedish, for the admin (a msgid: shown as ``_(label)``)
    name: str  # the name it gets in Specter when we create it
    known: bool = False  # seen in Specter's feeds or confirmed by our own submit
    evidence: str = ""


def service_article_nos() -> dict[str, str]:
    """articleNo -> Swedish label, from ``SPECTER_SHIPPING_ARTICLE_NO`` and ``SPECTER_DISCOUNT_ARTICLE_NO``."""
    config = get_state().config
    nos: dict[str, str] = {}
    for key, label in (("SPECTER_SHIPPING_ARTICLE_NO", N_("Frakt")), ("SPECTER_DISCOUNT_ARTICLE_NO", N_("Rabatt"))):
        no = (config.get(key) or "").strip()
        if no:
            nos.setdefault(no, label)
    return nos


def service_articles() -> list[ServiceArticle]:
    """Each service article and whether Specter is known to have it.

    The contract has no call that reads one article, so "known" means Specter showed it to us: in its
    stock feed, in its article-data feed (not deleted), or by accepting our create for it.
    """
    session = get_state().db.session
    out = []
    for no, label in service_article_nos().items():
        evidence = _evidence(session, no)
        out.append(ServiceArticle(no, label, label, known=bool(evidence), evidence=evidence))
    return out


def _evidence(session: Session | scoped_session[Any], article_no: str) -> str:
    if session.execute(select(Link.id).where(Link.kind == SERVICE_LINK, Link.local_id == article_no)).first():
        return N_("bekräftad av Specter")
    if session.get(StockLevel, article_no) is not None:
        return N_("finns i Specters lagerflöde")
    data = session.execute(
        select(ArticleRow.data).where(ArticleRow.sku == article_no).order_by(ArticleRow.id.desc()).limit(1)
    ).scalar_one_or_none()
    if data is not None and not data.get("deleted"):
        return N_("finns i Specters artikelflöde")
    return ""


def create_service_articles(only_missing: bool = True) -> list[str]:
    """Create the service articles in Specter with ``newArticleSubmit`` WITHOUT ``forceArticleUpdate``.

    Without force Specter skips an article that exists, so this never changes one: it is safe when our
    knowledge is incomplete. Returns the article numbers sent; each is then recorded as confirmed.
    """
    state = get_state()
    wanted = [a for a in service_articles() if not (only_missing and a.known)]
    if not wanted:
        return []
    rows: list[Mapping[str, Any]] = [{"articleNo": a.article_no, "name": a.name, "priceExclVAT": "0.00", "vatPercent": "25.00"} for a in wanted]
    state.client.submit_articles(rows, force_update=False)  # an error reply raises: nothing is recorded
    session = state.db.session
    for article in wanted:
        upsert_link(session, SERVICE_LINK, article.article_no, article.article_no)
    session.commit()
    return [a.article_no for a in wanted]


def forget_service_article(article_no: str) -> None:
    """Specter removed a service article: it is no longer confirmed (the admin is offered to create it)."""
    session = get_state().db.session
    session.execute(delete(Link).where(Link.kind == SERVICE_LINK, Link.local_id == article_no))
