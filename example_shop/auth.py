"""Admin login: a session holding the admin's id, checked against the database on every request.

No Flask-Login: one kind of user, one session key. ``is_admin`` is what Flask-Admin's views and the
extension's ``SPECTER_ADMIN_ACCESS`` both ask. Flask's session lives in the cookie, so logging out there
alone would leave a copied cookie valid for 31 days: the session also carries the admin's session version
(``AdminSession``), compared on every request and bumped by logout (every copy of the cookie ends with it).
Repeated wrong passwords lock the name and the address for a while (``auth_throttle``).
"""

from __future__ import annotations

import logging
import math
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from .auth_throttle import clear_failures, locked_for, record_failure
from .models import AdminSession, AdminUser, db

log = logging.getLogger("example_shop")

bp = Blueprint("auth", __name__)
SESSION_KEY = "admin_user_id"
VERSION_KEY = "admin_session_version"
# Checked when the user name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password")


class LoginForm(FlaskForm):
    username = StringField("Användarnamn", validators=[DataRequired()])
    password = PasswordField("Lösenord", validators=[DataRequired()])


def session_version(admin_id: int) -> int:
    row = db.session.get(AdminSession, admin_id)
    return row.version if row is not None else 0


def end_sessions(admin_id: int) -> None:
    """Bump the admin's session version: every cookie issued before (copies included) stops working."""
    if not db.session.execute(update(AdminSession).where(AdminSession.admin_id == admin_id).values(version=AdminSession.version + 1)).rowcount:
        try:
            with db.session.begin_nested():
                db.session.add(AdminSession(admin_id=admin_id, version=1))
        except IntegrityError:  # another request made the row first: bump that one
            db.session.execute(update(AdminSession).where(AdminSession.admin_id == admin_id).values(version=AdminSession.version + 1))
    db.session.commit()


def current_admin() -> AdminUser | None:
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return None
    user = db.session.get(AdminUser, user_id)
    if user is None or session.get(VERSION_KEY, 0) != session_version(user.id):
        return None  # the admin logged out since this cookie was issued (a cookie without one is version 0)
    return user


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
        username = form.username.data.strip()
        wait = locked_for(username)
        if wait:  # not even the right password gets in: the lock is what stops guessing
            flash(f"För många misslyckade inloggningar. Försök igen om {math.ceil(wait / 60)} minuter.", "error")
            page = render_template("shop/login.html", form=form, next=request.args.get("next", ""))
            return page, 429, {"Retry-After": str(math.ceil(wait))}
        user = authenticate(username, form.password.data)
        if user is not None:
            clear_failures(username)
            session.clear()  # no session fixation: a fresh session for the logged-in admin
            session[SESSION_KEY] = user.id
            session[VERSION_KEY] = session_version(user.id)
            session.permanent = True
            return redirect(safe_next(request.args.get("next")))
        record_failure(username)
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
    user = current_admin()
    if user is not None:
        end_sessions(user.id)
    session.pop(SESSION_KEY, None)
    session.pop(VERSION_KEY, None)
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
