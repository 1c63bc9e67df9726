"""Prices the shop stores including VAT (moms), and Specter's figures excluding it.

Specter takes and reports prices excluding VAT (specter-protocol.md §1.5): 2 decimals on articles, 3 on
order rows. A shop that keeps its prices including VAT says so with ``prices_include_vat``; the adapter
then divides by (1 + rate) on the way out and multiplies on the way back (the article import), each
time rounded half up (öresavrundning as Swedish VAT rules round: 0.005 goes up).

The way back keeps the shop's own price whenever it is one Specter's figure stands for: when the
shop's gross price gives exactly the net price Specter reports, it is not rewritten. A gross price is
computed only for a price changed in Specter (or a product created from Specter): the net price times
(1 + rate), rounded to öre.

Arithmetic alone (gross -> net -> gross, ``round_trip_keeps``) is exact for every price on order rows
(3 decimals: the error, at most 0.0005 times 1.25, stays under half an öre). On articles (2 decimals)
it is exact at 25 % for every whole krona, .50 and .90 price, at 12 % for every whole krona, but not
always: 99.02 at 25 % is 79.22 net and 99.03 back, 199.90 at 6 % is 188.58 net and 199.89 back (of all
öre prices up to 1,000 kr: 20 % at 25 %, 11 % at 12 %, 6 % at 6 %). Such a price survives the import all
the same, by the rule above; it changes only when Specter's price does.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from ..remote.errors import SpecterConfigError

# The prices ``prices_include_vat`` can name: "<map>.<field>" of the adapter's field maps.
GROSS_FIELDS = (
    "product.price_excl_vat",  # the product's (or variant's own) price
    "parent.price_excl_vat",  # a variant's parent's price (``parent_fields``)
    "line.price_excl_vat",  # an order line's unit price (and the rows ``line_rows`` gives)
    "order.shipping_price_excl_vat",
    "order.discount_excl_vat",
)
ARTICLE_PLACES = 2  # newArticleSubmit's priceExclVAT
ROW_PLACES = 3  # newOrderSubmit's priceExclVAT_n
SHOP_PLACES = 2  # the shop's own prices: kronor and öre
DISCOUNT_VAT_PERCENT = 25  # the discount row's VAT rate (a discount including VAT is taken as including 25 %)


def gross_fields(option: bool | Iterable[str] | None) -> frozenset[str]:
    """The ``prices_include_vat`` option -> the names of the prices that include VAT.

    True: all of ``GROSS_FIELDS``; False or None: none; an iterable: those names (an unknown one
    raises ``SpecterConfigError``)."""
    if option is None or option is False:
        return frozenset()
    if option is True:
        return frozenset(GROSS_FIELDS)
    if isinstance(option, str):
        option = (option,)
    names = frozenset(option)
    unknown = sorted(names - set(GROSS_FIELDS))
    if unknown:
        raise SpecterConfigError(
            f"SQLAlchemyShopAdapter: prices_include_vat names prices it does not know: {unknown} (known: {', '.join(GROSS_FIELDS)})"
        )
    return names


def _places(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def net_price(gross: Decimal, vat_percent: Decimal, places: int = ARTICLE_PLACES) -> Decimal:
    """The price excluding VAT of ``gross`` at ``vat_percent``, rounded half up to ``places`` decimals."""
    return (Decimal(gross) * 100 / (100 + Decimal(vat_percent))).quantize(_places(places), rounding=ROUND_HALF_UP)


def gross_price(net: Decimal, vat_percent: Decimal, places: int = SHOP_PLACES) -> Decimal:
    """The price including VAT of ``net`` at ``vat_percent``, rounded half up to ``places`` decimals."""
    return (Decimal(net) * (100 + Decimal(vat_percent)) / 100).quantize(_places(places), rounding=ROUND_HALF_UP)


def gross_from_specter(net: Decimal, vat_percent: Decimal, current: Decimal | None) -> Decimal:
    """The gross price the article import writes for Specter's ``net`` price: the shop's ``current``
    price when that is the one ``net`` stands for, else ``net`` with VAT, rounded to öre."""
    if current is not None and net_price(current, vat_percent, ARTICLE_PLACES) == Decimal(net):
        return Decimal(current)
    return gross_price(net, vat_percent)


def round_trip_keeps(gross: Decimal, vat_percent: Decimal, places: int = ARTICLE_PLACES) -> bool:
    """Whether ``gross`` -> net (``places`` decimals) -> gross gives ``gross`` back. When it does not
    (99.02 at 25 % on an article: 79.22 excl. VAT, 99.03 with it), the import still keeps the shop's
    price as long as Specter reports the net price it was sent (``gross_from_specter``)."""
    return gross_price(net_price(gross, vat_percent, places), vat_percent) == Decimal(gross)


__all__ = [
    "GROSS_FIELDS", "ARTICLE_PLACES", "ROW_PLACES", "SHOP_PLACES", "DISCOUNT_VAT_PERCENT", "gross_fields", "net_price", "gross_price",
    "gross_from_specter", "round_trip_keeps",
]
