"""``flask specter settings [set KEY on|off]``: the admin toggles from the command line.

For headless shops and deploy scripts: the same toggles, stored in the same table, as the admin page
"Inställningar & Design > Specter". A wrong key or value is refused with the list of what is valid, and
exit code 2, so a typo in a deploy script stops the script instead of being silently ignored.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..settings import BY_KEY, TOGGLES
from ..state import get_state
from . import specter_cli

ON = ("on", "true", "yes", "1")
OFF = ("off", "false", "no", "0")


def _word(value: bool) -> str:
    return "on" if value else "off"


def _valid_keys() -> str:
    return "\n".join(f"  {t.key:32} {t.label}" for t in TOGGLES)


def _print_toggles() -> None:
    values = get_state().settings.all()
    width = max(len(t.key) for t in TOGGLES)
    click.echo(f"{'key':{width}}  {'value':5}  {'default':7}  label")
    for t in TOGGLES:
        changed = "  (changed)" if values[t.key] != t.default else ""
        click.echo(f"{t.key:{width}}  {_word(values[t.key]):5}  {_word(t.default):7}  {t.label}{changed}")


@specter_cli.group("settings", invoke_without_command=True)
@click.pass_context
@with_appcontext
def settings_command(ctx: click.Context) -> None:
    """List the toggles of "Inställningar & Design > Specter" (key, value, default, Swedish label)."""
    if ctx.invoked_subcommand is None:
        _print_toggles()


@settings_command.command("set")
@click.argument("key")
@click.argument("value")
def set_command(key: str, value: str) -> None:
    """Turn one toggle on or off: ``flask specter settings set delete_orders on``."""
    toggle = BY_KEY.get(key.strip().lower())
    if toggle is None:
        raise click.UsageError(f"unknown setting {key!r}. Valid keys:\n{_valid_keys()}")
    word = value.strip().lower()
    if word not in ON + OFF:
        raise click.UsageError(f"{value!r} is not a value for {toggle.key}: use on or off")
    state = get_state()
    before = state.settings.get(toggle.key)
    state.settings.set(toggle.key, word in ON)
    after = state.settings.get(toggle.key)
    note = "" if before != after else " (unchanged)"
    click.echo(f"{toggle.key} ({toggle.label}): {_word(before)} -> {_word(after)}{note}")
