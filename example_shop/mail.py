"""The shop's order confirmation, unless Specter sends it ("Skicka orderbekräftelse från SBM").

A demo shop has no SMTP: "sending" is a log line. What matters is the rule: with ``send_order_mail``
on, the customer must get exactly one confirmation, and it comes from Specter.
"""

from __future__ import annotations

import logging

from flask_specter.state import get_state

log = logging.getLogger("example_shop.mail")

SPECTER = "specter"
SHOP = "shop"


def confirmation_sender() -> str:
    """``"specter"`` when Specter e-mails the order confirmation, else ``"shop"``."""
    return SPECTER if get_state().settings.get("send_order_mail") else SHOP


def send_order_confirmation(order) -> str:
    """Send (log) the shop's confirmation, or skip it when Specter sends one; returns who sends it."""
    sender = confirmation_sender()
    if sender == SPECTER:
        log.info("order %s: confirmation is sent by Specter (send_order_mail is on); the shop sends none", order.number)
    else:
        email = order.customer.email if order.customer else "?"
        log.info("order %s: shop confirmation to %s (demo: logged, not mailed)", order.number, email)
    return sender
