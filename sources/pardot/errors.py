"""The connector's one exception tree, and the map from Pardot error codes to it.

Callers (the sync logic, the CLI) decide what to do by exception class alone: fix the
configuration (exit 2), stop for the day (exit 75), retry later, or report a bug. So
every failure the client or the parser can meet is translated into exactly one of these
classes, at one boundary, and every message is safe to log: it names the operation, the
Pardot code and a redacted URL, never a token, secret, password or a response body.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from sources.pardot.constants import SANDBOX_BASE_URL

MAX_MESSAGE_CHARS: Final = 300
"""Pardot's own error texts are short; anything longer is cut, never echoed whole."""


class PardotError(Exception):
    """Base of every error raised by the connector; its message is safe to log."""


class ConfigurationError(PardotError):
    """Missing or malformed settings or credentials, found before any request."""


class AuthenticationError(PardotError):
    """Credentials were rejected; the message says what to fix.

    Attributes:
        code: the Pardot error code, or None for token-endpoint and HTTP 401 failures.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class PardotApiError(PardotError):
    """Pardot answered ``stat="fail"`` with a code that has no more specific class.

    Attributes:
        code: the ``<err code>`` of the response.
        message: Pardot's error text (shortened, with the ``param`` of code 10000).
        operation: the operation that failed, e.g. ``query``.
        url: the request URL, redacted to path and parameter names.
        http_status: the HTTP status of the response, if there was one.
    """

    def __init__(
        self, code: int, message: str, *, operation: str, url: str, http_status: int | None
    ) -> None:
        self.code = code
        self.message = message
        self.operation = operation
        self.url = url
        self.http_status = http_status
        status = f", HTTP {http_status}" if http_status is not None else ""
        super().__init__(f"{operation}: Pardot error {code}: {message} ({url}{status})")


class ConcurrencyLimitError(PardotApiError):
    """Error 66: more than five requests in flight for the account; retried by the client."""


class VersionMismatchError(PardotApiError):
    """Errors 88/89: the business unit needs the other API version."""


class NotFoundError(PardotApiError):
    """Error 35: no (live) opportunity with that id."""


class InvalidRequestError(PardotApiError):
    """A validation or parameter error: the request itself is wrong."""


class WriteNotAllowedError(PardotApiError):
    """Errors 37/59: a CRM connector makes opportunities read-only."""


class DailyLimitError(PardotError):
    """The run must stop for today: Pardot's daily limit (122) or the configured budget.

    Attributes:
        reason: ``"api"`` for Pardot's error 122, ``"budget"`` for the configured budget.
        requests_made: API requests this client made before stopping.
    """

    def __init__(self, reason: Literal["api", "budget"], requests_made: int) -> None:
        self.reason = reason
        self.requests_made = requests_made
        if reason == "api":
            text = "Pardot's daily API request limit was met (error 122)"
        else:
            text = "the configured daily_request_budget was reached"
        super().__init__(f"{text} after {requests_made} requests: run again later")


class TransientError(PardotError):
    """A failure worth retrying (5xx, timeouts, resets, 183/202/214).

    The client raises it to its callers only once its retries are exhausted.

    Attributes:
        operation: the operation that failed.
        attempts: how many attempts were made.
        code: the Pardot error code, if the failure was a body error.
    """

    def __init__(
        self, message: str, *, operation: str, attempts: int = 1, code: int | None = None
    ) -> None:
        self.operation = operation
        self.attempts = attempts
        self.code = code
        super().__init__(message)


class MalformedResponseError(PardotError):
    """The response is not a usable Pardot XML document; the body is never echoed.

    Attributes:
        operation: the operation whose response it was.
        http_status: the HTTP status of the response.
        content_type: the response's Content-Type header, if any.
        retriable: True when a retry may help (an HTML proxy page, a truncated or empty
            body); False for documents that will not change (a DTD, a wrong root).
    """

    def __init__(
        self,
        reason: str,
        *,
        operation: str,
        http_status: int | None,
        content_type: str | None = None,
        retriable: bool = False,
    ) -> None:
        self.reason = reason
        self.operation = operation
        self.http_status = http_status
        self.content_type = content_type
        self.retriable = retriable
        super().__init__(
            f"{operation}: malformed response ({reason}; HTTP {http_status}, "
            f"content type {content_type or 'unknown'})"
        )


class DataError(PardotError):
    """A value in a response cannot be given its column's type.

    Attributes:
        opportunity_id: the opportunity the value belongs to, if known.
        field: the element or column name.
        value: the offending text (shortened in the message).
        reason: why it cannot be typed.
    """

    def __init__(self, opportunity_id: int | None, field: str, value: str, reason: str) -> None:
        self.opportunity_id = opportunity_id
        self.field = field
        self.value = value
        self.reason = reason
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"opportunity {opportunity_id}: field {field!r} value {shown!r}: {reason}")


_AUTH_HINTS: Final[dict[int, str]] = {
    1: "invalid API key or user key (legacy auth): configure OAuth credentials instead",
    15: "login failed (legacy auth): configure OAuth credentials instead",
    46: "the API user lacks permissions: grant it access to opportunities in Pardot",
    49: "access denied: check the user is SSO-enabled for Pardot and the connected app "
    "has the pardot_api scope",
    76: "API access is disabled for this account: ask the Pardot admin to enable it",
    126: "invalid authentication mechanism: use OAuth (access_token, refresh_token or "
    "password flow)",
    131: "the account is locked after failed logins: unlock it in Salesforce",
    181: "a required header is missing: check business_unit_id is set",
    182: "invalid header value: check business_unit_id (18 characters, starting 0Uv)",
    184: "access token rejected (184): refresh it or configure "
    "client_id/client_secret/refresh_token",
    196: "invalid authentication mechanism: use OAuth (access_token, refresh_token or "
    "password flow)",
    199: "api_key authentication is no longer supported: configure OAuth credentials",
    201: "business unit id not found or inactive: check business_unit_id and whether "
    f"base_url should be the sandbox host {SANDBOX_BASE_URL}",
}
_INVALID_REQUEST_CODES: Final = (
    *(2, 3, 4, 5, 7, 8, 13, 16, 17, 19, 20, 21, 22, 23, 36, 38),
    *(40, 41, 42, 43, 44, 50, 60, 192, 10000),
)


@dataclass(frozen=True)
class CodeRule:
    """What one Pardot error code means: the exception it becomes, and whether a later
    attempt of the same request may succeed."""

    error: type[PardotError]
    retried: bool = False


CODES: Final[dict[int, CodeRule]] = {
    **dict.fromkeys(_AUTH_HINTS, CodeRule(AuthenticationError)),
    122: CodeRule(DailyLimitError),
    66: CodeRule(ConcurrencyLimitError, retried=True),
    **dict.fromkeys((183, 202, 214), CodeRule(TransientError, retried=True)),
    **dict.fromkeys((88, 89), CodeRule(VersionMismatchError)),
    35: CodeRule(NotFoundError),
    **dict.fromkeys((37, 59), CodeRule(WriteNotAllowedError)),
    **dict.fromkeys(_INVALID_REQUEST_CODES, CodeRule(InvalidRequestError)),
}
"""Every Pardot error code the connector treats deliberately; any other code is a
``PardotApiError`` that is not retried. The one place that decides retries by code."""
AUTH_CODES: Final = frozenset(_AUTH_HINTS)
RETRIED_CODES: Final = frozenset(code for code, rule in CODES.items() if rule.retried)
"""Concurrency (66), internal error (183), rate (202) and timeout (214)."""


def is_retried_status(status: int) -> bool:
    """Whether an HTTP status alone says a later attempt may succeed: rate limiting
    (429) and server errors (5xx)."""
    return status == 429 or status >= 500


def is_retried_unreadable(status: int) -> bool:
    """Whether a body that is not Pardot's XML (HTML, empty, truncated) may read better on a
    later attempt: not when it came with a 4xx, which will not change."""
    return not 400 <= status < 500


def is_retried(error: PardotError) -> bool:
    """Whether a later attempt of the request that raised ``error`` may succeed."""
    if isinstance(error, MalformedResponseError):
        return error.retriable
    return isinstance(error, PardotApiError | TransientError) and error.code in RETRIED_CODES


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Collapse whitespace and cut a remote text so it stays a one-line log message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def redact_url(url: str, param_names: Iterable[str] = ()) -> str:
    """Reduce a URL to its path and parameter names, for messages and logs.

    Query values are dropped, and so is the value of a ``prospect_email`` path segment.

    Args:
        url: the URL (absolute or a path) as sent.
        param_names: names of form-body parameters to list after the query's names.

    Returns:
        e.g. ``/api/opportunity/version/3/do/query?limit&sort_by``.
    """
    parts = urlsplit(url)
    segments = parts.path.split("/")
    for index, segment in enumerate(segments[:-1]):
        if segment == "prospect_email":
            segments[index + 1] = "***"
    names = [pair.split("=", 1)[0] for pair in parts.query.split("&") if pair]
    names += [name for name in param_names if name not in names]
    query = "?" + "&".join(names) if names else ""
    return "/".join(segments) + query


def error_for_code(
    code: int, message: str, *, operation: str, url: str, http_status: int | None
) -> PardotError:
    """Map a Pardot ``<err code>`` to the exception that says what happened.

    Args:
        code: the Pardot error code.
        message: Pardot's error text.
        operation: the operation that failed.
        url: the request URL; redacted here again, so a raw URL is safe too.
        http_status: the HTTP status of the response, if any.

    Returns:
        The exception to raise (not raised here, so callers can decide to retry).
    """
    text = shorten(message)
    safe_url = redact_url(url)
    rule = CODES.get(code, CodeRule(PardotApiError))
    if rule.error is AuthenticationError:
        return AuthenticationError(f"{operation}: {_AUTH_HINTS[code]} (Pardot: {text})", code=code)
    if rule.error is DailyLimitError:
        return DailyLimitError("api", 0)
    if rule.error is TransientError:
        return TransientError(
            f"{operation}: Pardot error {code}: {text} ({safe_url})", operation=operation, code=code
        )
    assert issubclass(rule.error, PardotApiError)
    return rule.error(code, text, operation=operation, url=safe_url, http_status=http_status)
