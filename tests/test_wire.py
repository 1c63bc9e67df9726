"""The mapper (``outbound/wire.py``): neutral records -> Specter's wire fields, exactly; and the
``SQLAlchemyShopAdapter`` records it is fed with, field maps included."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from flask_specter import ShopAdapter, SQLAlchemyShopAdapter
from flask_specter.outbound import wire
from flask_specter.remote.client import encode_params
from flask_specter.shop import Customer, Order, OrderLine, Product

CONFIG = {
    "SPECTER_SHIPPING_ARTICLE_NO": "frakt", "SPECTER_DISCOUNT_ARTICLE_NO": "rabatt", "SPECTER_CURRENCY": "SEK", "SPECTER_LANGUAGE": "SE",
    "SPECTER_SHIPPING_ROW_NAME": "Frakt", "SPECTER_DISCOUNT_ROW_NAME": "Rabatt",
}


def test_article_fields_with_latin1_text_and_the_one_time_stock():
    product = Product(
        sku="KAFFE-Ö1", name="Kaffe Mörk «Él»", price_excl_vat=Decimal("89"), vat_percent=Decimal("12"),
        buy_price=Decimal("40.5"), weight=Decimal("0.5"), barcode="7310000000001", stock=7,
    )
    assert wire.article_fields(product) == {
        "articleNo": "KAFFE-Ö1", "name": "Kaffe Mörk «Él»", "priceExclVAT": "89.00", "vatPercent": "12.00",
        "buyPrice": "40.50", "productWeight": "0.500", "barCode": "7310000000001",
    }
    assert wire.article_fields(product, with_stock=True) == {**wire.article_fields(product), "createArticleStock": 1, "noItemsInStock": 7}
    # Optional fields that are unknown are not sent at all; the latin-1 text is encoded as latin-1.
    bare = wire.article_fields(Product(sku="TE-1", name="Te Å"))
    assert bare == {"articleNo": "TE-1", "name": "Te Å", "priceExclVAT": "0.00", "vatPercent": "25.00"}
    assert encode_params(bare, action="newArticleSubmit") == "articleNo=TE-1&name=Te+%C5&priceExclVAT=0.00&vatPercent=25.00"


def test_customer_fields_for_a_company_and_a_private_person():
    firm = Customer(ref="2", email=" inkop@arlig.se ", first_name="Örjan", last_name="Ek", company="  Ärlig Handel AB ", org_no="556677-8899", mobile="073", country="no")
    assert firm.is_company
    assert wire.customer_fields(firm) == {
        "customerOrganizationalForm": "C", "firstName": "Örjan", "surName": "Ek", "contactPerson": "Örjan Ek",
        "emailAddress": "inkop@arlig.se", "mobileNo": "073", "orgNo": "556677-8899", "countryCode": "NO",
        "name": "Ärlig Handel AB", "invoiceCompanyName": "Ärlig Handel AB",
    }
    person = Customer(ref="1", email="asa@example.se", first_name=" Åsa", last_name="Öberg ", address="Byvägen 3", zip="123 45", city="Västerås")
    assert not person.is_company
    assert wire.customer_fields(person) == {
        "customerOrganizationalForm": "P", "firstName": "Åsa", "surName": "Öberg", "contactPerson": "Åsa Öberg",
        "emailAddress": "asa@example.se", "address": "Byvägen 3", "zipCodeEng": "123 45", "city": "Västerås", "countryCode": "SE",
    }


def test_order_header_and_rows_with_shipping_discount_and_pay_type():
    order = Order(
        ref="1", number="WEB-000001", customer_ref="1", payment_method="Klarna", payment_reference="kl-1", shipping_method="PostNord",
        shipping_price_excl_vat=Decimal("49"), discount_excl_vat=Decimal("20"), comment="Lämna vid dörren",
        lines=(OrderLine("KAFFE-1", 2, Decimal("89"), Decimal("12.5"), "Kaffe Mörk"), OrderLine("KAFFE-1", 1, Decimal("89"), Decimal("12")), OrderLine("TE-1", 3)),
    )
    assert wire.order_header(order, CONFIG, ShopAdapter.pay_types, customer_no="1001", send_order_mail=True) == {
        "externalOrderNo": "WEB-000001", "customerOrderReference": "WEB-000001", "currency": "SEK", "language": "SE",
        "payTypeIdentifier": "K", "payTypeReference": "kl-1", "externalDeliveryMethod": "PostNord", "publishedComment": "Lämna vid dörren",
        "customerId": "1001", "sendOrderMail": 1,
    }
    assert wire.order_rows(order, CONFIG) == [
        {"articleNo": "KAFFE-1", "articleName": "Kaffe Mörk", "priceExclVAT": "89.000", "noOfItems": 2, "vatPercent": 12},
        {"articleNo": "KAFFE-1", "articleName": "KAFFE-1", "priceExclVAT": "89.000", "noOfItems": 1, "vatPercent": 12},
        {"articleNo": "TE-1", "articleName": "TE-1", "priceExclVAT": "0.000", "noOfItems": 3, "vatPercent": 25},
        {"articleNo": "frakt", "articleName": "PostNord", "priceExclVAT": "49.000", "noOfItems": 1, "vatPercent": 25},
        {"articleNo": "rabatt", "articleName": "Rabatt", "priceExclVAT": "-20.000", "noOfItems": 1, "vatPercent": 25},
    ]
    assert order.quantities() == [("KAFFE-1", 3), ("TE-1", 3)]
    # An unknown payment method, no currency, no shipping or discount: nothing empty is sent.
    plain = Order(ref="2", number="N2", customer_ref=None, currency="EUR", payment_method="bitcoin", shipping_price_excl_vat=Decimal("0"))
    assert wire.order_header(plain, CONFIG, {"bitcoin": "BTC"}) == {"externalOrderNo": "N2", "customerOrderReference": "N2", "currency": "EUR", "language": "SE", "payTypeIdentifier": "BTC"}
    assert wire.order_header(plain, CONFIG, ShopAdapter.pay_types) == {"externalOrderNo": "N2", "customerOrderReference": "N2", "currency": "EUR", "language": "SE"}
    assert wire.order_rows(plain, CONFIG) == []


def test_the_row_names_and_the_discounts_vat_rate_are_the_shops_choice():
    """A food shop's discount carries 12 % (the adapter's ``discount_vat_percent``); the rows' names are settings."""
    order = Order(ref="3", number="N3", customer_ref="1", shipping_price_excl_vat=Decimal("39"), discount_excl_vat=Decimal("10"), discount_vat_percent=Decimal("12"))
    names = {**CONFIG, "SPECTER_SHIPPING_ROW_NAME": "Leverans", "SPECTER_DISCOUNT_ROW_NAME": "Kampanj"}
    assert wire.order_rows(order, names) == [
        {"articleNo": "frakt", "articleName": "Leverans", "priceExclVAT": "39.000", "noOfItems": 1, "vatPercent": 25},
        {"articleNo": "rabatt", "articleName": "Kampanj", "priceExclVAT": "-10.000", "noOfItems": 1, "vatPercent": 12},
    ]


