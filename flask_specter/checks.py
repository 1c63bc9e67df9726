""""Testa anslutningen": every link of the chain between the shop and Specter, checked and explained.

One module for the admin's button and ``flask specter check``. Each check returns a ``CheckResult``:
ok, warn or fail, a Swedish title and detail, and for a problem its likely cause and the fix, in the
spirit of the seed's "Vad händer när synken inte fungerar?".
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from .i18n import _
from .inbound.activation import REGISTERED_KEY, callback_urls, fingerprint
from .models import SettingRow
from .redact import redact_tokens
from .remote import protocol
from .remote.client import SpecterClient
from .remote.errors import SpecterApiError, SpecterAuthError, SpecterConfigError, SpecterError, SpecterOpenBatchError, SpecterTimeout
from .state import get_state

PING_PATH = "/callback/ping"
PING_BODY = "1;pong"
SELF_TIMEOUT = 10.0  # at most this long for the shop's call to itself (less when SPECTER_TIMEOUT is shorter)
CREDENTIALS = ("SPECTER_SBM_ID", "SPECTER_API_USER_ID", "SPECTER_USER_KEY", "SPECTER_INTEGRATION_KEY")


class CheckOutcome(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    key: str
    title: str  # Swedish: what was checked
    outcome: CheckOutcome
    detail: str  # Swedish: what was found
    cause: str = ""  # Swedish: the likely cause, for warn and fail
    fix: str = ""  # Swedish: what to do

    @property
    def ok(self) -> bool:
        return self.outcome is CheckOutcome.OK


# -- the checks ---------------------------------------------------------------------------------------


def check_credentials() -> CheckResult:
    """A signed read: the orders feed fetched with a fresh batch number (no other call proves the key
    without changing something in Specter). Anything it froze is pulled by the ordinary pull at once."""
    title = _("Inloggningsuppgifterna (signerad läsning från Specter)")
    config = get_state().config
    missing = [k for k in CREDENTIALS if not config.get(k)]
    if missing:
        return CheckResult(
            "credentials", title, CheckOutcome.FAIL,
            _("Inställningar saknas: %(keys)s.", keys=", ".join(missing)),
            cause=_("Butiken kan inte signera anrop till Specter utan SBM-id, API-användare, användarnyckel och integrationsnyckel."),
            fix=_("Sätt dem i butikens konfiguration (uppgifterna finns hos API-användaren i Specter) och starta om butiken och workern."),
        )
    try:
        client = SpecterClient.from_config(config)  # the configuration as it is now, not a cached client
    except SpecterConfigError as exc:
        return CheckResult("credentials", title, CheckOutcome.FAIL, str(exc), cause=_("SPECTER_API_URL saknas."), fix=_("Sätt SPECTER_API_URL, normalt https://api.specter.se/."))
    frozen = False
    try:
        batch = client.fetch("orders", protocol.new_batch_no())
        frozen = bool(batch.items)
    except SpecterOpenBatchError:
        frozen = True  # signed and accepted: a batch is waiting for the shop
    except SpecterAuthError as exc:
        if exc.code == protocol.ERR_UNKNOWN_ACCOUNT:
            return CheckResult(
                "credentials", title, CheckOutcome.FAIL,
                _("Specter känner inte igen SBM-id %(sbm)s eller API-användaren %(user)s (fel %(code)s).", sbm=config["SPECTER_SBM_ID"], user=config["SPECTER_API_USER_ID"], code=exc.code),
                cause=_("SPECTER_SBM_ID eller SPECTER_API_USER_ID är felskrivet, eller API-användaren är borttagen i Specter."),
                fix=_("Jämför med kontot och API-användaren i Specter och rätta konfigurationen."),
            )
        return CheckResult(
            "credentials", title, CheckOutcome.FAIL,
            _("Specter nekade signaturen (fel %(code)s).", code=exc.code),
            cause=_("Användarnyckeln (SPECTER_USER_KEY) eller integrationsnyckeln (SPECTER_INTEGRATION_KEY) stämmer inte med Specter."),
            fix=_("Kopiera båda nycklarna på nytt från API-användaren i Specter, utan mellanslag före eller efter, och starta om butiken och workern."),
        )
    except SpecterTimeout:
        return CheckResult(
            "credentials", title, CheckOutcome.FAIL,
            _("Specter svarade inte inom %(seconds)s sekunder.", seconds=f"{client.timeout:g}"),
            cause=_("Specter är långsamt eller nere just nu, eller trafiken ut från servern bromsas."),
            fix=_("Försök igen om en stund; kvarstår det, kontrollera serverns utgående trafik och Specters driftstatus."),
        )
    except SpecterApiError as exc:  # the key is checked before the fields: any other refusal means it was accepted
        return CheckResult("credentials", title, CheckOutcome.OK, _("Specter godkände signaturen (svarade med kod %(code)s på provläsningen).", code=exc.code))
    except SpecterError as exc:
        tls = isinstance(exc.__cause__, requests.exceptions.SSLError)
        return CheckResult(
            "credentials", title, CheckOutcome.FAIL,
            _("Specter gick inte att nå på %(url)s.", url=client.api_url),
            cause=_("Specters certifikat godtogs inte av servern (gammalt CA-paket, eller något i nätet bryter upp TLS).") if tls
            else _("Fel SPECTER_API_URL, ingen DNS eller internetförbindelse, eller en brandvägg som stoppar utgående trafik från servern."),
            fix=_("Uppdatera serverns CA-certifikat (paketet ca-certificates).") if tls
            else _("Kontrollera SPECTER_API_URL (normalt https://api.specter.se/) och att servern når den, t.ex. med curl från servern."),
        )
    finally:
        client.close()
    if frozen:
        from .inbound.pulls import request_pull

        request_pull("orders")  # our fresh batch holds order news now: the ordinary pull takes it (error 99)
    return CheckResult(
        "credentials", title, CheckOutcome.OK,
        _("Specter godkände signaturen för SBM-id %(sbm)s och API-användaren %(user)s.", sbm=config["SPECTER_SBM_ID"], user=config["SPECTER_API_USER_ID"]),
    )


def check_callback_urls() -> CheckResult:
    """What the shop would register now, against what it registered last (Specter cannot be asked)."""
    title = _("Callback-adresserna hos Specter")
    try:
        urls = callback_urls()
    except SpecterConfigError as exc:
        token = "SPECTER_CALLBACK_TOKEN" in exc.settings
        return CheckResult(
            "callbacks", title, CheckOutcome.FAIL,
            _("Callback-token saknas eller är kortare än 16 tecken.") if token else _("SPECTER_PUBLIC_URL är inte inställd."),
            cause=_("Utan dem kan butiken inte tala om för Specter vart anropen ska gå, och varje anrop nekas."),
            fix=(_("Sätt SPECTER_CALLBACK_TOKEN till en lång slumpmässig hemlighet") if token
                 else _("Sätt SPECTER_PUBLIC_URL till butikens publika adress, t.ex. https://butik.example.se"))
            + _(", och tryck sedan på Aktivera automatisk lagersynkronisering."),
        )
    config = get_state().config
    base = f"{(config.get('SPECTER_PUBLIC_URL') or '').rstrip('/')}{str(config.get('SPECTER_URL_PREFIX') or '').rstrip('/')}/"
    shown = _("%(n)s adresser under %(base)s, med token (listade under Callback-adresser)", n=len(urls), base=base)
    note = _("Specters API kan inte läsa tillbaka registrerade adresser; jämförelsen gäller det butiken själv registrerade senast.")
    row = get_state().db.session.get(SettingRow, REGISTERED_KEY)
    if row is None:
        return CheckResult(
            "callbacks", title, CheckOutcome.WARN,
            _("Butiken har ingen uppgift om att adresserna registrerats härifrån. Butiken skulle registrera: %(urls)s", urls=shown) + " " + note,
            cause=_("Automatisk lagersynkronisering har inte aktiverats från den här installationen (eller aktiverades före den här versionen)."),
            fix=_("Tryck på Aktivera automatisk lagersynkronisering (eller kör flask specter activate)."),
        )
    when = f"{row.updated_at:%Y-%m-%d %H:%M} UTC" if row.updated_at else "?"
    if row.value != fingerprint(urls):
        return CheckResult(
            "callbacks", title, CheckOutcome.FAIL,
            _("Adresserna har ändrats sedan de registrerades %(when)s. Butiken skulle nu registrera: %(urls)s", when=when, urls=shown) + " " + note,
            cause=_("SPECTER_PUBLIC_URL, SPECTER_URL_PREFIX eller callback-token har ändrats utan ny aktivering: Specter anropar de gamla adresserna och nekas (403 eller 404)."),
            fix=_("Tryck på Aktivera automatisk lagersynkronisering igen så att Specter får de nya adresserna."),
        )
    return CheckResult("callbacks", title, CheckOutcome.OK, _("Registrerade %(when)s och oförändrade sedan dess: %(urls)s", when=when, urls=shown) + " " + note)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_public_url() -> CheckResult:
    """The shop calls its own public address as Specter would (HTTPS, certificate verified, the token)."""
    title = _("Butikens publika adress nås över HTTPS")
    config = get_state().config
    public = (config.get("SPECTER_PUBLIC_URL") or "").rstrip("/")
    if not public:
        return CheckResult("public_url", title, CheckOutcome.FAIL, _("SPECTER_PUBLIC_URL är inte inställd."), cause=_("Specter vet inte vart anropen ska gå."),
                           fix=_("Sätt SPECTER_PUBLIC_URL till butikens publika adress, t.ex. https://butik.example.se."))
    parts = urlsplit(public)
    prefix = str(config.get("SPECTER_URL_PREFIX") or "").rstrip("/")
    url = f"{public}{prefix}{PING_PATH}?token={quote(str(config.get('SPECTER_CALLBACK_TOKEN') or ''), safe='')}"
    timeout = min(float(config.get("SPECTER_TIMEOUT") or SELF_TIMEOUT), SELF_TIMEOUT)
    shown = redact_tokens(url)
    try:
        response = requests.get(url, timeout=timeout, verify=True, allow_redirects=False)
    except requests.exceptions.SSLError:
        return CheckResult(
            "public_url", title, CheckOutcome.FAIL, _("Certifikatet på %(host)s godtogs inte.", host=parts.netloc),
            cause=_("Certifikatet är självsignerat, har gått ut, gäller ett annat namn eller saknar mellancertifikat (kedjan är ofullständig)."),
            fix=_("Installera ett giltigt certifikat med hela kedjan (t.ex. Let's Encrypt med fullchain.pem) och testa igen."),
        )
    except requests.exceptions.Timeout:
        return CheckResult(
            "public_url", title, CheckOutcome.FAIL, _("Inget svar från %(url)s inom %(seconds)s sekunder.", url=shown, seconds=f"{timeout:g}"),
            cause=_("En brandvägg släpper inte igenom anropet, eller butiken har bara en serverprocess som är upptagen med just det här testet."),
            fix=_("Öppna port 443 mot butiken och kör butiken med flera processer (t.ex. gunicorn -w 3); kör annars flask specter check från servern."),
        )
    except requests.exceptions.RequestException as exc:
        return CheckResult(
            "public_url", title, CheckOutcome.FAIL, _("Butiken når inte %(url)s (%(error)s).", url=shown, error=type(exc).__name__),
            cause=_("Adressen pekar inte på den här servern (DNS), porten är stängd, eller en brandvägg stoppar anropet."),
            fix=_("Kontrollera SPECTER_PUBLIC_URL, DNS-posten och att webbservern lyssnar på port 443. Specter når inte butiken förrän detta fungerar."),
        )
    if response.is_redirect:
        return CheckResult(
            "public_url", title, CheckOutcome.FAIL,
            _("Adressen svarar med en omdirigering (%(status)s) till %(location)s.", status=response.status_code, location=redact_tokens(response.headers.get("Location", "?"))),
            cause=_("SPECTER_PUBLIC_URL är inte butikens slutliga adress (http i stället för https, eller med/utan www); Specters anrop följer inte omdirigeringar."),
            fix=_("Sätt SPECTER_PUBLIC_URL till adressen som omdirigeringen leder till och aktivera synkroniseringen igen."),
        )
    body = response.text.strip()
    if response.status_code == 200 and body == PING_BODY:
        if parts.scheme == "https":
            return CheckResult("public_url", title, CheckOutcome.OK, _("%(url)s svarade, certifikatet är giltigt och token godtogs.", url=shown))
        if config.get("SPECTER_CHECK_ALLOW_HTTP_LOOPBACK") and _loopback(parts.hostname or ""):
            return CheckResult("public_url", title, CheckOutcome.OK, _("%(url)s svarade över http på den egna datorn (tillåtet av SPECTER_CHECK_ALLOW_HTTP_LOOPBACK).", url=shown))
        return CheckResult(
            "public_url", title, CheckOutcome.WARN, _("%(url)s svarade, men över http utan kryptering.", url=shown),
            cause=_("Specter ska anropa butiken över HTTPS i drift: token skickas annars i klartext."),
            fix=_("Sätt upp HTTPS (t.ex. Let's Encrypt), sätt SPECTER_PUBLIC_URL till https://… och aktivera synkroniseringen igen."),
        )
    if response.status_code == 403 and body.startswith("0;403"):
        return CheckResult(
            "public_url", title, CheckOutcome.FAIL, _("Adressen svarar, men nekade butikens egen token (403)."),
            cause=_("En annan installation svarar på den publika adressen (gammal server, testmiljö), med en annan callback-token."),
            fix=_("Låt SPECTER_PUBLIC_URL peka på den här installationen, eller använd samma SPECTER_CALLBACK_TOKEN i alla processer."),
        )
    if response.status_code == 404:
        return CheckResult(
            "public_url", title, CheckOutcome.FAIL, _("Adressen svarar 404 på %(url)s.", url=shown),
            cause=_("SPECTER_URL_PREFIX stämmer inte, eller webbservern/proxyn skickar inte vidare sökvägen till butiken."),
            fix=_("Kontrollera prefixet och proxyns regler så att %(prefix)s/… når butiken.", prefix=prefix or "/"),
        )
    return CheckResult(
        "public_url", title, CheckOutcome.FAIL, _("Adressen svarade %(status)s i stället för butikens svar.", status=response.status_code),
        cause=_("Något framför butiken stoppar eller ändrar anropet: brandvägg, cache, säkerhetsplugin eller inloggning."),
        fix=_("Undanta %(prefix)s/ från cache, brandväggsregler, säkerhetsplugin och inloggning och testa igen.", prefix=prefix or "/"),
    )


def check_service_articles() -> CheckResult:
    from .service_articles import service_articles

    title = _("Frakt- och rabattartiklarna finns i Specter")
    articles = service_articles()
    missing = [a.article_no for a in articles if not a.known]
    if not missing:
        return CheckResult("service_articles", title, CheckOutcome.OK, ", ".join(f"{a.article_no}: {a.evidence}" for a in articles) or _("Inga konfigurerade."))
    return CheckResult(
        "service_articles", title, CheckOutcome.FAIL,
        _("Inte bekräftade i Specter: %(nos)s.", nos=", ".join(missing)),
        cause=_("Specter avvisar varje order med en frakt- eller rabattrad vars artikel saknas (fel 21)."),
        fix=_("Tryck på Skapa serviceartiklar i Specter (eller kör flask specter activate --create-service-articles); en artikel som redan finns ändras inte."),
    )


def check_worker() -> CheckResult:
    title = _("Workern som kör jobben lever")
    queue = get_state().queue
    if queue.embedded:
        alive = queue.embedded_worker_alive()
        if alive:
            return CheckResult("worker", title, CheckOutcome.OK, _("Den inbyggda kön: workern körs i butikens process."))
        if alive is None:
            return CheckResult(
                "worker", title, CheckOutcome.WARN, _("Den inbyggda kön kör sin worker i butikens process, som det här kommandot inte ser."),
                cause=_("Utan REDIS_URL finns ingen gemensam kö att fråga."), fix=_("Använd knappen Testa anslutningen i administrationen för att se workern."),
            )
        return CheckResult(
            "worker", title, CheckOutcome.FAIL, _("Den inbyggda workern körs inte."),
            cause=_("SPECTER_EMBEDDED_WORKER är av, eller workertråden har stannat."),
            fix=_("Sätt SPECTER_EMBEDDED_WORKER = True, eller använd Redis (REDIS_URL) och kör flask specter worker."),
        )
    try:
        workers = queue.live_workers()
    except Exception as exc:
        return CheckResult(
            "worker", title, CheckOutcome.FAIL, _("Redis svarar inte (%(error)s).", error=type(exc).__name__),
            cause=_("Redis är nere eller REDIS_URL pekar fel: anrop från Specter kan inte köas."), fix=_("Starta Redis och kontrollera REDIS_URL."),
        )
    if not workers:
        waiting = queue.waiting_jobs()
        return CheckResult(
            "worker", title, CheckOutcome.FAIL,
            _("Ingen worker lyssnar på kön %(name)s; %(n)s jobb väntar.", name=queue.name, n=waiting) if waiting
            else _("Ingen worker lyssnar på kön %(name)s.", name=queue.name),
            cause=_("flask specter worker körs inte (eller mot en annan Redis eller ett annat SPECTER_QUEUE_NAME): lagerrader och order blir liggande."),
            fix=_("Starta flask specter worker med samma REDIS_URL och håll den igång (systemd, supervisor), "
                  "eller sätt SPECTER_REDIS_URL = \"embedded\" för kön i butikens process."),
        )
    return CheckResult("worker", title, CheckOutcome.OK, _("%(n)s worker(s) på kön %(name)s: %(names)s.", n=len(workers), name=queue.name, names=", ".join(workers)))


def check_last_callbacks() -> CheckResult:
    from .inbound.callback_log import UNKNOWN_ROUTE, callback_views

    title = _("Senaste anropen från Specter")
    views = callback_views(get_state().db.session)

    def fmt(at: dt.datetime | None) -> str:
        return f"{at:%Y-%m-%d %H:%M} UTC" if at else _("aldrig")

    summary = "; ".join(
        _("%(label)s: godkänt %(accepted)s, nekat %(refused)s", label=v.label, accepted=fmt(v.accepted_at), refused=fmt(v.refused_at))
        for v in views.values()
        if v.accepted_at or v.refused_at
    )
    refused = [v for v in views.values() if v.warning]
    if refused:
        worst = max(refused, key=lambda v: v.refused_at or dt.datetime.min)
        reason = worst.reason or ""
        if "token" in reason:
            cause = _("Specter anropar med en annan token än butikens: token har bytts utan ny aktivering.")
            fix = _("Tryck på Aktivera automatisk lagersynkronisering så att Specter får adresserna med den nuvarande token.")
        elif worst.route == UNKNOWN_ROUTE:
            cause = _("Specter anropar en adress som inte finns i butiken: gamla adresser eller ett ändrat SPECTER_URL_PREFIX.")
            fix = _("Tryck på Aktivera automatisk lagersynkronisering så att Specter får de nuvarande adresserna.")
        elif "Redis" in reason:
            cause = _("Jobbkön (Redis) svarade inte när Specter anropade.")
            fix = _("Kontrollera att Redis körs; Specter anropar igen vid nästa ändring.")
        else:
            cause = _("Butiken nekade anropet: %(reason)s.", reason=reason)
            fix = _("Rätta orsaken ovan; ändringarna ligger kvar i Specter och kommer med nästa anrop.")
        return CheckResult(
            "last_callbacks", title, CheckOutcome.FAIL,
            _("Senast nekat: %(label)s %(at)s (%(reason)s). %(summary)s", label=worst.label, at=fmt(worst.refused_at), reason=reason, summary=summary),
            cause=cause, fix=fix,
        )
    if not any(v.accepted_at for v in views.values()):
        return CheckResult(
            "last_callbacks", title, CheckOutcome.WARN, _("Specter har inte anropat butiken ännu."),
            cause=_("Synkroniseringen är inte aktiverad, inget har ändrats i Specter sedan dess, eller anropen stoppas före butiken (brandvägg, cache- eller säkerhetsplugin)."),
            fix=_("Aktivera synkroniseringen, gör en ändring i Specter (t.ex. en saldojustering) och testa igen. Kommer inget anrop: undanta callback-adresserna från brandvägg och plugin, eller kontakta support@specter.se."),
        )
    return CheckResult("last_callbacks", title, CheckOutcome.OK, summary)


CHECKS: tuple[Callable[[], CheckResult], ...] = (
    check_credentials,
    check_callback_urls,
    check_public_url,
    check_service_articles,
    check_worker,
    check_last_callbacks,
)


def run_checks() -> list[CheckResult]:
    """Every check in order; one that breaks becomes a failed check, never an exception."""
    results = []
    for check in CHECKS:
        try:
            results.append(check())
        except Exception as exc:  # the test page must always render
            from .messages import explain

            name = check.__name__.removeprefix("check_")
            results.append(CheckResult(name, name, CheckOutcome.FAIL, explain(exc), cause=_("Kontrollen kunde inte köras."), fix=_("Se serverns logg.")))
    return results


def summary(results: list[CheckResult]) -> dict[str, Any]:
    return {o.value: sum(1 for r in results if r.outcome is o) for o in CheckOutcome}
