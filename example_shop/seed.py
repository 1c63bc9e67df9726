"""Demo data (``flask --app example_shop seed``): the same list seeds the shop and the sandbox Specter."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from .models import Category, Customer, Product, db

CATEGORIES = ("Kläder", "Kök & Servering", "Hem & Inredning")

# sku, name, price excl. VAT, VAT %, stock, category, parent sku
PRODUCTS: tuple[tuple[str, str, str, str, int, str, str | None], ...] = (
    ("TSHIRT", "T-shirt Ekologisk bomull", "159.20", "25", 0, "Kläder", None),
    ("TSHIRT-S", "T-shirt Ekologisk bomull S", "159.20", "25", 12, "Kläder", "TSHIRT"),
    ("TSHIRT-M", "T-shirt Ekologisk bomull M", "159.20", "25", 20, "Kläder", "TSHIRT"),
    ("TSHIRT-L", "T-shirt Ekologisk bomull L", "159.20", "25", 3, "Kläder", "TSHIRT"),
    ("MOSSA-ULL", "Mössa Stickad ull", "199.20", "25", 15, "Kläder", None),
    ("KOPP-ASA", "Kaffekopp Åsa", "79.20", "25", 40, "Kök & Servering", None),
    ("TEKANNA-BJORK", "Tekanna Björk", "279.20", "25", 6, "Kök & Servering", None),
    ("SKARBRADA-EK", "Skärbräda Ek", "239.20", "25", 10, "Kök & Servering", None),
    ("KAFFE-500", "Kaffe Mörkrost 500 g", "80.36", "12", 50, "Kök & Servering", None),
    ("LJUSSTAKE-MASS", "Ljusstake Mässing", "319.20", "25", 8, "Hem & Inredning", None),
    ("PLAD-ULL", "Pläd Ull Grå", "639.20", "25", 4, "Hem & Inredning", None),
    ("HANDDUK-LIN", "Kökshandduk Linne", "95.20", "25", 25, "Hem & Inredning", None),
)

CUSTOMERS = (
    {
        "email": "asa.oberg@example.se",
        "first_name": "Åsa",
        "last_name": "Öberg",
        "phone": "070-123 45 67",
        "address": "Storgatan 1",
        "zip": "111 22",
        "city": "Stockholm",
        "country": "SE",
    },
    {
        "email": "inkop@arlighandel.example.se",
        "first_name": "Örjan",
        "last_name": "Ärlig",
        "company": "Ärlig Handel AB",
        "org_no": "556677-8899",
        "phone": "031-12 34 56",
        "address": "Hamngatan 7",
        "zip": "411 14",
        "city": "Göteborg",
        "country": "SE",
    },
)


def sandbox_articles() -> list[dict]:
    """The seed products as the sandbox's ``POST /_sandbox/articles`` wants them."""
    return [
        {"articleNo": sku, "name": name, "priceExclVat": price, "vatPercent": vat, "inStock": stock}
        for sku, name, price, vat, stock, _category, _parent in PRODUCTS
    ]


def seed(*, only_if_empty: bool = True) -> dict[str, int]:
    """Add whatever of the demo data is missing; with ``only_if_empty`` nothing when products exist."""
    added = {"categories": 0, "products": 0, "customers": 0}
    if only_if_empty and db.session.execute(select(Product.id).limit(1)).first():
        return added
    categories = {c.name: c for c in db.session.execute(select(Category)).scalars()}
    for name in CATEGORIES:
        if name not in categories:
            categories[name] = Category(name=name, active=True)
            db.session.add(categories[name])
            added["categories"] += 1
    products = {p.sku: p for p in db.session.execute(select(Product)).scalars()}
    for sku, name, price, vat, stock, category, parent in PRODUCTS:
        if sku in products:
            continue
        product = Product(
            sku=sku,
            name=name,
            price_excl_vat=Decimal(price),
            vat_percent=Decimal(vat),
            stock=stock,
            active=True,
            category=categories[category],
            parent=products.get(parent) if parent else None,
            description=f"{name} – ett exempel ur demobutikens sortiment.",
        )
        db.session.add(product)
        products[sku] = product
        added["products"] += 1
    for data in CUSTOMERS:
        if db.session.execute(select(Customer.id).where(Customer.email == data["email"])).first() is None:
            db.session.add(Customer(**data))
            added["customers"] += 1
    db.session.commit()
    return added
