"""``flask specter …``: activate, sync-stock, import-articles, worker, status (and the push commands)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from .errors import SpecterError
from .extension import get_state

specter_cli = AppGroup("specter", help="Specter Business Management connector.")


def _fail(exc: Exception) -> None:
    click.secho(f"Error: {exc}", fg="red", err=True)
    sys.exit(1)


@specter_cli.command("activate")
def activate_command():
    """Activate Automatic Stock Synchronization (register the callback URLs with Specter)."""
    from .activation import activate, callback_urls
    from .redact import redact_tokens as redact

    try:
        reply = activate()
    except SpecterError as exc:
        _fail(exc)
    click.secho(f"Specter says: {reply.message or 'callbacks set'}", fg="green")
    for param, url in callback_urls().items():
        click.echo(f"  {param}: {redact(url)}")


@specter_cli.command("sync-stock")
def sync_stock_command():
    """"Uppdatera lager": refresh every article's stock from Specter."""
    from .activation import sync_stock

    try:
        sync_stock()
    except SpecterError as exc:
        _fail(exc)
    click.echo("Stock refresh requested: every article's stock comes with the next pull.")


@specter_cli.command("import-articles")
def import_articles_command():
    """Pull the article-data feed now (what get_specter_articles does)."""
    from .pulls import request_pull

    request_pull("articles")
    click.echo("Article import queued.")


@specter_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--fork/--no-fork", default=True, help="Run each job in a work horse (default) or in the worker process.")
def worker_command(burst: bool, fork: bool):
    """Run an RQ worker (with the scheduler) for the Specter queue. Needs REDIS_URL."""
    from .jobs import sweep
    from .queue import SpecterSimpleWorker, SpecterWorker

    state = get_state()
    if state.queue.embedded:
        _fail(SpecterError("No REDIS_URL/SPECTER_REDIS_URL is set: the embedded queue runs its worker inside the shop process."))
    sweep()  # resume whatever a dead worker or a flushed Redis left behind, and schedule the next sweep
    state.db.session.remove()
    worker = state.queue.make_worker(SpecterWorker if fork else SpecterSimpleWorker)
    worker.work(burst=burst, with_scheduler=True)


@specter_cli.command("status")
def status_command():
    """Feeds, stored stock rows and the outbox at a glance."""
    from .status import collect_status

    for line in collect_status().lines():
        click.echo(line)
from . import cli_push  # noqa: E402,F401
