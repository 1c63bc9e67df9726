"""Alembic revisions for the extension's tables, to run with the host's own (Flask-Migrate or Alembic).

The revisions live in ``versions/`` on their own branch, labelled ``specter``, so they never mix with the
host's. With Flask-Migrate::

    from flask_migrate import Migrate
    from flask_specter import migrations as specter_migrations

    migrate = Migrate(app, db, **specter_migrations.alembic_options())
    migrate.configure(specter_migrations.configure)

then ``flask db upgrade heads`` (``heads``: the host's branch and ``specter``). Instead of ``configure``,
or with plain Alembic, ``alembic.ini`` can name the revisions as a package resource::

    [alembic]
    path_separator = space
    version_locations = %(here)s/versions flask_specter.migrations:versions

and ``env.py`` passes ``**alembic_options()`` to ``context.configure`` (Flask-Migrate does that from
``Migrate(..., **alembic_options())``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import context as alembic_context
from alembic.util import coerce_resource_to_filename

BRANCH = "specter"
VERSIONS = str(Path(__file__).resolve().parent / "versions")
TABLE_PREFIX = "specter_"


def configure(config: Any) -> Any:
    """A Flask-Migrate ``configure`` callback: the host's version locations plus the extension's.

    Without a ``version_locations`` of its own the host's revisions are in ``<script_location>/versions``.
    """
    locations = config.get_version_locations_list() or [os.path.join(config.get_main_option("script_location"), "versions")]
    if VERSIONS not in locations:
        locations.append(VERSIONS)
    config.set_main_option("path_separator", "os")  # the locations are joined with os.pathsep below
    config.set_main_option("version_locations", os.pathsep.join(locations).replace("%", "%%"))
    return config


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """For the host's autogenerate: leave the ``specter_*`` tables to the extension's own revisions.

    Without it, ``flask db migrate`` sees tables that are not in the host's metadata and writes their drop.
    """
    return not (type_ == "table" and (name or "").startswith(TABLE_PREFIX))


def alembic_options() -> dict[str, Any]:
    """``context.configure`` options for the host's environment (Flask-Migrate passes them on)."""
    return {"include_name": include_name, "process_revision_directives": process_revision_directives}


def process_revision_directives(context: Any, revision: Any, directives: list[Any]) -> None:
    """The host's new revisions go to the host's folder and onto the host's own head, never onto ours.

    Alembic would otherwise base a shop's first revision on ``specter``'s head and write it into this
    package. Like Flask-Migrate's default hook, an autogenerate that finds no change writes no file.
    """
    if not directives:
        return
    script = directives[0]
    cmd_opts = getattr(alembic_context.config, "cmd_opts", None)
    if getattr(cmd_opts, "autogenerate", False) and script.upgrade_ops.is_empty():
        directives[:] = []
        logging.getLogger("alembic.env").info("No changes in schema detected.")  # Flask-Migrate's words
        return
    scripts = context.script
    host_locations = [loc for loc in scripts.version_locations if str(Path(coerce_resource_to_filename(loc)).resolve()) != VERSIONS]
    if script.version_path is None and host_locations and len(scripts.version_locations) > 1:
        script.version_path = str(host_locations[0])
    if script.head == "head":
        host_heads = [h for h in scripts.get_heads() if not _is_ours(scripts.get_revision(h))]
        if len(host_heads) <= 1:  # several: Alembic asks the host which one
            script.head = host_heads[0] if host_heads else "base"


def _is_ours(revision: Any) -> bool:
    return str(Path(revision.path).resolve().parent) == VERSIONS
