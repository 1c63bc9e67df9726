"""What keeps the sandbox a local tool: it has no authentication, so nothing but this machine's own
programs and browser may drive it.

- Binding: loopback only, unless the operator says ``--allow-remote`` (``loopback``).
- DNS rebinding: a web page whose name starts resolving to 127.0.0.1 reaches the port, but its browser
  still sends its own name as ``Host``. The page and the hooks answer only a loopback name with this
  server's port, or a name given in ``SANDBOX_ALLOWED_HOSTS`` (``--allow-host``) (``known_host``).
- Hooks take POSTs only as ``application/json``: a browser cannot send that cross-site without a CORS
  preflight, which the sandbox never grants (``json_only``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from flask import abort, request

from .state import get_sandbox

WARNING = (
    "The sandbox is a development and test tool: it has no authentication and its hooks change its data "
    "for anyone who reaches the port. Never expose it to a network you do not control."
)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> tuple[str, str | None]:
    """``"[::1]:8099"`` -> (``"::1"``, ``"8099"``); ``"localhost"`` -> (``"localhost"``, None)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else None
    if value.count(":") == 1:
        name, _, port = value.partition(":")
        return name, port
    return value, None


def host_allowed(host_header: str, server_port: str, allowed: Iterable[str] = ()) -> bool:
    """A loopback name with this server's port (80 when none is given), or an explicitly allowed name."""
    name, port = _split_host(host_header)
    extra = {h.strip().lower() for h in allowed if h and h.strip()}
    if host_header.strip().lower() in extra or name in extra:
        return True
    return name in ("localhost", "127.0.0.1", "::1") and (port or "80") == str(server_port)


def known_host() -> None:
    """Refuse (403) a request whose ``Host`` is neither loopback on this port nor explicitly allowed."""
    if request.endpoint in ("get_info", "put_info"):  # Specter's own scripts: signed, open as in Specter
        return
    allowed: Any = get_sandbox().config.get("SANDBOX_ALLOWED_HOSTS") or ()
    if isinstance(allowed, str):
        allowed = allowed.split(",")
    if not host_allowed(request.headers.get("Host", ""), request.environ.get("SERVER_PORT", ""), allowed):
        abort(403, "unknown Host: the sandbox answers localhost/127.0.0.1/[::1] on its own port (or --allow-host)")


def json_only() -> None:
    """A hook's POST must say ``Content-Type: application/json`` (415 otherwise)."""
    if request.method == "POST" and request.mimetype != "application/json":
        abort(415, "send the body as JSON (Content-Type: application/json)")
