"""Input checks for the JSON API: each returns the clean value or raises ``ApiError`` (a 400 by default)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_specter.sku import sku_problem

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SKU = re.compile(r"^[^\s\x00-\x1f\x7f;]+$")  # Specter's text protocol uses ';' as separator
_INTEGER = re.compile(r"-?[0-9]{1,12}", re.ASCII)  # ASCII digits only: int() also takes "²"-like digits
INT_MAX = 2**31 - 1  # the database's INTEGER
MISSING = object()


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400, **details: Any):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details


def text(body: dict, key: str, *, max_len: int, required: bool = False, default: Any = None, empty_is_none: bool = True) -> Any:
    value = body.get(key, MISSING)
    if value is MISSING or value is None:
        if required:
            raise ApiError(f"{key} is required")
        return None if value is None else default
    if not isinstance(value, str):
        raise ApiError(f"{key} must be a string")
    value = value.strip()
    if _CONTROL.search(value):
        raise ApiError(f"{key} must not contain control characters")
    if len(value) > max_len:
        raise ApiError(f"{key} is longer than {max_len} characters")
    if not value:
        if required:
            raise ApiError(f"{key} must not be empty")
        return None if empty_is_none else ""
    return value


def sku(value: Any, key: str = "sku") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(f"{key} must be a non-empty string")
    value = value.strip()
    if len(value) > 100 or not _SKU.match(value):
        raise ApiError(f"{key} {value!r} is not a valid SKU (at most 100 characters, no spaces or ';')")
    problem = sku_problem(value)  # Specter's rule (50 characters): refused here, before anything is saved
    if problem is not None:
        raise ApiError(problem.english, sku=value, error_sv=problem.message_sv)
    return value


def email(value: Any, key: str = "email") -> str:
    if not isinstance(value, str) or len(value.strip()) > 254 or _CONTROL.search(value) or not _EMAIL.match(value.strip()):
        raise ApiError(f"{key} must be an e-mail address")
    return value.strip().lower()


def decimal(value: Any, key: str, *, places: int = 2, minimum: Decimal | None = Decimal("0"), maximum: Decimal | None = None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ApiError(f'{key} must be a decimal number (a JSON number or a string like "199.00")')
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ApiError(f"{key} must be a decimal number, not {value!r}") from None
    if not number.is_finite():
        raise ApiError(f"{key} must be a finite number")
    if number and number.adjusted() >= 9:  # before any arithmetic: "1E+1000000" overflows the context (decimal.Overflow)
        raise ApiError(f"{key} is too large")
    if minimum is not None and number < minimum:
        raise ApiError(f"{key} must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise ApiError(f"{key} must be at most {maximum}")
    if number.as_tuple().exponent < -places:
        raise ApiError(f"{key} has more than {places} decimals")
    if abs(number) >= Decimal(10) ** 9:
        raise ApiError(f"{key} is too large")
    return number.quantize(Decimal(1).scaleb(-places))


def integer(value: Any, key: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ApiError(f"{key} must be an integer")
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value.strip()):
            raise ApiError(f"{key} must be an integer written with the digits 0-9 (at most 12)")
        value = int(value.strip())
    if minimum is not None and value < minimum:
        raise ApiError(f"{key} must be at least {minimum}")
    if abs(value) > INT_MAX:
        raise ApiError(f"{key} is too large")
    return value


def record_id(text: str) -> int | None:
    """A database id from a URL part, or None when it is not one (too long, not ASCII digits)."""
    if _INTEGER.fullmatch(text) and not text.startswith("-") and int(text) <= INT_MAX:
        return int(text)
    return None


def boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ApiError(f"{key} must be true or false")
    return value


def country(value: Any, key: str = "country") -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2}", value.strip()):
        raise ApiError(f"{key} must be a two-letter country code like SE")
    return value.strip().upper()


def only_known(body: dict, allowed: set[str]) -> None:
    """Unknown keys are a mistake worth telling the caller about, not something to drop silently."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
