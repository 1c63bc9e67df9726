"""Every failure and every "Överför order" / "Försök igen" outcome, in the Swedish the shop admin reads.

One place turns errors into sentences: ``explain(exc, context)``, chosen by the error's type (never
by words in its message, which are Specter's or a driver's and in English). The jobs (outbox, pulls,
exports), the admin and the CLI all call it, so an admin reads the same sentence for the same fault
wherever it shows. ``describe(result, context)`` does the same for a status value of a manual send.

This module imports only ``errors``: jobs and admin can both use it without an import cycle.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from .remote.errors import (
    ExplainedError,
    SpecterApiError,
    SpecterAuthError,
    SpecterConfigError,
    SpecterDuplicateOrderError,
    SpecterEncodingError,
    SpecterError,
    SpecterNoRowsError,
    SpecterOpenBatchError,
    SpecterProtocolError,
    SpecterTimeout,
    SpecterTransportError,
    SpecterUnknownArticleError,
    SpecterUnknownCustomerError,
    SpecterUnknownOrderError,
    SpecterValidationError,
)

TRANSFER_ORDER = "Överför order"
RETRY = "Försök igen"

# Why an order's row waits (its reason in the admin): the shop's readiness rule does not hold yet.
ORDER_NOT_READY = (
    "Väntar: ordern är inte klar att skickas (den har inga orderrader ännu, eller butikens villkor för en "
    "klar order, t.ex. betald, är inte uppfyllt). Den skickas automatiskt när ordern eller dess rader ändras."
)


@dataclass(frozen=True)
class Context:
    """Where a failure is shown: what the admin was doing, which button sends it again, who retries."""

    doing: str | None = None  # "Uppdatera lager" gives "Uppdatera lager misslyckades: ..."
    button: str | None = None  # the button to press once the cause is fixed
    retries_itself: bool = False  # a job tries again by itself (its caller says when): no "försök igen"


ORDER = Context(button=TRANSFER_ORDER, retries_itself=True)  # an order's push ("Överför order")
RECORD = Context(button=RETRY, retries_itself=True)  # a product's or customer's push ("Försök igen")
PULL = Context(retries_itself=True)  # a feed's pull, shown on the status page
EXPORT = Context(retries_itself=True)  # a first-installation export row or interruption


def action(doing: str) -> Context:
    """An admin pressed a button just now: nothing retries by itself."""
    return Context(doing=doing)


# Swedish meaning of the settings a SpecterConfigError can name.
SETTING_HINTS = {
    "SPECTER_API_URL": "Specters API-adress",
    "SPECTER_SBM_ID": "ert SBM-id hos Specter",
    "SPECTER_API_USER_ID": "API-användarens id",
    "SPECTER_USER_KEY": "API-användarens nyckel",
    "SPECTER_INTEGRATION_KEY": "integrationsnyckeln",
    "SPECTER_PUBLIC_URL": "butikens publika adress, den Specter anropar",
    "SPECTER_CALLBACK_TOKEN": "en lång slumpad hemlighet för återanropen, minst 16 tecken",
}


def explain(exc: BaseException, context: Context = Context()) -> str:
    """The sentence the admin reads for ``exc``, by its type; Specter's own words only where they help."""
    cause = _cause(exc, context)
    return f"{context.doing} misslyckades: {cause}" if context.doing else cause


def _next_step(context: Context) -> str:
    return f'klicka sedan på "{context.button}"' if context.button else "försök sedan igen"


def _later(context: Context) -> str:
    return "" if context.retries_itself else " Försök igen om en stund."


def _cause(exc: BaseException, context: Context) -> str:  # noqa: C901 - one flat table, most specific first
    if isinstance(exc, ExplainedError):
        return str(exc)
    if isinstance(exc, SpecterUnknownArticleError):
        return (
            f"Artikeln '{exc.article_no or '?'}' finns inte i Specter. Lägg upp artikeln i Specter (eller spara "
            f"produkten i butiken så att den skickas) och {_next_step(context)}."
        )
    if isinstance(exc, SpecterUnknownCustomerError):
        return f"Kunden finns inte i Specter. Spara kunden i butiken igen och {_next_step(context)}."
    if isinstance(exc, SpecterUnknownOrderError):
        return f"Ordern finns inte i Specter (Specter: {exc.specter_message})."
    if isinstance(exc, SpecterDuplicateOrderError):
        return f"Specter har redan den här ordern (Specters ordernummer {exc.order_no or '?'})."
    if isinstance(exc, SpecterOpenBatchError):
        which = f" ({exc.batch_no})" if exc.batch_no else ""
        return f"En tidigare batch{which} är fortfarande öppen i Specter; den hämtas och bekräftas först.{_later(context)}"
    if isinstance(exc, SpecterNoRowsError):
        return f"Specter tog inte emot ordern eftersom den saknar orderrader; den skickas igen när raderna finns.{_later(context)}"
    if isinstance(exc, SpecterValidationError):
        what = f"fältet '{exc.field}'" if exc.field else "uppgifterna"
        return f"Specter godtog inte {what}: {exc.specter_message}"
    if isinstance(exc, SpecterAuthError):
        return (
            "Specter nekade inloggningen: SBM-id, API-användare, användarnyckel eller integrationsnyckel "
            "stämmer inte. Kontrollera inställningarna för Specter."
        )
    if isinstance(exc, SpecterApiError):
        return f"Specter svarade med fel {exc.code}: {exc.specter_message}"
    if isinstance(exc, SpecterEncodingError):
        if exc.field:
            return f"Fältet '{exc.field}' innehåller tecken som Specter inte kan ta emot (bara ISO-8859-1, t.ex. å, ä, ö, é, går)."
        return "Ett värde eller Specters svar har tecken utanför ISO-8859-1 (den teckenkodning Specter använder); inget ändrades."
    if isinstance(exc, SpecterConfigError):
        return _config_sentence(exc)
    if isinstance(exc, SpecterTimeout):
        call = f" på anropet {exc.action}" if exc.action else ""
        return f"Specter svarade inte i tid{call}.{_later(context)}"
    if isinstance(exc, SpecterTransportError):
        advice = "" if context.retries_itself else " Kontrollera API-adressen och nätverket och försök igen om en stund."
        return f"Specter gick inte att nå (tillfälligt fel hos Specter eller i nätverket).{advice}"
    if isinstance(exc, SpecterProtocolError):
        return "Specter skickade ett svar som inte gick att tolka; inget ändrades."
    if isinstance(exc, SpecterError):
        return f"Fel i kopplingen till Specter ({type(exc).__name__}); se serverloggen."
    return _unexpected(exc)


