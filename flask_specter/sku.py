"""What a product SKU must be to travel as Specter's ``articleNo``, and what happens when it cannot.

Specter refuses an articleNo over 50 characters or holding ``;``, a tab or a line break. The host keeps
working whatever its SKUs look like (a slug of 80 characters, say):

- in the host's own Flask-Admin product form, the save is refused with a form error in
  ``SPECTER_LOCALE`` (Swedish by default): ``check_sku`` raises ``InvalidSku``, which is also WTForms'
  ``ValidationError``, the exception Flask-Admin shows on the form while keeping what was typed;
- anywhere else (the host's API, a script, an import) the product is saved as the host asked, is not
  sent to Specter, and a failed outbox row "kräver åtgärd" says why in Swedish (the Utkorg and the
  status page show it). Renaming the SKU to one Specter takes sends the product as usual.

There is no mapping to a shorter article number: Specter's stock, orders and article feeds name the
article by it, so a mapping would have to be kept in every direction, and the shop's own SKU would no
longer be what the shop's staff see in Specter. ``sku_problem`` lets a host refuse a SKU in its own
validation first (the example shop's API answers 400 with it).
"""

from __future__ import annotations

from flask import has_request_context, request
from wtforms.validators import ValidationError

from .i18n import N_, gettext
from .remote import protocol

SKU_MAX_LENGTH = protocol.ARTICLE_NO_MAX

REFUSED = N_("Artikelnumret (SKU) kan inte användas i Specter: %(problem)s")
EMPTY = N_("det är tomt.")
TOO_LONG = N_("det är %(length)s tecken långt, Specter tar högst %(limit)s tecken.")
BAD_CHARACTERS = N_("det innehåller tecken som Specter inte tar emot (semikolon, tabb, radbrytning).")


class InvalidSku(ValidationError):
    """A SKU Specter cannot take as an article number. A ``ValueError`` (through WTForms'
    ``ValidationError``, so Flask-Admin shows it as the form's error); ``str()`` is the message in the
    request's ``SPECTER_LOCALE``, ``message_sv`` the Swedish one, ``problem`` the technical English."""

    def __init__(self, sku: str | None, problem: str, problem_sv: str, **variables: object):
        self.sku = sku
        self.problem = problem
        self._problem_sv = (problem_sv, variables)
        self.message_sv = REFUSED % {"problem": problem_sv % variables if variables else problem_sv}
        self.english = f"SKU {sku!r} cannot be used as a Specter article number: {problem}"
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The reason in ``SPECTER_LOCALE`` (Swedish outside a request)."""
        text, variables = self._problem_sv
        return gettext(REFUSED, problem=gettext(text, **variables))

    def __str__(self) -> str:
        return self.message


def sku_problem(sku: str | None) -> InvalidSku | None:
    """Why ``sku`` cannot be an article number in Specter (as an ``InvalidSku``), or None.

    ``protocol.validate_article_no`` decides (one rule for the shop, the client and the sandbox); this
    adds the words for the shop's admin.
    """
    problem = protocol.validate_article_no(sku or "")
    if problem is None:
        return None
    if not sku:
        return InvalidSku(sku, problem, EMPTY)
    if len(sku) > SKU_MAX_LENGTH:
        return InvalidSku(sku, f"it is {len(sku)} characters long; Specter takes at most {SKU_MAX_LENGTH}", TOO_LONG,
                          length=len(sku), limit=SKU_MAX_LENGTH)
    return InvalidSku(sku, problem, BAD_CHARACTERS)


FORM_SAVES = (".create_view", ".edit_view", ".ajax_update")


def in_admin_form_save() -> bool:
    """True inside Flask-Admin's own create, edit or inline-edit save: those catch a ``ValidationError``
    from the save and show it on the form. A host's own admin page or bulk action may not, so there the
    save goes on (the product recorded as not sent)."""
    if not has_request_context() or request.method != "POST" or not (request.endpoint or "").endswith(FORM_SAVES):
        return False
    from flask_admin.helpers import get_current_view  # a dependency; imported late, as only a save asks

    return get_current_view() is not None


def check_sku(sku: str | None) -> InvalidSku | None:
    """Called when a product is saved: in a Flask-Admin form, raise the problem as the form's error;
    elsewhere return it (or None) and let the save go on, the product recorded as not sent."""
    problem = sku_problem(sku)
    if problem is not None and in_admin_form_save():
        raise problem
    return problem
