"""init_app behaviour: config defaults, state per app, clear errors, several apps per process, settings."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_specter import Specter, SQLAlchemyShopAdapter
from flask_specter.settings import TOGGLES
from flask_specter.state import get_state


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Item(db.Model):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(unique=True)
    stock: Mapped[int] = mapped_column(default=0)


def make_app(tmp_path, name: str) -> Flask:
    app = Flask(name)
    app.config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / (name + '.db')}", SPECTER_EMBEDDED_WORKER=False, SPECTER_QUEUE_NAME=name)
    db.init_app(app)
    with app.app_context():
        db.create_all()
    return app


def test_defaults_are_set_without_overwriting_the_host(tmp_path):
    app = make_app(tmp_path, "a")
    app.config["SPECTER_STOCK_BATCH_SIZE"] = 50
    Specter(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item), create_tables=True)
    assert app.config["SPECTER_STOCK_BATCH_SIZE"] == 50
    assert app.config["SPECTER_STOCK_BATCH_DELAY"] == 5.0
    assert app.config["SPECTER_URL_PREFIX"] == "/specter"
    assert "specter" in app.blueprints
    assert "specter" in app.cli.commands


def test_double_registration_is_a_clear_error(tmp_path):
    app = make_app(tmp_path, "b")
    ext = Specter()
    ext.init_app(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item), create_tables=True)
    with pytest.raises(RuntimeError, match="already registered"):
        ext.init_app(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item), create_tables=True)


def test_use_without_init_app_is_a_clear_error(tmp_path):
    app = make_app(tmp_path, "c")
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        Specter().settings.all()


def test_one_extension_serves_several_apps_with_their_own_state(tmp_path):
    ext = Specter()
    one, two = make_app(tmp_path, "one"), make_app(tmp_path, "two")
    ext.init_app(one, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item), create_tables=True)
    ext.init_app(two, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item), create_tables=True)
    assert get_state(one) is not get_state(two)
    with one.app_context():
        ext.settings.set("send_order_mail", True)
        assert ext.queue.name == "one"
    with two.app_context():
        assert ext.settings.get("send_order_mail") is False
        assert ext.queue.name == "two"


def test_every_toggle_has_a_documented_default_and_round_trips(tmp_path):
    app = make_app(tmp_path, "d")
    ext = Specter(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item), create_tables=True)
    with app.app_context():
        values = ext.settings.all()
        assert values == {t.key: t.default for t in TOGGLES}
        assert values["delete_in_specter"] is True  # "Radera från Specter" is true by default (seed)
        ext.settings.update({"delete_in_specter": False, "ignore_email_check": True})
        assert ext.settings.get("delete_in_specter") is False and ext.settings.get("ignore_email_check") is True
        with pytest.raises(KeyError):
            ext.settings.get("no_such_setting")


def test_client_needs_credentials(tmp_path):
    from flask_specter.remote.errors import SpecterConfigError

    app = make_app(tmp_path, "e")
    ext = Specter(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item), create_tables=True)
    with app.app_context(), pytest.raises(SpecterConfigError, match="SPECTER_SBM_ID"):
        ext.client  # noqa: B018


def test_processes_racing_to_create_the_feed_rows_do_not_fail(tmp_path, monkeypatch):
    from flask_specter import tables
    from flask_specter.models import FeedState

    app = make_app(tmp_path, "race")
    Specter(app, db=db, adapter=SQLAlchemyShopAdapter(db, product_model=Item), create_tables=True)
    with app.app_context():

        class NothingYet:  # what a second process saw just before the first one committed
            def all(self):
                return []

        with monkeypatch.context() as m:
            m.setattr(db.session, "query", lambda *args: NothingYet())
            tables._ensure_feed_rows(db)
        assert {row.feed for row in db.session.query(FeedState).all()} == {"stock", "articles", "orders"}
