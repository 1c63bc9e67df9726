"""Specter's answers and failures in words a shop admin can act on (the admin flashes these)."""

from __future__ import annotations

import logging

from ..errors import (
    SpecterApiError,
    SpecterAuthError,
    SpecterConfigError,
    SpecterEncodingError,
    SpecterError,
    SpecterProtocolError,
    SpecterTimeout,
    SpecterTransportError,
)

log = logging.getLogger("flask_specter.admin")

STATE_LABELS = {
    "pending": "Väntar",
    "sending": "Skickas",
    "sent": "Överförd",
    "failed": "Misslyckades",
}

STOCK_STATE_LABELS = {
    "pending": "Väntar",
    "applied": "Uppdaterad",
    "unknown": "Okänd artikel",
    "superseded": "Ersatt av nyare",
}


def explain(exc: BaseException, *, doing: str) -> str:
    """One sentence saying what went wrong while ``doing`` something, and what to check next."""
    detail = str(exc)
    if isinstance(exc, SpecterAuthError):
        return (
            f"{doing} misslyckades: Specter godkände inte inloggningsuppgifterna. Kontrollera SBM-id, "
            f"API-användare, användarnyckel och integrationsnyckel. (Specter: {detail})"
        )
    if isinstance(exc, SpecterTimeout):
        return f"{doing} misslyckades: Specter svarade inte i tid. Försök igen om en stund. ({detail})"
    if isinstance(exc, SpecterTransportError):
        return (
            f"{doing} misslyckades: det gick inte att nå Specter. Kontrollera API-adressen och nätverket, "
            f"och försök igen om en stund. ({detail})"
        )
    if isinstance(exc, SpecterConfigError):
        return f"{doing} misslyckades: kopplingen är inte färdigkonfigurerad. {detail}"
    if isinstance(exc, SpecterEncodingError):
        return f"{doing} misslyckades: ett värde kan inte skickas till Specter (endast ISO-8859-1). {detail}"
    if isinstance(exc, SpecterProtocolError):
        return f"{doing} misslyckades: Specters svar gick inte att tolka, inget ändrades. ({detail})"
    if isinstance(exc, SpecterApiError):
        return f"{doing} misslyckades: Specter svarade med ett fel. ({detail})"
    if isinstance(exc, SpecterError):
        return f"{doing} misslyckades: {detail}"
    log.exception("%s failed", doing)
    return f"{doing} misslyckades på grund av ett oväntat fel ({type(exc).__name__}); se serverloggen."
