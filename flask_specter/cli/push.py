"""``flask specter export|resend-order|drain [--failed]``: the shop-to-Specter commands, run in this process."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from ..i18n import _
from ..messages import ORDER, describe
from . import specter_cli

PROGRESS_EVERY = 5.0


def _is_terminal() -> bool:
    return sys.stdout.isatty()


class ProgressLines:
    """Progress for a log or a pipe, where a bar cannot redraw: a line at most every ``every`` seconds,
    and the last one."""

    def __init__(self, label: str, total: int, every: float):
        self.label, self.total, self.every = label, total, every
        self._last_time: float | None = None
        self._last_done: int | None = None

    def show(self, done: int, *, last: bool = False) -> None:
        now = time.monotonic()
        due = self._last_time is None or now - self._last_time >= self.every
        if (due or last) and done != self._last_done:
            percent = min(100, int(100 * done / self.total)) if self.total else 100
            click.echo(_("%(label)s: %(done)s av %(total)s (%(percent)s %%)", label=self.label, done=done, total=self.total, percent=percent))
            self._last_time, self._last_done = now, done


@specter_cli.command("export")
@click.argument("kind", type=click.Choice(["products", "customers", "products-stock"]))
@click.option("--restart", is_flag=True, help="Start from the beginning instead of resuming an unfinished export.")
@click.option(
    "--progress-every", type=click.FloatRange(min=0), default=PROGRESS_EVERY, show_default=True,
    help="When the output is not a terminal (a log, a pipe): a progress line at most this often, in seconds.",
)
def export_command(kind: str, restart: bool, progress_every: float) -> None:
    """First installation: send every product (with its stock) or customer to Specter, 100 at a time.

    \b
    First installation, once, in this order:
      flask specter activate --create-service-articles
      flask specter export products     (articles with the shop's stock)
      flask specter export customers
      flask specter check

    Specter sets an article's stock when it creates the article; articles it already has keep
    Specter's data and stock, so running an export again changes nothing. "products-stock" is the
    old name of "products". A refused login stops the export at once with one message; fix the
    settings and run it again: it continues where it stopped.
    """
    from ..outbound.bulk_exports import LABELS, progress, run_inline, start_export

    key = kind.replace("-", "_")
    total = start_export(key, restart=restart, enqueue=False).total  # resume or create, to size the bar
    label = f"{LABELS[key]} -> Specter"
    if _is_terminal():
        seen: dict[str, int | None] = {"done": None}
        with click.progressbar(length=max(total, 1), label=label, show_pos=True) as bar:

            def on_page(run: Any) -> None:
                before = seen["done"] if seen["done"] is not None else 0
                bar.update(max(0, (run.done or 0) - before))
                seen["done"] = run.done or 0

            run = run_inline(key, on_page=on_page)
            if seen["done"] is None:
                bar.update(run.done or 0)
    else:
        lines = ProgressLines(label, total, progress_every)
        lines.show(0)
        run = run_inline(key, on_page=lambda r: lines.show(r.done or 0))
        lines.show(run.done or 0, last=True)
    p = progress(run, failures=10_000)
    click.echo(f"{p['done']} of {p['total']} handled, {p['failed']} failed.")
    for f in p["failures"]:
        click.echo(f"  {f['ref']}: {f['error']}")
    if p["state"] != "done":
        # The run's error is one whole sentence (Swedish, like the admin's) that says how to continue.
        click.secho(p["error"] or f"Export stopped: {p['state']}. Run the same command to continue.", fg="red", err=True)
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
