"""Shop commands: ``flask --app example_shop seed`` and ``create-admin USER PASSWORD``."""

from __future__ import annotations

import click
from flask import Flask

from .auth import ensure_admin
from .seed import seed


def register_cli(app: Flask) -> None:
    @app.cli.command("seed")
    @click.option("--force", is_flag=True, help="Add missing demo rows even when the shop already has products.")
    def seed_command(force: bool):
        """Add demo categories, products (with variants) and customers."""
        added = seed(only_if_empty=not force)
        if not any(added.values()):
            click.echo("The shop already has products: nothing seeded (use --force to add missing demo rows).")
        else:
            click.echo("Seeded {categories} categories, {products} products, {customers} customers.".format(**added))

    @app.cli.command("create-admin")
    @click.argument("username")
    @click.argument("password")
    def create_admin_command(username: str, password: str):
        """Create an admin user (or set the password of an existing one)."""
        if len(password) < 8 and not app.config.get("SHOP_DEMO"):
            raise click.UsageError("use a password of at least 8 characters")
        ensure_admin(username.strip(), password)
        click.echo(f"Admin {username.strip()!r} can log in at /admin/login.")