def _config_sentence(exc: SpecterConfigError) -> str:
    if not exc.settings:
        return "Specter-kopplingen är inte inställd. Kontrollera inställningarna för Specter (API-adress, SBM-id, API-användare och nycklar)."
    named = "; ".join(f"{key} ({SETTING_HINTS[key]})" if key in SETTING_HINTS else key for key in exc.settings)
    return f"Specter-kopplingen är inte inställd: ange {named}."


def _unexpected(exc: BaseException) -> str:
    """A database error says its kind and the driver's first line (never the statement or its
    parameters); anything else only its kind: the traceback is in the server log."""
    orig = getattr(exc, "orig", None)
    if isinstance(exc, DBAPIError) and orig is not None:
        lines = str(orig).strip().splitlines()
        first = lines[0][:300] if lines else ""
        return f"Oväntat fel i databasen ({type(orig).__name__}): {first}"
    return f"Oväntat fel ({type(exc).__name__}); se serverloggen."


# -- "Överför order" and "Försök igen": status values in words -----------------------------------------


class SendState(enum.StrEnum):
    """What a manual send ("Överför order", "Försök igen") achieved."""

    SENT = "sent"  # sent now
    ALREADY_SENT = "already_sent"  # was in Specter before the press
    BUSY = "busy"  # someone else (a worker, another admin) is sending it right now
    WAITING = "waiting"  # waits for an older change of the same record; sent automatically
    NOT_READY = "not_ready"  # the order is not ready (no lines, not paid, ...); sent once it is
    FAILED = "failed"  # tried and failed: ``error`` says why
    MISSING = "missing"  # the order is not in the shop


@dataclass(frozen=True)
class SendResult:
    """The status value of one manual send; ``describe`` words it, ``ok`` colours it."""

    ref: str
    state: SendState
    specter_no: str | None = None  # Specter's order number (or other id) once sent
    note: str | None = None  # what the push noted (e.g. "redan i Specter")
    error: str | None = None  # the sentence ``explain`` gave when it failed

    @property
    def ok(self) -> bool:
        return self.state in (SendState.SENT, SendState.ALREADY_SENT)

    @property
    def category(self) -> str:
        """The flash category: green for done, blue while on its way, yellow when the admin must act."""
        if self.ok:
            return "success"
        return "info" if self.state in (SendState.BUSY, SendState.WAITING, SendState.NOT_READY) else "warning"


def describe(result: SendResult, context: Context = ORDER) -> str:
    """What the admin (or ``flask specter resend-order``) reads after pressing ``context.button``."""
    if context.button == TRANSFER_ORDER:
        return _order_sentence(result)
    return _record_sentence(result)


def _order_sentence(result: SendResult) -> str:
    state = result.state
    if state is SendState.SENT:
        return f"Ordern är överförd till Specter (ordernummer {result.specter_no})."
    if state is SendState.ALREADY_SENT:
        return f"Ordern är redan överförd till Specter (ordernummer {result.specter_no})."
    if state is SendState.BUSY:
        return "Ordern skickas till Specter just nu; ladda om sidan om en stund."
    if state is SendState.WAITING:
        return "Ordern väntar på att kunden eller en tidigare ändring ska nå Specter; den skickas automatiskt strax."
    if state is SendState.NOT_READY:
        return "Ordern är inte klar att skickas än (inga orderrader, eller inte betald); den skickas automatiskt när den är klar."
    if state is SendState.MISSING:
        return f"Ordern {result.ref} finns inte i butiken."
    return f"Ordern kunde inte överföras: {result.error}"


def _record_sentence(result: SendResult) -> str:
    state = result.state
    if state in (SendState.SENT, SendState.ALREADY_SENT):
        return "Skickad till Specter" + (f" ({result.note})." if result.note else ".")
    if state is SendState.BUSY:
        return "Skickas redan eller är redan skickad; ladda om sidan om en stund."
    if state is SendState.WAITING:
        return "Väntar på att en tidigare ändring ska nå Specter; skickas automatiskt strax."
    if state is SendState.NOT_READY:
        return "Väntar: inte klar att skickas än; skickas automatiskt när den är klar."
    if state is SendState.MISSING:
        return f"{result.ref} finns inte längre."
    return f"Misslyckades igen: {result.error}"


__all__ = [
    "Context", "ORDER", "RECORD", "PULL", "EXPORT", "TRANSFER_ORDER", "RETRY", "ORDER_NOT_READY", "action", "explain",
    "SendState", "SendResult", "describe",
]
