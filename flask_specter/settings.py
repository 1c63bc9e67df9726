"""The admin toggles of "Inställningar & Design > Specter", stored in the database with documented defaults.

Read them through the extension: ``specter.settings.get("delete_in_specter")`` or ``specter.settings.all()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select

from .i18n import N_
from .models import SettingRow


@dataclass(frozen=True)
class Toggle:
    key: str
    label: str  # the Swedish label shop owners know from the peer plugins (a msgid: shown as ``_(label)``)
    default: bool
    help: str
    group: str


TOGGLES: tuple[Toggle, ...] = (
    Toggle("stock_sync", N_("Lagersynk från Specter"), True, N_("Specters lagerändringar förs över till butiken."), N_("Lager")),
    Toggle("product_sync", N_("Produktsynk till Specter"), True, N_("Nya och ändrade produkter skickas till Specter direkt."), N_("Produkter")),
    Toggle(
        "import_products",
        N_("Importera produkter från Specter"),
        False,
        N_("Artikeldata från Specter (namn, pris, EAN, vikt) förs över till butiken; produkter som finns i Specter men saknas i butiken skapas."),
        N_("Produkter"),
    ),
    Toggle("import_price_only", N_("Importera endast pris"), False, N_("Vid import ändras bara priset på befintliga produkter."), N_("Produkter")),
    Toggle(
        "article_group_creates_category",
        N_("Ska artikelgrupp skapa kategori"),
        False,
        N_("En butikskategori skapas för varje artikelgrupp i Specter; annars hamnar nya produkter i toppkategorin."),
        N_("Produkter"),
    ),
    Toggle(
        "article_group_category_active",
        N_("Om artikelgruppskategori ska sättas som aktiv eller inaktiv"),
        True,
        N_("På: kategorier från artikelgrupper syns i butiken; Av: de är dolda (syns bara i admin)."),
        N_("Produkter"),
    ),
    Toggle(
        "move_product_to_group_category",
        N_("Flytta produkten till artikelgruppskategorin vid uppdatering"),
        False,
        N_("Befintliga produkter flyttas till kategorin som skapats från deras artikelgrupp."),
        N_("Produkter"),
    ),
    Toggle(
        "delete_in_specter",
        N_("Radera från Specter"),
        True,
        N_("En produkt som raderas i butiken raderas också i Specter; Av raderar den bara i butiken."),
        N_("Produkter"),
    ),
    Toggle("delete_orders", N_("Radera order"), False, N_("En order som raderas i butiken raderas också i Specter."), N_("Ordrar")),
    Toggle(
        "send_order_mail",
        N_("Skicka orderbekräftelse från Specter"),
        False,
        N_("Specter e-postar orderbekräftelsen; butiken skickar då ingen egen."),
        N_("Ordrar"),
    ),
    Toggle(
        "ignore_org_no_check",
        N_("Ignorera kontroll av person-/orgnr"),
        False,
        N_("Specter matchar inte kunder på person- eller organisationsnummer. Ändra bara om du vet vad det innebär."),
        N_("Kunder"),
    ),
    Toggle(
        "ignore_email_check",
        N_("Ignorera kontroll av e-postadress"),
        False,
        N_("Specter matchar inte kunder på e-postadress. Ändra bara om du vet vad det innebär."),
        N_("Kunder"),
    ),
)

BY_KEY: dict[str, Toggle] = {t.key: t for t in TOGGLES}

SNAPSHOT_SECONDS = 1.0  # how old the toggles a drain reads may be (``SettingsStore.snapshot``)


def _to_bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def stored_toggle(key: str, stored: str | None) -> bool:
    """A toggle's value from its stored text (None: never set, the default)."""
    toggle = BY_KEY.get(key)
    if toggle is None:
        raise KeyError(f"unknown Specter setting {key!r}")
    return toggle.default if stored is None else _to_bool(stored)


class SettingsStore:
    """Reads and writes the toggles through the host's session; unknown keys are an error, not a silent miss."""

    def __init__(self, db: SQLAlchemy) -> None:
        self._db = db
        self._local = threading.local()  # this thread's snapshot: max_age, and (generation, read at, values)
        self._generation = 0  # bumped by every ``set`` in this process: its snapshots are read again

    @contextmanager
    def snapshot(self, max_age: float = SNAPSHOT_SECONDS) -> Iterator[None]:
        """Within it, this thread's ``get`` answers from one read of every toggle, read again once it is
        older than ``max_age`` seconds: for a loop that asks for a few toggles per row (the outbox drain
        sent one SELECT per toggle per row).

        The bound: a change made by another process (the admin, ``flask specter settings``) is seen by
        the rows begun at most ``max_age`` seconds after its commit; a ``set`` in this process is seen at
        once. Nested snapshots keep the smaller ``max_age``; outside one, ``get`` reads the database.
        """
        local = self._local
        outer: float | None = getattr(local, "max_age", None)
        local.max_age = max_age if outer is None else min(outer, max_age)
        try:
            yield
        finally:
            local.max_age = outer
            if outer is None:
                local.cached = None

    def _snapshot_value(self, key: str, max_age: float) -> bool:
        now = time.monotonic()
        cached: tuple[int, float, dict[str, bool]] | None = getattr(self._local, "cached", None)
        if cached is None or cached[0] != self._generation or now - cached[1] > max_age:
            generation = self._generation
            cached = (generation, now, self.all())
            self._local.cached = cached
        return cached[2][key]

    def all(self) -> dict[str, bool]:
        values = {t.key: t.default for t in TOGGLES}
        for row in self._db.session.execute(select(SettingRow)).scalars():
            if row.key in values:
                values[row.key] = _to_bool(row.value)
        return values

    def get(self, key: str) -> bool:
        if key not in BY_KEY:
            raise KeyError(f"unknown Specter setting {key!r}")
        max_age: float | None = getattr(self._local, "max_age", None)
        if max_age is not None:
            return self._snapshot_value(key, max_age)
        row = self._db.session.get(SettingRow, key)
        return stored_toggle(key, None if row is None else row.value)

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
        self._generation += 1  # after the commit: a snapshot read before it is read again

    def update(self, values: dict[str, bool]) -> None:
        for key, value in values.items():
            self.set(key, value, commit=False)
        self._db.session.commit()
        self._generation += 1
