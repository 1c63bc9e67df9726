"""The admin toggles of "Inställningar & Design > Specter", stored in the database with documented defaults.

Read them through the extension: ``specter.settings.get("delete_in_specter")`` or ``specter.settings.all()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select

from .models import SettingRow


@dataclass(frozen=True)
class Toggle:
    key: str
    label: str  # the Swedish label shop owners know from the seeds and the peer plugins
    default: bool
    help: str
    group: str


TOGGLES: tuple[Toggle, ...] = (
    Toggle("stock_sync", "Lagersynk från Specter", True, "Apply Specter's stock changes to the shop.", "Lager"),
    Toggle("product_sync", "Produktsynk till Specter", True, "Send new and changed products to Specter in real time.", "Produkter"),
    Toggle("import_products", "Importera produkter från Specter", False, "Apply article data (name, price, EAN, weight) from Specter to the shop; create products Specter has and the shop lacks.", "Produkter"),
    Toggle("import_price_only", "Importera endast pris", False, "When importing, change only the price of existing products.", "Produkter"),
    Toggle("article_group_creates_category", "Ska artikelgrupp skapa kategori", False, "Create a shop category per Specter article group; otherwise new products go to the top category.", "Produkter"),
    Toggle("article_group_category_active", "Om artikelgruppskategori ska sättas som aktiv eller inaktiv", True, "True: categories made from article groups are visible in the shop; false: hidden (admin only).", "Produkter"),
    Toggle("move_product_to_group_category", "Flytta produkten till artikelgruppskategorin vid uppdatering", False, "Move existing products to the category made from their article group.", "Produkter"),
    Toggle("delete_in_specter", "Radera från Specter", True, "Deleting a product in the shop deletes it in Specter too; false deletes it only in the shop.", "Produkter"),
    Toggle("delete_orders", "Radera order", False, "Deleting an order in the shop deletes it in Specter too.", "Ordrar"),
    Toggle("send_order_mail", "Skicka orderbekräftelse från SBM", False, "Specter e-mails the order confirmation; the shop then sends none of its own.", "Ordrar"),
    Toggle("ignore_org_no_check", "Ignorera kontroll av person-/orgnr", False, "Tell Specter not to match customers by personal or organisation number. Change only if you know what it means.", "Kunder"),
    Toggle("ignore_email_check", "Ignorera kontroll av e-postadress", False, "Tell Specter not to match customers by e-mail address. Change only if you know what it means.", "Kunder"),
)

BY_KEY: dict[str, Toggle] = {t.key: t for t in TOGGLES}


def _to_bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


class SettingsStore:
    """Reads and writes the toggles through the host's session; unknown keys are an error, not a silent miss."""

    def __init__(self, db: SQLAlchemy) -> None:
        self._db = db

    def all(self) -> dict[str, bool]:
        values = {t.key: t.default for t in TOGGLES}
        for row in self._db.session.execute(select(SettingRow)).scalars():
            if row.key in values:
                values[row.key] = _to_bool(row.value)
        return values

    def get(self, key: str) -> bool:
        toggle = BY_KEY.get(key)
        if toggle is None:
            raise KeyError(f"unknown Specter setting {key!r}")
        row = self._db.session.get(SettingRow, key)
        return toggle.default if row is None else _to_bool(row.value)

    def set(self, key: str, value: bool, *, commit: bool = True) -> None:
        if key not in BY_KEY:
            raise KeyError(f"unknown Specter setting {key!r}")
        row = self._db.session.get(SettingRow, key)
        if row is None:
            self._db.session.add(SettingRow(key=key, value="true" if value else "false"))
        else:
            row.value = "true" if value else "false"
        if commit:
            self._db.session.commit()

    def update(self, values: dict[str, bool]) -> None:
        for key, value in values.items():
            self.set(key, value, commit=False)
        self._db.session.commit()
