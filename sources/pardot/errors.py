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

from sources.pardot.codes import CODES as PARDOT_CODES
from sources.pardot.codes import HINTS, Kind

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
        hint: what a person must change, for codes that need one (``codes.HINTS``).
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        operation: str,
        url: str,
        http_status: int | None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.operation = operation
        self.url = url
        self.http_status = http_status
        self.hint = hint
        status = f", HTTP {http_status}" if http_status is not None else ""
        text = f"Pardot error {code}: {message}"
        if hint:
            text = f"{hint} ({text})"
        super().__init__(f"{operation}: {text} ({url}{status})")


class ConcurrencyLimitError(PardotApiError):
    """Error 66: more than five requests in flight for the account; retried by the client."""


class VersionMismatchError(PardotApiError, ConfigurationError):
    """Errors 88/89: the business unit needs the other API version.

    The client switches once by itself; raised to its callers, ``api_version`` needs
    setting (a configuration error, exit 2)."""


class AccountSettingError(PardotApiError, ConfigurationError):
    """An administrator must change a setting of the account (e.g. allow this machine's IP
    address): a configuration error (exit 2) whose message names what to change."""


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


class V5UnavailableError(PardotError):
    """API v5 refused the account or the user (HTTP 403 or 404): the v5 feed is skipped,
    the run goes on without it."""


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


@dataclass(frozen=True)
class CodeRule:
    """What one Pardot error code means: the exception it becomes, and whether a later
    attempt of the same request may succeed."""

    error: type[PardotError]
    retried: bool = False


_RULES: Final[dict[Kind, CodeRule]] = {
    Kind.CREDENTIALS: CodeRule(AuthenticationError),
    Kind.ACCOUNT_SETTING: CodeRule(AccountSettingError),
    Kind.DAILY_LIMIT: CodeRule(DailyLimitError),
    Kind.CONCURRENCY: CodeRule(ConcurrencyLimitError, retried=True),
    Kind.TRANSIENT: CodeRule(TransientError, retried=True),
    Kind.VERSION: CodeRule(VersionMismatchError),
    Kind.NOT_FOUND: CodeRule(NotFoundError),
    Kind.WRITE_REFUSED: CodeRule(WriteNotAllowedError),
    Kind.INVALID_REQUEST: CodeRule(InvalidRequestError),
}
"""Each kind of code (``codes.Kind``) as the run acts on it."""
CODES: Final[dict[int, CodeRule]] = {code: _RULES[kind] for code, (_, kind) in PARDOT_CODES.items()}
"""Every documented Pardot error code; any other code is a ``PardotApiError`` that is not
retried. The one place that decides retries by code."""
AUTH_CODES: Final = frozenset(
    code for code, (_, kind) in PARDOT_CODES.items() if kind is Kind.CREDENTIALS
)
RETRIED_CODES: Final = frozenset(code for code, rule in CODES.items() if rule.retried)


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
        return AuthenticationError(f"{operation}: {HINTS[code]} (Pardot: {text})", code=code)
    if rule.error is DailyLimitError:
        return DailyLimitError("api", 0)
    if rule.error is TransientError:
        return TransientError(
            f"{operation}: Pardot error {code}: {text} ({safe_url})", operation=operation, code=code
        )
    assert issubclass(rule.error, PardotApiError)
    return rule.error(
        code, text, operation=operation, url=safe_url, http_status=http_status, hint=HINTS.get(code)
    )