def test_a_single_word_name_is_the_contact_person_once():
    cher = Customer(ref="1", email="cher@example.se", first_name="Cher", last_name="Cher")
    assert wire.customer_fields(cher)["contactPerson"] == "Cher"


def test_sqlalchemy_adapter_records_follow_its_field_maps():
    """The constructor's field maps and pay types work as before: renamed attributes, missing ones."""
    adapter = SQLAlchemyShopAdapter(
        None, product_model=SimpleNamespace,
        product_fields={"sku": "art", "name": "title", "price_excl_vat": "price", "barcode": "ean"},
        customer_fields={"email": "mail", "company": "firm"},
        order_fields={"number": "ordno", "lines": "items", "payment_method": "pay"},
        line_fields={"sku": "code", "qty": "count"}, pay_types={"bank": "BG"},
    )
    assert adapter.product_fields["sku"] == "art" and adapter.product_fields["stock"] == "stock"
    assert isinstance(adapter, ShopAdapter)
    product = SimpleNamespace(art="X-1", title="Räka", price=89.5, vat_percent=25, buy_price=3, ean=123, weight=1.25, stock="4")
    assert adapter.product_record(product) == Product(
        sku="X-1", name="Räka", price_excl_vat=Decimal("89.5"), vat_percent=Decimal("25"), buy_price=Decimal("3"), weight=Decimal("1.25"), barcode="123", stock=4,
    )
    assert wire.article_fields(SQLAlchemyShopAdapter(None, product_model=SimpleNamespace).product_record(SimpleNamespace(sku="MIN"))) == {
        "articleNo": "MIN", "name": "", "priceExclVAT": "0.00", "vatPercent": "25.00",  # a model without the optional fields
    }
    assert adapter.product_attribute("sku") == "art" and adapter.product_attribute("nonsense") is None

    customer = SimpleNamespace(id=7, mail="k@firma.se", firm="Firma Å AB", first_name=None, specter_customer_no=1001)
    record = adapter.customer_record(customer)
    assert (record.ref, record.email, record.company, record.first_name, record.is_company) == ("7", "k@firma.se", "Firma Å AB", "", True)
    assert adapter.customer_specter_no(customer) == "1001"

    lines = [SimpleNamespace(code="A", count="2", name=None, price_excl_vat=Decimal("10"), vat_percent=Decimal("25")), SimpleNamespace(code="A", count=1)]
    order = SimpleNamespace(id=3, ordno=44, customer_id=7, items=lines, pay="Bank", currency=None, shipping_price_excl_vat=12.5, discount_excl_vat=None, specter_order_no=None)
    rec = adapter.order_record(order)
    assert (rec.ref, rec.number, rec.customer_ref, rec.currency, rec.quantities()) == ("3", "44", "7", None, [("A", 3)])
    assert wire.order_header(rec, CONFIG, adapter.pay_types)["payTypeIdentifier"] == "BG"
    assert [r["articleNo"] for r in wire.order_rows(rec, CONFIG)] == ["A", "A", "frakt"]
    assert adapter.order_number(order) == "44" and adapter.order_specter_no(order) is None
