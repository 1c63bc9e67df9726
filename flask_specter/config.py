"""Every ``SPECTER_*`` configuration key, its default and its meaning, in one place.

``Specter.init_app`` applies these with ``app.config.setdefault``; the README's settings table is built
from the same list (``python -m flask_specter.config`` prints it as Markdown).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SPECTER_API_URL", "https://api.specter.se/", "Base URL of Specter's API (the sandbox's URL in tests and the demo)."),
    Setting("SPECTER_SBM_ID", "", "Your Specter account id (SBM ID)."),
    Setting("SPECTER_API_USER_ID", "", "The API user id Specter issued for this shop."),
    Setting("SPECTER_USER_KEY", "", "The API user's secret key (never sent, only hashed; never logged)."),
    Setting("SPECTER_INTEGRATION_KEY", "", "The integration key (second secret of the signature; never logged)."),
    Setting("SPECTER_CALLBACK_TOKEN", "", "Secret carried by every callback URL registered with Specter; a wrong token gets 403. Required for callbacks to be accepted."),
    Setting("SPECTER_PUBLIC_URL", "", "The shop's public base URL that Specter calls, e.g. https://shop.example.se."),
    Setting("SPECTER_URL_PREFIX", "/specter", "Where the extension's routes are mounted."),
    Setting("SPECTER_STOCK_BATCH_SIZE", 100, "Rows applied per stock chunk (one transaction each)."),
    Setting("SPECTER_STOCK_BATCH_DELAY", 5.0, "Seconds between two stock chunks (fractions allowed). 0 applies them back to back in one job, which hands over to a fresh job every 20 s."),
    Setting("SPECTER_STOCK_SITES", "", "Comma-separated stock site ids whose available quantity is summed; empty means all sites."),
    Setting("SPECTER_TIMEOUT", 30.0, "Seconds a call to Specter may take in all (connect, send and the whole answer) before it gives up."),
    Setting("SPECTER_VERIFY_TLS", True, "Verify Specter's TLS certificate. Turn off only for a known broken chain."),
    Setting("SPECTER_REDIS_URL", None, "Redis for the job queue (e.g. redis://127.0.0.1:6379/2); unset: the host's REDIS_URL; neither set, or the value \"embedded\", means the embedded in-process queue (\"embedded\" keeps the extension off a REDIS_URL the shop uses for itself)."),
    Setting("SPECTER_QUEUE_NAME", "specter", "Name of the RQ queue the extension's jobs run on."),
    Setting("SPECTER_EMBEDDED_WORKER", True, "Without Redis, run a worker thread (with the scheduler) inside the app process."),
    Setting("SPECTER_PULL_RETRIES", 5, "How many times a failed pull is retried with back-off before it waits for the next callback."),
    Setting("SPECTER_RETRY_BACKOFF", 2.0, "Base seconds of the exponential back-off for retried jobs (pulls and pushes)."),
    Setting("SPECTER_RETRY_BACKOFF_MAX", 900.0, "Cap on a single back-off delay in seconds."),
    Setting("SPECTER_PUSH_RETRIES", 8, "How many times a transient failure of a push (order, customer, product) is retried."),
    Setting("SPECTER_LEASE_SECONDS", 120.0, "How long a feed's pull lock, or an outbox row being sent, is held before another worker may take it over (if the first one died)."),
    Setting("SPECTER_SWEEP_INTERVAL", 10.0, "Seconds between sweeps that resume stored stock, article and order rows, unconfirmed batches and unsent outbox rows, and give back the rows of a sender RQ knows is dead (0 = only at worker start)."),
    Setting("SPECTER_POLL_INTERVAL", 600.0, "Seconds between catch-up pulls of every feed, for changes whose callback never arrived (0 = off)."),
    Setting("SPECTER_PRUNE_INTERVAL", 3600.0, "Seconds between prunes of old rows (the SPECTER_KEEP_* settings below; 0 = no periodic prune, `flask specter prune` still works)."),
    Setting("SPECTER_KEEP_HISTORY_DAYS", 30, "Days of stock history kept; each SKU's newest entry stays whatever its age, so the status page still shows its last change (0 = keep forever)."),
    Setting("SPECTER_KEEP_APPLIED_DAYS", 14, "Days that done rows of Specter's feeds are kept (stock rows applied, superseded or unknown; article rows applied or skipped; order events applied or unknown), and confirmed batches no row refers to. The status page's chart counts from them for 7 days. Pending rows and open batches are never pruned (0 = keep forever)."),
    Setting("SPECTER_KEEP_SENT_DAYS", 30, "Days that sent outbox rows are kept. Waiting, sending and failed rows are never pruned, nor the sent rows of a record that still has one (0 = keep forever)."),
    Setting("SPECTER_KEEP_CALLBACK_DAYS", 30, "Days of the per-hour counts of Specter's calls (the status page's chart shows 7; 0 = keep forever)."),
    Setting("SPECTER_MAX_RESPONSE_BYTES", 64 * 1024 * 1024, "Largest Specter response the client reads; more is refused before parsing."),
    Setting("SPECTER_CURRENCY", "SEK", "Currency sent with customers and orders."),
    Setting("SPECTER_LANGUAGE", "SE", "Language sent with customers and orders."),
    Setting("SPECTER_SHIPPING_ARTICLE_NO", "frakt", "articleNo of the shipping row on orders."),
    Setting("SPECTER_DISCOUNT_ARTICLE_NO", "rabatt", "articleNo of the discount row on orders."),
    Setting("SPECTER_SHIPPING_ROW_NAME", "Frakt", "Name of the shipping row on orders whose shipping method is empty."),
    Setting("SPECTER_DISCOUNT_ROW_NAME", "Rabatt", "Name of the discount row on orders (its VAT rate: the adapter's order_fields[\"discount_vat_percent\"], else 25)."),
    Setting("SPECTER_ADMIN", True, "Register the Flask-Admin views when the app has a flask_admin.Admin."),
    Setting("SPECTER_ADMIN_ACCESS", None, "Callable returning True when the current user may use the Specter admin; None denies everyone."),
    Setting("SPECTER_LOCALE", "sv", "Language of the extension: its admin pages (with Flask-Admin's own controls on them), messages and order panel: \"sv\" or \"en\". The host's other pages keep the host's language (its Flask-Babel, else Flask-Admin's English)."),
    Setting("SPECTER_TIMEZONE", "Europe/Stockholm", "The shop's time zone: every time on the Specter admin pages is shown in it (stored times are UTC)."),
    Setting("SPECTER_ADMIN_LOGIN_URL", None, "Where the Specter admin sends a visitor who may not see it (with ?next=); None answers 403."),
    Setting("SPECTER_DEBUG_PAUSE_IN_CHUNK", 0.0, "Fault tests only: seconds an apply job sits inside its chunk's transaction, so a test can kill it there."),
    Setting("SPECTER_SQLITE_TUNING", True, "On SQLite, make several processes share the file safely: WAL, the busy timeout below, and write transactions that take the lock when they begin (BEGIN IMMEDIATE) so a writer waits instead of failing with 'database is locked'. Ignored on other databases."),
    Setting("SPECTER_SQLITE_BUSY_TIMEOUT", 30.0, "SQLite: seconds a transaction waits for another's write lock before it fails with 'database is locked' (the connection's busy timeout is raised to it, never lowered)."),
    Setting("SPECTER_SQLITE_READER_METHODS", "GET, HEAD, OPTIONS", "SQLite: the host's requests of these HTTP methods begin as readers (a deferred BEGIN: they never queue behind the worker's writes); one that writes after all is begun again as a writer at its first write, without an error. Empty: every request begins as a writer. Comma-separated, or a list."),
    Setting("SPECTER_SQLITE_WRITER_ENDPOINTS", "", "SQLite: endpoints (request.endpoint; patterns such as \"payment.*\") whose requests begin as writers (BEGIN IMMEDIATE) whatever their method: a GET view whose writes depend on what it read in the same transaction (a payment return that reads the order's status, then changes it). Comma-separated, or a list."),
    Setting("SPECTER_CHECK_ALLOW_HTTP_LOOPBACK", False, "Tests and the demo only: \"Testa anslutningen\" accepts a public URL over plain http when it is this computer (127.0.0.1, localhost); elsewhere http is a warning, as Specter needs HTTPS."),
    Setting("SPECTER_MAX_BATCHES_PER_PULL", 100, "Most batches one pull fetches; more waits for a new pull scheduled with back-off, and the reason is shown on the feed."),
)

DEFAULTS: dict[str, Any] = {s.key: s.default for s in SETTINGS}
EMBEDDED = "embedded"  # SPECTER_REDIS_URL's value for the in-process queue whatever REDIS_URL says
SECRET_KEYS = frozenset({"SPECTER_USER_KEY", "SPECTER_INTEGRATION_KEY", "SPECTER_CALLBACK_TOKEN"})


def queue_url(config: Mapping[str, Any]) -> str | None:
    """The Redis URL of the job queue: ``SPECTER_REDIS_URL`` when set, else the host's ``REDIS_URL``.

    None means the embedded in-process queue: neither is set, or ``SPECTER_REDIS_URL`` is ``"embedded"``
    (for a shop whose ``REDIS_URL`` serves its own cache or sessions and runs no ``flask specter worker``).
    """
    own = config.get("SPECTER_REDIS_URL")
    if own:
        return None if str(own).strip().lower() == EMBEDDED else str(own)
    return config.get("REDIS_URL") or None


def markdown_table() -> str:
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| `{s.key}` | `{s.default!r}` | {s.meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
