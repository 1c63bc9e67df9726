"""Specter's wire format on the server side: latin-1 parameters in, text or XML replies out."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from flask import Response

from ..remote import protocol

TEXT_TYPE = "text/plain; charset=iso-8859-1"
XML_TYPE = "text/xml; charset=iso-8859-1"
XML_DECL = '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
ROOT = "SpecterAPI"


class Params(dict[str, str]):
    """Request parameters with case-insensitive names; remembers the spelling each name arrived with."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        self.spelling: dict[str, str] = {}
        for name, value in pairs:
            self[name] = value

    def __setitem__(self, name: str, value: str) -> None:
        self.spelling.setdefault(name.lower(), name)
        super().__setitem__(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    # only str names (looked up lowered) and str values: narrower than dict.get's generic default
    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)

    def text(self, name: str) -> str:
        """The value trimmed, '' when absent."""
        return (self.get(name) or "").strip()

    def flag(self, name: str) -> bool:
        return self.text(name) in ("1", "true", "True")

    def original_items(self) -> list[tuple[str, str]]:
        return [(self.spelling[k], v) for k, v in dict.items(self)]


def parse_pairs(raw: bytes) -> list[tuple[str, str]]:
    """Decode a query string or form body the way Specter does: latin-1 bytes, percent-encoded."""
    text = raw.decode("latin-1")
    return parse_qsl(text, keep_blank_values=True, encoding="iso-8859-1", errors="replace")


def merge_params(query: bytes, body: bytes, content_type: str) -> Params:
    """Query first, then a form body (which wins on a clash); a stray leading '&' is harmless."""
    pairs = parse_pairs(query)
    ctype = (content_type or "").split(";")[0].strip().lower()
    if body and ctype in ("", "application/x-www-form-urlencoded", "text/plain"):
        pairs += parse_pairs(body)
    return Params(pairs)


def fmt_decimal(value: str | Decimal | None, places: int = 2) -> str:
    """A decimal for Specter's feeds: fixed places and a decimal comma ("199,00")."""
    return protocol.format_decimal(Decimal(str(value or 0)), places).replace(".", ",")


def fmt_number(value: object) -> str:
    """A stock figure or percentage: whole numbers plain, fractions with a decimal comma."""
    dec = Decimal(str(value or 0))
    if dec == dec.to_integral_value():
        return str(int(dec))
    return format(dec.normalize(), "f").replace(".", ",")


def x(text: object) -> str:
    """Element text, XML-escaped."""
    return escape("" if text is None else str(text))


def attr(text: object) -> str:
    """An attribute value with quotes, XML-escaped."""
    return quoteattr("" if text is None else str(text))


@dataclass
class SandboxReply:
    """What an action answers; rendered as text or XML depending on the request."""

    id: str = ""
    message: str = "OK"
    text: str | None = None  # a raw text body (the stock feed rows) instead of 1;id;message
    xml: str = ""  # feed elements placed after <APIresponse>


class ApiError(Exception):
    """A Specter error answer: 0;<code>;<message>."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_CLEAN = re.compile(r"[\r\n;]+")


def _one_line(text: str) -> str:
    # A ';' or line break inside a text-mode message would break the 3-field split on the client.
    return _CLEAN.sub(" ", text).strip()


def encode(body: str) -> bytes:
    return body.encode("iso-8859-1", errors="xmlcharrefreplace")


def text_response(body: str, status: int = 200) -> Response:
    return Response(body.encode("iso-8859-1", errors="replace"), status=status, content_type=TEXT_TYPE)


def xml_response(inner: str, status: int = 200) -> Response:
    return Response(encode(f"{XML_DECL}<{ROOT}>{inner}</{ROOT}>"), status=status, content_type=XML_TYPE)


def api_response(xml: bool, *, reply: SandboxReply | None = None, error: ApiError | None = None) -> Response:
    """Render a success or an error in the format the call asked for."""
    if error is not None:
        if xml:
            return xml_response(
                f"<APIresponse><result>0</result><code>{error.code}</code>"
                f"<message>{x(error.message)}</message></APIresponse>"
            )
        return text_response(f"0;{error.code};{_one_line(error.message)}")
    assert reply is not None
    if xml:
        id_part = f"<id>{x(reply.id)}</id>" if reply.id else ""
        return xml_response(
            f"<APIresponse><result>1</result><code>0</code><message>{x(reply.message)}</message>"
            f"{id_part}</APIresponse>{reply.xml}"
        )
    if reply.text is not None:
        return text_response(reply.text)
    return text_response(f"1;{_one_line(reply.id)};{_one_line(reply.message)}")
