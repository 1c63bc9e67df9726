"""What a product SKU must be to travel as Specter's ``articleNo``, checked when the product is saved.

Specter refuses an articleNo over 50 characters or holding ``;``, a tab or a line break, and a refusal
in the outbox is permanent. So the extension refuses such a SKU in the shop's own save (the session's
``before_flush``), with a message the shop can show: ``InvalidSku`` is a ``ValueError`` that a host
turns into a form error or an HTTP 400. Every column that holds a SKU is at least ``SKU_MAX_LENGTH``.
"""

from __future__ import annotations

from .remote import protocol

SKU_MAX_LENGTH = protocol.ARTICLE_NO_MAX


class InvalidSku(ValueError):
    """A SKU Specter cannot take as an article number; ``message_sv`` says why, in Swedish."""

    def __init__(self, sku: str | None, problem: str, problem_sv: str):
        super().__init__(f"SKU {sku!r} cannot be used as a Specter article number: {problem}")
        self.sku = sku
        self.problem = problem
        self.message_sv = f"Artikelnumret (SKU) kan inte användas i Specter: {problem_sv}"


def sku_problem(sku: str | None) -> InvalidSku | None:
    """Why ``sku`` cannot be an article number in Specter (as an ``InvalidSku``), or None.

    ``protocol.validate_article_no`` decides (one rule for the shop, the client and the sandbox); this
    adds the words for the shop's admin.
    """
    problem = protocol.validate_article_no(sku or "")
    if problem is None:
        return None
    if not sku:
        return InvalidSku(sku, problem, "det är tomt.")
    if len(sku) > SKU_MAX_LENGTH:
        return InvalidSku(
            sku,
            f"it is {len(sku)} characters long; Specter takes at most {SKU_MAX_LENGTH}",
            f"det är {len(sku)} tecken långt, Specter tar högst {SKU_MAX_LENGTH} tecken.",
        )
    return InvalidSku(sku, problem, "det innehåller tecken som Specter inte tar emot (semikolon, tabb, radbrytning).")


def check_sku(sku: str | None) -> str:
    """``sku`` unchanged, or raise ``InvalidSku``."""
    problem = sku_problem(sku)
    if problem is not None:
        raise problem
    return sku  # type: ignore[return-value]
