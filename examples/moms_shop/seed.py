"""The shop's starting catalogue: coffee and tea (12 % moms), mugs in two colours (25 %), and a kit."""

from __future__ import annotations

from decimal import Decimal

from .models import KitItem, Product, Variant, db


def seed() -> None:
    """Add the catalogue (in an app context); the stock figures are the shop's first count."""
    coffee = Product(name="Kaffe Mörkrost 500 g", price=Decimal("89.00"), vat_rate=Decimal("12"))
    tea = Product(name="Te Earl Grey 100 g", price=Decimal("65.00"), vat_rate=Decimal("12"))
    mug = Product(name="Mugg Åsa", price=Decimal("149.00"), vat_rate=Decimal("25"))
    kit = Product(name="Fikapaket", price=Decimal("349.00"), vat_rate=Decimal("25"), is_kit=True,
                  description="Kaffe och två muggar i presentask.")
    db.session.add_all([coffee, tea, mug, kit])
    db.session.flush()
    variants = {
        "KAFFE-MORK": Variant(product_id=coffee.id, sku="KAFFE-MORK", stock=40),
        "TE-EARL": Variant(product_id=tea.id, sku="TE-EARL", stock=30),
        "MUGG-ROD": Variant(product_id=mug.id, sku="MUGG-ROD", label="Röd", stock=25),
        "MUGG-BLA": Variant(product_id=mug.id, sku="MUGG-BLA", label="Blå", price=Decimal("169.00"), stock=20),
        "FIKAPAKET": Variant(product_id=kit.id, sku="FIKAPAKET", stock=0),
    }
    db.session.add_all(variants.values())
    db.session.flush()
    db.session.add_all([
        KitItem(kit_id=kit.id, component_id=variants["KAFFE-MORK"].id, qty=1),
        KitItem(kit_id=kit.id, component_id=variants["MUGG-ROD"].id, qty=2),
    ])
    db.session.commit()
