"""How the adapter reads the host's values: Decimals from numbers or text, text from anything, "empty"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def dec_or_none(value: Any) -> Decimal | None:
    return None if value is None else dec(value)


def text(value: Any) -> str:
    return str(value) if value else ""


def text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
