"""The host owns its schema: ``init_app`` creates no table unless asked, the shipped Alembic revisions give
exactly what ``create_all`` gives, and ``flask specter create-tables`` is there for shops without Alembic.

The migration test is a real host app with Flask-Migrate, run with real ``flask db ...`` processes on an
empty database (PostgreSQL with TEST_DATABASE_URL, else SQLite).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_specter import Specter, SQLAlchemyShopAdapter, metadata
from flask_specter.models import FeedState
from flask_specter.remote.protocol import FEEDS

from .conftest import _database_url, _reset_database

HOST_APP = '''
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from flask_specter import Specter, SQLAlchemyShopAdapter
from flask_specter import migrations as specter_migrations

db = SQLAlchemy()


class Item(db.Model):
    __tablename__ = "shop_item"
    id = db.Column(db.Integer, primary_key=True)
    sku = db.Column(db.String(50), unique=True, nullable=False)
    stock = db.Column(db.Integer, nullable=False, default=0)


def create_app():
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=os.environ["HOST_DATABASE_URL"], SPECTER_EMBEDDED_WORKER=False)
    db.init_app(app)
    Specter(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item))
    migrate = Migrate(app, db, **specter_migrations.alembic_options())
    if os.environ.get("SPECTER_REVISIONS_BY") == "configure":
        migrate.configure(specter_migrations.configure)
    return app
'''
# The other way to name the extension's revisions: two lines in the host's migrations/alembic.ini.
INI_LINES = "path_separator = space\nversion_locations = %(here)s/versions flask_specter.migrations:versions\n"


def _url(tmp_path) -> str:
    url = _database_url(tmp_path)
    _reset_database(url)
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def _schema(url: str) -> dict:
    """Tables, columns (name, type with length, nullability, default), keys, indexes and unique constraints."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        return {
            name: {
                "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default")) for c in insp.get_columns(name)],
                "pk": insp.get_pk_constraint(name)["constrained_columns"],
                "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"])) for f in insp.get_foreign_keys(name)),
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(name)),
                "unique": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(name)),
            }
            for name in insp.get_table_names()
            if name.startswith("specter_")
        }
    finally:
        engine.dispose()


def _feed_rows(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(select(FeedState.feed)).scalars())
    finally:
        engine.dispose()


def _flask(host: Path, url: str, *args: str) -> str:
    env = {**os.environ, "HOST_DATABASE_URL": url, "FLASK_APP": "host_app", "SPECTER_REVISIONS_BY": host.name}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(host), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "flask", *args], cwd=host, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"flask {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.parametrize("revisions_by", ["configure", "ini"])
def test_flask_db_upgrade_on_an_empty_database_gives_what_create_all_gives(tmp_path, revisions_by):
    pytest.importorskip("flask_migrate", reason="Flask-Migrate is in the test extra: pip install -e '.[test,embedded]'")
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from flask_specter import migrations as specter_migrations

    url = _url(tmp_path)
    host = tmp_path / revisions_by
    host.mkdir()
    (host / "host_app.py").write_text(textwrap.dedent(HOST_APP))
    ours_before = sorted(os.listdir(specter_migrations.VERSIONS))

    _flask(host, url, "db", "init")
    if revisions_by == "ini":
        ini = host / "migrations" / "alembic.ini"
        ini.write_text(ini.read_text().replace("[alembic]\n", "[alembic]\n" + INI_LINES, 1))
    _flask(host, url, "db", "upgrade", "heads")  # an empty database: the extension's revisions only
    _flask(host, url, "db", "migrate", "-m", "shop items")  # the host's first revision, autogenerated
    _flask(host, url, "db", "upgrade", "heads")

    # The host's revision is in the host's folder, holds only the host's table, and nothing was written into the package.
    host_revisions = list((host / "migrations" / "versions").glob("*.py"))
    assert len(host_revisions) == 1 and "shop_item" in host_revisions[0].read_text()
    assert "specter_" not in host_revisions[0].read_text()
    assert sorted(os.listdir(specter_migrations.VERSIONS)) == ours_before
    assert "No changes in schema detected" in _flask(host, url, "db", "migrate", "-m", "nothing")
    assert len(list((host / "migrations" / "versions").glob("*.py"))) == 1

    migrated, feeds = _schema(url), _feed_rows(url)
    engine = create_engine(url)
    with engine.connect() as conn:  # Alembic's own diff between the models and the migrated database
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": lambda name, type_, parents: type_ != "table" or name.startswith("specter_")})
        assert compare_metadata(context, metadata) == []
    engine.dispose()

    _reset_database(url)
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    assert set(migrated) == set(metadata.tables)
    assert migrated == _schema(url)
    assert feeds == sorted(FEEDS) == _feed_rows(url)  # a pull takes its feed's row as a lock: both ways add them

    _reset_database(url)  # and back down: the host's table stays, the extension's go
    for command in (("db", "upgrade", "heads"), ("db", "downgrade", "specter@base")):
        _flask(host, url, *command)
    assert _schema(url) == {}
    engine = create_engine(url)
    assert "shop_item" in inspect(engine).get_table_names()
    engine.dispose()


def _host(tmp_path, **init) -> tuple[Flask, SQLAlchemy]:
    """A host without migrations: one table of its own, then ``Specter`` as ``init`` says."""

    class Base(DeclarativeBase):  # a fresh one per app: the same model class may be declared again
        pass

    db = SQLAlchemy(model_class=Base)

    class Item(db.Model):
        __tablename__ = "item"
        id: Mapped[int] = mapped_column(primary_key=True)
        sku: Mapped[str] = mapped_column(unique=True)
        stock: Mapped[int] = mapped_column(default=0)

    app = Flask("host")
    app.config.update(SQLALCHEMY_DATABASE_URI=_url(tmp_path), SPECTER_EMBEDDED_WORKER=False, SPECTER_QUEUE_NAME="migrations-test")
    db.init_app(app)
    with app.app_context():
        db.create_all()
    Specter(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item), **init)
    return app, db


def _specter_tables(app: Flask, db: SQLAlchemy) -> set[str]:
    with app.app_context():
        return {name for name in inspect(db.engine).get_table_names() if name.startswith("specter_")}


def test_init_app_creates_no_table_unless_asked_and_create_tables_makes_them_once(tmp_path):
    app, db = _host(tmp_path)
    assert _specter_tables(app, db) == set()

    for _ in range(2):  # idempotent: the second run finds everything in place
        result = app.test_cli_runner().invoke(args=["specter", "create-tables"])
        assert result.exit_code == 0, result.output
        assert "tables are in place" in result.output
    assert _specter_tables(app, db) == set(metadata.tables)
    with app.app_context():
        assert sorted(db.session.execute(select(FeedState.feed)).scalars()) == sorted(FEEDS)


def test_create_tables_true_creates_them_at_init_app(tmp_path):
    app, db = _host(tmp_path, create_tables=True)
    assert _specter_tables(app, db) == set(metadata.tables)


def test_a_request_on_missing_tables_logs_how_to_create_them(tmp_path, caplog):
    app, db = _host(tmp_path)

    @app.route("/settings")
    def settings_page():
        return app.extensions["specter"].settings.all()

    with caplog.at_level(logging.ERROR, logger="flask_specter"):
        assert app.test_client().get("/settings").status_code == 500
    assert "flask db upgrade heads" in caplog.text and "flask specter create-tables" in caplog.text
