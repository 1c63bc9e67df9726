"""``flask specter export|resend-order|drain [--failed]``: the shop-to-Specter commands, run in this process."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..messages import ORDER, describe
from . import specter_cli


@specter_cli.command("export")
@click.argument("kind", type=click.Choice(["products", "products-stock", "customers"]))
@click.option("--restart", is_flag=True, help="Start from the beginning instead of resuming an unfinished export.")
def export_command(kind: str, restart: bool) -> None:
    """First installation: send every product (with stock) or customer to Specter, 100 at a time."""
    from ..outbound.bulk_exports import LABELS, progress, run_inline, start_export

    key = kind.replace("-", "_")
    total = start_export(key, restart=restart, enqueue=False).total  # resume or create, to size the bar
    seen: dict[str, int | None] = {"done": None}

    with click.progressbar(length=max(total, 1), label=f"{LABELS[key]} -> Specter", show_pos=True) as bar:

        def on_page(run: Any) -> None:
            before = seen["done"] if seen["done"] is not None else 0
            bar.update(max(0, (run.done or 0) - before))
            seen["done"] = run.done or 0

        run = run_inline(key, on_page=on_page)
        if seen["done"] is None:
            bar.update(run.done or 0)
    p = progress(run, failures=10_000)
    click.echo(f"{p['done']} of {p['total']} handled, {p['failed']} failed.")
    for f in p["failures"]:
        click.echo(f"  {f['ref']}: {f['error']}")
    if p["state"] != "done":
        click.secho(f"Export stopped: {p['error'] or p['state']}. Run the same command to continue.", fg="red", err=True)
        sys.exit(1)


@specter_cli.command("resend-order")
@click.argument("order_ids", nargs=-1, required=True)
def resend_order_command(order_ids: tuple[str, ...]) -> None:
    """"Överför order": send orders to Specter again (shop order ids)."""
    from ..outbound.resend import resend_order

    failed = False
    for order_id in order_ids:
        result = resend_order(order_id)
        click.echo(f"{order_id}: {describe(result, ORDER)}")
        failed |= not result.ok
    if failed:
        sys.exit(1)


@specter_cli.command("drain")
@click.option("--failed", is_flag=True, help="Also send the rows that failed for good (\"Misslyckades\"), with a fresh count of attempts: run it once the cause, such as a wrong key, is fixed.")
def drain_command(failed: bool) -> None:
    """Push every unsent product, customer and order change now (after Redis or a worker was down)."""
    from ..outbound.resend import drain

    counts = drain(echo=click.echo, failed=failed)
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))
    if counts.get("failed") or counts.get("pending"):
        sys.exit(1)
