"""The admin toggles of "Inställningar & Design > Specter", stored in the database with documented defaults.

Read them through the extension: ``specter.settings.get("delete_in_specter")`` or ``specter.settings.all()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select

from .i18n import lazy_gettext as L
from .models import SettingRow


@dataclass(frozen=True)
class Toggle:
    key: str
    label: str  # the Swedish label shop owners know from the peer plugins (lazily translated for ``en``)
    default: bool
    help: str
    group: str


TOGGLES: tuple[Toggle, ...] = (
    Toggle("stock_sync", L("Lagersynk från Specter"), True, L("Specters lagerändringar förs över till butiken."), L("Lager")),
    Toggle("product_sync", L("Produktsynk till Specter"), True, L("Nya och ändrade produkter skickas till Specter direkt."), L("Produkter")),
    Toggle(
        "import_products",
        L("Importera produkter från Specter"),
        False,
        L("Artikeldata från Specter (namn, pris, EAN, vikt) förs över till butiken; produkter som finns i Specter men saknas i butiken skapas."),
        L("Produkter"),
    ),
    Toggle("import_price_only", L("Importera endast pris"), False, L("Vid import ändras bara priset på befintliga produkter."), L("Produkter")),
    Toggle(
        "article_group_creates_category",
        L("Ska artikelgrupp skapa kategori"),
        False,
        L("En butikskategori skapas för varje artikelgrupp i Specter; annars hamnar nya produkter i toppkategorin."),
        L("Produkter"),
    ),
    Toggle(
        "article_group_category_active",
        L("Om artikelgruppskategori ska sättas som aktiv eller inaktiv"),
        True,
        L("På: kategorier från artikelgrupper syns i butiken; Av: de är dolda (syns bara i admin)."),
        L("Produkter"),
    ),
    Toggle(
        "move_product_to_group_category",
        L("Flytta produkten till artikelgruppskategorin vid uppdatering"),
        False,
        L("Befintliga produkter flyttas till kategorin som skapats från deras artikelgrupp."),
        L("Produkter"),
    ),
    Toggle(
        "delete_in_specter",
        L("Radera från Specter"),
        True,
        L("En produkt som raderas i butiken raderas också i Specter; Av raderar den bara i butiken."),
        L("Produkter"),
    ),
    Toggle("delete_orders", L("Radera order"), False, L("En order som raderas i butiken raderas också i Specter."), L("Ordrar")),
    Toggle(
        "send_order_mail",
        L("Skicka orderbekräftelse från Specter"),
        False,
        L("Specter e-postar orderbekräftelsen; butiken skickar då ingen egen."),
        L("Ordrar"),
    ),
    Toggle(
        "ignore_org_no_check",
        L("Ignorera kontroll av person-/orgnr"),
        False,
        L("Specter matchar inte kunder på person- eller organisationsnummer. Ändra bara om du vet vad det innebär."),
        L("Kunder"),
    ),
    Toggle(
        "ignore_email_check",
        L("Ignorera kontroll av e-postadress"),
        False,
        L("Specter matchar inte kunder på e-postadress. Ändra bara om du vet vad det innebär."),
        L("Kunder"),
    ),
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
