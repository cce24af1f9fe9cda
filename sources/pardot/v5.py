"""API v5's opportunity query: one page of its JSON answer, or the error it means.

v5 answers JSON, ``{"values": [...], "nextPageToken": ...}``, and says what went wrong
with a real HTTP status and ``{"code": N, "message": "..."}``: a token Pardot rejected
(401, code 184) is refreshed by the auth flow before this reads the answer; the daily
limit is 429 with code 122 (one count with v3/v4); 429 otherwise, and 5xx, are retried;
403 and 404 mean the account or the user has no v5 (``V5UnavailableError``: the run goes
on without the v5 feed); any other status is a request error that names the code. A page
that ends a token chain at its cap says so in the ``Pardot-Warning: 203`` header.

Timestamps arrive ISO-8601 with the account's offset; they are kept as aware UTC.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from .auth import PardotAuth
from .constants import V5_CHAIN_CAP_WARNING
from .errors import (
    AuthenticationError,
    DailyLimitError,
    MalformedResponseError,
    PardotError,
    V5UnavailableError,
    error_for_code,
    is_retried_status,
    shorten,
)
from .retry import Retryable, retry_after

DAILY_LIMIT_CODE = 122
CONCURRENCY_CODE = 66


@dataclass(frozen=True)
class V5Page:
    """One page of opportunities, each as (id, ``updatedAt``)."""

    updates: list[tuple[int, datetime]]
    next_token: str | None
    capped: bool
    """The token chain ended at its cap: more may match after the last ``updatedAt``."""


def read_v5_page(
    response: httpx.Response,
    shown: str,
    *,
    operation: str,
    auth: PardotAuth,
    requests_made: Callable[[], int],
) -> V5Page:
    """The page in ``response``, or the connector's error for it (``Retryable`` for what
    a later attempt may not meet)."""
    status = response.status_code
    if PardotAuth.is_token_rejection(response):
        raise AuthenticationError(auth.rejection_message(operation), code=184)
    if status == 200:
        return _page(response, operation)
    code, message = _error(response)
    if status in (403, 404):
        said = f"code {code}: {shorten(message)}" if code is not None else f"HTTP {status}"
        raise V5UnavailableError(
            f"{operation}: API v5 is not available to this account or API user ({said})"
        )
    if code == DAILY_LIMIT_CODE:
        raise DailyLimitError("api", requests_made())
    if code == CONCURRENCY_CODE or is_retried_status(status):
        raise Retryable(f"HTTP {status}", retry_after(response), None)
    if code is None:
        raise PardotError(f"{operation}: HTTP {status} ({shown})")
    raise error_for_code(code, message, operation=operation, url=shown, http_status=status)


def _page(response: httpx.Response, operation: str) -> V5Page:
    try:
        document = json.loads(response.content)
        values = document["values"]
        updates = [(_id(v["id"]), _instant(v["updatedAt"])) for v in values]
        token = document.get("nextPageToken") or None
        if token is not None and not isinstance(token, str):
            raise TypeError("nextPageToken is not text")
    except (ValueError, KeyError, TypeError) as exc:
        failure = MalformedResponseError(
            f"not a v5 page of opportunities ({type(exc).__name__})",
            operation=operation,
            http_status=response.status_code,
            content_type=response.headers.get("content-type"),
            retriable=True,
        )
        raise Retryable(failure.reason, None, failure) from exc
    warning = response.headers.get("pardot-warning", "")
    return V5Page(updates, token, capped=warning.strip().startswith(V5_CHAIN_CAP_WARNING))


def _id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("id is not an integer")
    return value


def _instant(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError("updatedAt is not text")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("updatedAt has no offset")
    return moment.astimezone(UTC)


def _error(response: httpx.Response) -> tuple[int | None, str]:
    """``code`` and ``message`` of a v5 error body, where it is one."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    message = body.get("message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message if isinstance(message, str) else "",
    )
