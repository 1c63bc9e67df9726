"""CSRF-protected forms for the Specter admin, all on Flask-WTF's token.

One token scheme for everything (Flask-WTF's, not Flask-Admin's ``SecureForm``) so the pages keep
working when the host turns on ``CSRFProtect``: that checks every POST against Flask-WTF's token, and a
``SecureForm`` token would fail it.
"""

from __future__ import annotations

try:
    from flask_wtf import FlaskForm
except ImportError as exc:  # pragma: no cover
    raise RuntimeError("The Specter admin needs Flask-WTF for its CSRF tokens: pip install Flask-WTF") from exc

from flask_admin.form import BaseForm
from wtforms import BooleanField

from ..settings import TOGGLES


class ButtonForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no types: FlaskForm is Any
    """A form with nothing but the CSRF token: every state-changing button is one of these."""


class CsrfBaseForm(BaseForm):  # type: ignore[misc]  # flask_admin ships no types: BaseForm is Any
    """``form_base_class`` for the model views, so their bulk actions carry Flask-WTF's token."""

    Meta = FlaskForm.Meta


def settings_form_class() -> type[FlaskForm]:
    """A form with one ``BooleanField`` per toggle, named by the toggle's key."""
    fields = {t.key: BooleanField(t.label, description=t.help) for t in TOGGLES}
    return type("SpecterSettingsForm", (FlaskForm,), fields)
