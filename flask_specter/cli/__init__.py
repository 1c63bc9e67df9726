"""``flask specter …``: activate, check, sync-stock, import-articles, worker, status, create-tables (and the push, prune and settings commands)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from ..remote.errors import SpecterError
from ..state import get_state


def _no_embedded_worker_in_commands() -> None:
    """A one-off command must not start the embedded worker: its in-memory queue dies with the command.

    Work a command stores (stock rows, outbox rows) is in the database, where the shop's own worker (or
    ``flask specter worker``) picks it up.
    """
    from flask.cli import ScriptInfo

    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    state = app.extensions.get("specter")
    if state is not None:
        state.queue.disable_embedded_worker()


specter_cli = AppGroup("specter", help="Specter Business Management connector.", callback=_no_embedded_worker_in_commands)


def _fail(exc: Exception) -> None:
    click.secho(f"Error: {exc}", fg="red", err=True)
    sys.exit(1)


@specter_cli.command("activate")
@click.option(
    "--create-service-articles/--no-create-service-articles",
    "create_service",
    default=None,
    help="Create the shipping/discount articles in Specter when they are not confirmed there (never overwrites one). "
    "Without either flag: ask when run in a terminal, else only report.",
)
def activate_command(create_service: bool | None) -> None:
    """Activate Automatic Stock Synchronization (register the callback URLs with Specter) and check the service articles."""
    from ..inbound.activation import activate, callback_urls
    from ..redact import redact_tokens as redact

    try:
        reply = activate()
    except SpecterError as exc:
        _fail(exc)
    click.secho(f"Specter says: {reply.message or 'callbacks set'}", fg="green")
    for param, url in callback_urls().items():
        click.echo(f"  {param}: {redact(url)}")
    _check_service_articles(create_service)


def _check_service_articles(create: bool | None) -> None:
    """Every order may carry a shipping and a discount row: Specter refuses the order if those articles are missing."""
    from ..service_articles import create_service_articles, service_articles

    articles = service_articles()
    click.echo("Service articles (shipping/discount rows on orders):")
    for a in articles:
        click.echo(f"  {a.article_no} ({a.label}): " + (a.evidence if a.known else "NOT confirmed in Specter"))
    missing = [a.article_no for a in articles if not a.known]
    if not missing:
        return
    if create is None:
        if not sys.stdin.isatty():
            click.secho(
                f"Orders carrying {', '.join(missing)} fail if Specter lacks them: run with --create-service-articles to create them.",
                fg="yellow",
            )
            return
        create = click.confirm(f"Create {', '.join(missing)} in Specter now (an existing article is left as it is)?", default=True)
    if not create:
        return
    try:
        created = create_service_articles()
    except SpecterError as exc:
        _fail(exc)
    click.secho(f"Created in Specter (existing ones untouched): {', '.join(created)}", fg="green")


@specter_cli.command("sync-stock")
def sync_stock_command() -> None:
    """"Uppdatera lager": refresh every article's stock from Specter."""
    from ..inbound.pulls import run_pull
    from ..inbound.stock_apply import ensure_apply_chain

    state = get_state()
    try:
        state.client.clear_article_batch()
        summary = run_pull("stock")  # here and now, so the command can say what it fetched
    except SpecterError as exc:
        _fail(exc)
    if summary.get("error") or summary.get("skipped"):
        _fail(SpecterError(summary.get("error") or summary["skipped"]))
    ensure_apply_chain()
    click.echo(f"Fetched and confirmed {summary['rows']} stock rows in {summary['batches']} batch(es); the worker applies them in chunks.")


@specter_cli.command("import-articles")
def import_articles_command() -> None:
    """Pull the article-data feed now and apply it (what get_specter_articles does)."""
    from ..inbound.articles import apply_article_rows, has_pending_articles
    from ..inbound.pulls import run_pull

    try:
        summary = run_pull("articles")
    except SpecterError as exc:
        _fail(exc)
    if summary.get("error") or summary.get("skipped"):
        _fail(SpecterError(summary.get("error") or summary["skipped"]))
    counts: dict[str, int] = {}
    while True:  # every round here: a follow-up job in this command's own queue would die with it
        applied = apply_article_rows(follow_up=False)
        for key, n in applied.items():
            counts[key] = counts.get(key, 0) + n
        if not applied or not has_pending_articles():  # nothing left, or a worker holds the rest
            break
    click.echo(f"Fetched {summary['rows']} articles; " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to apply"))


@specter_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--fork/--no-fork", default=True, help="Run each job in a work horse (default) or in the worker process.")
def worker_command(burst: bool, fork: bool) -> None:
    """Run an RQ worker (with the scheduler) for the Specter queue. Needs REDIS_URL."""
    from ..outbound.drain_process import allow_forked_loops
    from ..queue import SpecterSimpleWorker, SpecterWorker

    state = get_state()
    if state.queue.embedded:
        _fail(SpecterError('No REDIS_URL/SPECTER_REDIS_URL is set (or SPECTER_REDIS_URL is "embedded"): the embedded queue runs its worker inside the shop process.'))
    allow_forked_loops()  # this process only runs jobs: a drain job may fork its second loop
    state.queue.run_worker(SpecterWorker if fork else SpecterSimpleWorker, burst=burst)


@specter_cli.command("status")
def status_command() -> None:
    """Feeds, stored stock rows and the outbox at a glance; a loud warning when jobs wait on Redis and no worker is alive."""
    from ..status import collect_status

    for line in collect_status().lines():
        if line.startswith("WARNING"):
            click.secho(line, fg="red", bold=True)
        else:
            click.echo(line)


@specter_cli.command("check")
def check_command() -> None:
    """"Testa anslutningen": credentials, callback URLs, the public HTTPS address, service articles, worker, last calls.

    Exits 1 when a check fails (warnings do not).
    """
    from ..checks import CheckOutcome, run_checks
    from ..i18n import _

    marks = {CheckOutcome.OK: (_("OK"), "green"), CheckOutcome.WARN: (_("VARNING"), "yellow"), CheckOutcome.FAIL: (_("FEL"), "red")}
    results = run_checks()
    for result in results:
        mark, colour = marks[result.outcome]
        click.secho(f"[{mark}] {result.title}", fg=colour, bold=True)
        click.echo(f"    {result.detail}")
        if result.cause:
            click.echo("    " + _("Trolig orsak: %(cause)s", cause=result.cause))
        if result.fix:
            click.echo("    " + _("Åtgärd: %(fix)s", fix=result.fix))
    if any(r.outcome is CheckOutcome.FAIL for r in results):
        sys.exit(1)


@specter_cli.command("create-tables")
def create_tables_command() -> None:
    """Create the extension's missing tables (for shops without Flask-Migrate); safe to run again."""
    from ..models import Base
    from ..tables import create_specter_tables

    state = get_state()
    create_specter_tables(state.db)
    click.echo(f"Specter's tables are in place ({len(Base.metadata.tables)} tables; existing ones untouched).")


from . import prune, push, settings  # noqa: E402,F401
