"""The headers on the extension's own pages: never framed (no clickjacking of the one-click POST
buttons), never MIME-sniffed. Only the extension's responses get them: the host's pages stay as they are."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response

FRAME_GUARD = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def guard_response(response: Response) -> Response:
    """Add the headers the response does not already set (a host's stricter policy wins)."""
    for name, value in FRAME_GUARD.items():
        response.headers.setdefault(name, value)
    return response


def guarded(rv: Any) -> Response:
    """A view's return value (text, tuple, redirect, Response) as a Response carrying the headers."""
    return guard_response(make_response(rv))
