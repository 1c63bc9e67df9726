"""What every Specter admin page shares: deny by default, the CSRF refusal, safe redirects, the exports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from flask import abort, current_app, redirect, request
from flask.typing import ResponseReturnValue

from ..frame_guard import guarded
from ..i18n import lazy_gettext, speaking_specter_locale, template_helpers
from .access import admin_allowed

CSRF_REFUSED = lazy_gettext("Formuläret saknade en giltig säkerhetstoken (CSRF) och sparades inte. Ladda om sidan och försök igen.")

EXPORTS = (
    ("products", lazy_gettext("Exportera produkter"), lazy_gettext("Skickar alla produkter och varianter med sitt lagersaldo till Specter.")),
    ("customers", lazy_gettext("Exportera kunder"), lazy_gettext("Skickar alla kunder till Specter.")),
)

class SpecterViewMixin:
    """Deny by default; send the anonymous to the host's login when it names one; speak ``SPECTER_LOCALE``."""

    if TYPE_CHECKING:  # the methods of flask_admin's BaseView (untyped) that the views call

        def get_url(self, endpoint: str, **kwargs: Any) -> str: ...

    def is_accessible(self) -> bool:
        return admin_allowed()

    def _run_view(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Flask-Admin runs every exposed view through here: the page, its flashes and Flask-Admin's own
        controls in ``SPECTER_LOCALE``, while the host's other pages keep the host's language; every page
        and answer never framed, never sniffed (``frame_guard``)."""
        with speaking_specter_locale():
            return guarded(super()._run_view(fn, *args, **kwargs))  # type: ignore[misc]  # BaseView (Any) is the next class

    def render(self, template: str, **kwargs: Any) -> str:
        """Flask-Admin's render, with the page's language helpers (``_`` of this package, ``on_off``, ``when``)."""
        rendered: str = super().render(template, **template_helpers(), **kwargs)  # type: ignore[misc]  # BaseView (Any) is the next class
        return rendered

    def inaccessible_callback(self, name: str, **kwargs: Any) -> ResponseReturnValue:
        return refuse_visitor()


def refuse_visitor() -> ResponseReturnValue:
    """The host's login (``SPECTER_ADMIN_LOGIN_URL``, back here afterwards), else 403."""
    login = current_app.config.get("SPECTER_ADMIN_LOGIN_URL")
    if login:
        sep = "&" if "?" in login else "?"
        return redirect(f"{login}{sep}next={quote(request.full_path.rstrip('?'), safe='/')}")
    return abort(403)


def safe_next(default: str) -> str:
    """The ``next`` form value when it points back into this site, else ``default`` (no open redirect)."""
    target = request.form.get("next") or request.args.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith(("//", "/\\")) and not parts.scheme and not parts.netloc:
        return target
    return default
