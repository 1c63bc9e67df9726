"""``flask specter prune [--dry-run]``: old rows pruned now, as the periodic job does (``prune.py``)."""

from __future__ import annotations

import click

from . import specter_cli


@specter_cli.command("prune")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted; delete nothing.")
def prune_command(dry_run: bool) -> None:
    """Delete finished rows older than the SPECTER_KEEP_* settings, 5,000 rows a statement.

    \b
    Stock history (each SKU's newest entry stays), done stock, article and order rows and the confirmed
    batches no row refers to, sent outbox rows and the hourly counts of Specter's calls. Pending rows,
    open batches, waiting and failed outbox rows and reservations are never deleted. The worker's
    scheduler runs the same prune every SPECTER_PRUNE_INTERVAL seconds.
    """
    from ..prune import RULES, prune_now

    result = prune_now(dry_run=dry_run)
    click.echo("Would delete (dry run, nothing deleted):" if dry_run else "Deleted:")
    for rule in RULES:
        cutoff = result.cutoffs.get(rule.name)
        if cutoff is None:
            click.echo(f"  {rule.label}: kept forever ({rule.setting} is 0)")
            continue
        click.echo(f"  {rule.label}, older than {cutoff:%Y-%m-%d %H:%M} UTC: {result.counts[rule.name]}")
