"""Admin login: a session holding the admin's id, checked against the database on every request.

No Flask-Login: one kind of user, one session key. ``is_admin`` is what Flask-Admin's views and the
extension's ``SPECTER_ADMIN_ACCESS`` both ask.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from .models import AdminUser, db

log = logging.getLogger("example_shop")

bp = Blueprint("auth", __name__)
SESSION_KEY = "admin_user_id"
# Checked when the user name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password")


class LoginForm(FlaskForm):
    username = StringField("Användarnamn", validators=[DataRequired()])
    password = PasswordField("Lösenord", validators=[DataRequired()])


def current_admin() -> AdminUser | None:
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return None
    return db.session.get(AdminUser, user_id)


def is_admin() -> bool:
    return current_admin() is not None


def safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not be able to send the admin elsewhere."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") and "\\" not in target:
            return target
    return url_for("admin.index")


def authenticate(username: str, password: str) -> AdminUser | None:
    user = db.session.execute(select(AdminUser).where(AdminUser.username == username)).scalar_one_or_none()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if user.check_password(password) else None


@bp.route("/admin/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.username.data.strip(), form.password.data)
        if user is not None:
            session.clear()  # no session fixation: a fresh session for the logged-in admin
            session[SESSION_KEY] = user.id
            session.permanent = True
            return redirect(safe_next(request.args.get("next")))
        flash("Fel användarnamn eller lösenord.", "error")
    return render_template("shop/login.html", form=form, next=request.args.get("next", "")), (401 if request.method == "POST" else 200)


class LogoutForm(FlaskForm):
    """Only the CSRF token: logging out is a POST, so no link or prefetch can log the admin out."""


@bp.app_context_processor
def _logout_csrf():
    from flask_wtf.csrf import generate_csrf

    return {"logout_csrf_token": generate_csrf}


@bp.post("/admin/logout")
def logout():
    if not LogoutForm().validate_on_submit():
        flash("Utloggningen saknade en giltig säkerhetstoken (CSRF). Ladda om sidan och försök igen.", "error")
        return redirect(url_for("admin.index"), code=303)
    session.pop(SESSION_KEY, None)
    flash("Du är utloggad.", "info")
    return redirect(url_for("auth.login"), code=303)


def remove_demo_admin() -> None:
    """Delete the demo login (admin/admin) when demo mode is off or a real admin is configured."""
    from .settings import DEMO_ADMIN

    user = db.session.execute(select(AdminUser).where(AdminUser.username == DEMO_ADMIN[0])).scalar_one_or_none()
    if user is not None and user.check_password(DEMO_ADMIN[1]):
        db.session.delete(user)
        db.session.commit()
        log.warning("the demo login %r was removed: demo mode is off or SHOP_ADMIN_USER is set", DEMO_ADMIN[0])


def ensure_admin(username: str, password: str) -> AdminUser:
    """Create the admin, or set its password to ``password`` (the environment says what it is)."""
    user = db.session.execute(select(AdminUser).where(AdminUser.username == username)).scalar_one_or_none()
    if user is None:
        user = AdminUser(username=username)
        db.session.add(user)
    if not user.password_hash or not user.check_password(password):
        user.set_password(password)
    db.session.commit()
    return user
