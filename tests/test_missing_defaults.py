"""The one warning at ``init_app`` lists the default fields a model lacks, and only those: a variant's field
its parent gives, or a first and last name split from one ``name`` field, is not missing."""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flask_specter import SQLAlchemyShopAdapter


class Base(DeclarativeBase):
    pass


class Style(Base):
    __tablename__ = "md_style"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    published: Mapped[bool]


class Variant(Base):
    __tablename__ = "md_variant"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(50))
    stock: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(100))
    price_excl_vat: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    style_id: Mapped[int] = mapped_column(ForeignKey("md_style.id"))
    style: Mapped[Style] = relationship()


class Buyer(Base):
    __tablename__ = "md_buyer"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(200))


def listed(caplog, **options) -> str:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flask_specter"):
        SQLAlchemyShopAdapter(None, product_model=Variant, customer_model=Buyer, **options).validate()
    [record] = [r for r in caplog.records if "default fields" in r.getMessage()]
    return record.getMessage()


def test_a_variants_field_its_parent_gives_is_not_listed(caplog):
    parent_fields = {"name": "title", "vat_percent": "vat_rate", "active": "published"}
    message = listed(caplog, parent="style", parent_fields=parent_fields)
    assert "product_fields['buy_price']" in message and "product_fields['weight']" in message  # neither has one
    assert "vat_percent" not in message and "product_fields['active']" not in message
    message = listed(caplog, parent="style_id", parent_fields={"vat_percent": "vat_rate"})  # a foreign-key id parent
    assert "vat_percent" not in message and "product_fields['active']" in message  # Style.active: no such attribute
    assert "vat_percent" in listed(caplog)  # no parent: the variant's own VAT rate reads empty (25 %)


def test_first_and_last_name_split_from_one_name_field_are_not_listed(caplog):
    message = listed(caplog, customer_fields={"name": "full_name"})
    assert "first_name" not in message and "last_name" not in message and "customer_fields['company']" in message
    assert "customer_fields['first_name']" in listed(caplog)
