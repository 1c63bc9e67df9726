"""Typed errors with messages a shop admin can act on.

``transient`` tells the retry logic whether trying again later can help (Specter down, slow, a 5xx) or
whether a person must fix something first (bad credentials, an unknown article).
"""

from __future__ import annotations

from . import protocol


class SpecterError(Exception):
    """Base class of everything the extension raises about Specter."""

    transient = False

    def __init__(self, message: str, *, code: int | None = None, action: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.action = action

    def __str__(self) -> str:
        return self.message


class SpecterConfigError(SpecterError):
    """The extension is not configured well enough to talk to Specter; ``settings`` names the keys to fix."""

    def __init__(self, message: str, *, settings: tuple[str, ...] = (), action: str | None = None):
        super().__init__(message, action=action)
        self.settings = tuple(settings)


class ExplainedError(SpecterError):
    """A stop our own code words for the admin (in Swedish): the message is shown as it is."""


class SpecterEncodingError(SpecterError, ValueError):
    """A value cannot travel as ISO-8859-1, or Specter answered in another encoding."""

    def __init__(self, message: str, *, field: str | None = None, action: str | None = None):
        super().__init__(message, action=action)
        self.field = field


class SpecterTransportError(SpecterError):
    """Specter could not be reached, was too slow, or failed on its side: try again later."""

    transient = True


class SpecterTimeout(SpecterTransportError):
    """Specter did not answer within ``SPECTER_TIMEOUT``."""


class SpecterUnavailable(SpecterTransportError):
    """Connection refused or dropped, or an HTTP 5xx / HTML error page instead of an API answer."""


class SpecterProtocolError(SpecterError):
    """Specter's answer could not be understood (malformed, hostile or oversized): nothing was applied."""


class SpecterApiError(SpecterError):
    """Specter answered ``0;<code>;<message>``."""

    def __init__(self, code: int, message: str, *, action: str | None = None):
        meaning = protocol.ERROR_MEANINGS.get(code)
        text = f"Specter error {code}: {message}" if not meaning else f"Specter error {code} ({meaning}): {message}"
        super().__init__(text, code=code, action=action)
        self.specter_message = message


class SpecterAuthError(SpecterApiError):
    """Codes 10 and 11: the credentials are wrong."""


class SpecterValidationError(SpecterApiError):
    """Code 20: a field is missing or invalid; ``field`` names it when Specter did."""

    def __init__(self, code: int, message: str, *, action: str | None = None):
        super().__init__(code, message, action=action)
        tokens = protocol.quoted_tokens(message)
        self.field = tokens[0] if tokens else None


class SpecterNoRowsError(SpecterValidationError):
    """Code 20 for an order without rows: the order is not complete yet (its lines come in a later
    commit). Transient: the order is sent again once it has lines, never failed for good."""

    transient = True


class SpecterUnknownArticleError(SpecterApiError):
    """Code 21: an articleNo is not in Specter; ``article_no`` quotes it."""

    def __init__(self, code: int, message: str, *, action: str | None = None):
        super().__init__(code, message, action=action)
        tokens = protocol.quoted_tokens(message)
        self.article_no = tokens[0] if tokens else None


class SpecterUnknownCustomerError(SpecterApiError):
    """Code 22."""


class SpecterDuplicateOrderError(SpecterApiError):
    """Code 23: Specter already has this externalOrderNo; ``order_no`` is Specter's existing order."""

    def __init__(self, code: int, message: str, *, action: str | None = None):
        super().__init__(code, message, action=action)
        self.order_no = protocol.quoted_order_no(message)


class SpecterUnknownOrderError(SpecterApiError):
    """Code 24."""


class SpecterOpenBatchError(SpecterApiError):
    """Code 99: an earlier batch is still open on this feed; ``batch_no`` is the open one."""

    def __init__(self, code: int, message: str, *, action: str | None = None, sent: str | None = None):
        super().__init__(code, message, action=action)
        self.batch_no = protocol.quoted_batch_no(message, sent=sent)


_BY_CODE: dict[int, type[SpecterApiError]] = {
    protocol.ERR_INVALID_KEY: SpecterAuthError,
    protocol.ERR_UNKNOWN_ACCOUNT: SpecterAuthError,
    protocol.ERR_INVALID_FIELD: SpecterValidationError,
    protocol.ERR_UNKNOWN_ARTICLE: SpecterUnknownArticleError,
    protocol.ERR_UNKNOWN_CUSTOMER: SpecterUnknownCustomerError,
    protocol.ERR_DUPLICATE_ORDER: SpecterDuplicateOrderError,
    protocol.ERR_UNKNOWN_ORDER: SpecterUnknownOrderError,
}


def api_error(code: int, message: str, *, action: str | None = None, sent_batch: str | None = None) -> SpecterApiError:
    """The typed error for a ``0;<code>;<message>`` answer."""
    if code == protocol.ERR_OPEN_BATCH:
        return SpecterOpenBatchError(code, message, action=action, sent=sent_batch)
    if protocol.is_no_rows_message(code, message):
        return SpecterNoRowsError(code, message, action=action)
    return _BY_CODE.get(code, SpecterApiError)(code, message, action=action)
