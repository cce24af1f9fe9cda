"""Credentials and the Salesforce OAuth token flow, as one small ``httpx.Auth``.

Pardot wants ``Authorization: Bearer <token>`` and ``Pardot-Business-Unit-Id`` on every
request, and says a token went stale with HTTP 401 *or* body error 184 (with HTTP 400,
401 or even 200). Doing this inside an httpx auth flow keeps it out of the client's
retry logic: the token request goes through the same client and transport (so tests
script it with the same mock), a stale token costs exactly one refresh and one replay,
and a client shared by a thread pool refreshes once, not once per thread.

Token-endpoint outages (5xx, 429) raise ``TransientError`` and transport errors pass
through unchanged; the client's bounded retry loop retries both, sleeping outside every
lock. Secrets never reach a message, a log record or a repr.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, fields
from typing import Final, Literal

import httpx

from sources.pardot.config import require_secure_url
from sources.pardot.constants import DEFAULT_TOKEN_URL
from sources.pardot.envelope import error_code_in
from sources.pardot.errors import (
    AuthenticationError,
    ConfigurationError,
    TransientError,
    is_retried_status,
    shorten,
)

Mode = Literal["static", "refresh_token", "password"]

_TOKEN_SHAPE: Final = re.compile(r"[\x21-\x7e]+")
"""Printable ASCII without spaces: anything else would break (and echo) the header."""
_SECRET_FIELDS: Final = ("access_token", "client_secret", "refresh_token", "password")
_HOW_TO_CONFIGURE: Final = (
    "set access_token, or client_id + client_secret + refresh_token, or client_id + "
    "client_secret + username + password in [sources.pardot.credentials] or "
    "SOURCES__PARDOT__CREDENTIALS__<KEY>"
)


@dataclass(frozen=True, repr=False)
class Credentials:
    """OAuth credentials for Pardot; the repr shows which fields are set, never values."""

    access_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    username: str | None = None
    password: str | None = None
    token_url: str = DEFAULT_TOKEN_URL

    def _has(self, *names: str) -> bool:
        return all((getattr(self, name) or "").strip() for name in names)

    @property
    def mode(self) -> Mode:
        """How tokens are obtained: a fixed token, the refresh-token grant or the password grant.

        Raises:
            ConfigurationError: no complete set of credentials is configured.
        """
        if self._has("client_id", "client_secret", "refresh_token"):
            return "refresh_token"
        if self._has("client_id", "client_secret", "username", "password"):
            return "password"
        if self._has("access_token"):
            return "static"
        raise ConfigurationError(f"no usable Pardot credentials: {_HOW_TO_CONFIGURE}")

    def validate(self) -> None:
        """Check the credentials are complete and well-formed, without any I/O.

        Raises:
            ConfigurationError: what is missing or malformed, and what to set.
        """
        mode = self.mode
        for name in _SECRET_FIELDS:
            value = getattr(self, name)
            if value and name != "password" and not _TOKEN_SHAPE.fullmatch(value):
                raise ConfigurationError(
                    f"credentials.{name} contains spaces or non-printable characters: "
                    "check it was copied whole"
                )
        if mode != "static":
            require_secure_url(self.token_url, setting="credentials.token_url")

    def secrets(self) -> tuple[str, ...]:
        """The secret values that are set, for scrubbing text before it is shown."""
        return tuple(v for v in (getattr(self, n) for n in _SECRET_FIELDS) if v)

    def __repr__(self) -> str:
        present = [f.name for f in fields(self) if f.name != "token_url" and getattr(self, f.name)]
        return f"Credentials(set={present}, token_url={self.token_url!r})"

    __str__ = __repr__


class PardotAuth(httpx.Auth):
    """Sets Pardot's two headers, obtains tokens lazily and refreshes once when told.

    One instance is shared by all threads of a client. Constructing it does no I/O.

    Attributes:
        token_refreshes: tokens obtained from the token endpoint (first one included).
    """

    requires_response_body = True

    def __init__(
        self,
        credentials: Credentials,
        business_unit_id: str,
        *,
        before_request: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        """Create the auth flow.

        Args:
            credentials: validated here; a static access token is used as is.
            business_unit_id: sent as ``Pardot-Business-Unit-Id``.
            before_request: called with each API request (not token requests) just
                before it is sent, replays included; it may raise to stop the send.
        """
        credentials.validate()
        self._credentials = credentials
        self._mode = credentials.mode
        self._business_unit_id = business_unit_id
        self._before_request = before_request
        self._lock = threading.Lock()
        self._token: str | None = credentials.access_token or None
        self._refresh_token = credentials.refresh_token
        self.token_refreshes = 0

    @property
    def mode(self) -> Mode:
        """The credentials' mode (see ``Credentials.mode``)."""
        return self._mode

    def __repr__(self) -> str:
        return f"PardotAuth(mode={self._mode!r}, token_refreshes={self.token_refreshes})"

    def redact(self, text: str) -> str:
        """Replace every known secret (configured or obtained) in a text with ``***``."""
        for secret in (*self._credentials.secrets(), self._token, self._refresh_token):
            if secret:
                text = text.replace(secret, "***")
        return text

    @staticmethod
    def is_token_rejection(response: httpx.Response) -> bool:
        """Tell whether Pardot rejected the token: body error 184 at any status, or HTTP
        401 without another Pardot error in the body (the body wins over the status)."""
        code = error_code_in(response.content)
        return code == 184 or (response.status_code == 401 and code is None)

    def rejection_message(self, operation: str) -> str:
        """The AuthenticationError text for a token still rejected after this flow ran."""
        if self._mode == "static":
            return (
                f"{operation}: access token rejected (184/401): refresh it or configure "
                "client_id/client_secret/refresh_token"
            )
        return (
            f"{operation}: access token rejected (184/401) even right after a refresh: check "
            "the connected app has the pardot_api scope and the user is SSO-enabled for Pardot"
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Not supported: the flow holds a threading lock, so it is synchronous only."""
        raise RuntimeError("PardotAuth supports synchronous httpx clients only")

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Authenticate ``request``, refreshing the token once and replaying if rejected.

        A request refreshes at most once itself. When its replay used a token another
        thread had just obtained, and that one is rejected too (it may have expired while
        this request waited), the request still gets its own one refresh.
        """
        token = self._token
        if token is None:
            token, _ = yield from self._obtain_token(stale=None)
        response = yield self._prepare(request, token)
        response.read()
        if self._mode == "static" or not self.is_token_rejection(response):
            return
        token, refreshed_here = yield from self._obtain_token(stale=token)
        if not refreshed_here:
            response = yield self._prepare(request, token)
            response.read()
            if not self.is_token_rejection(response):
                return
            token, _ = yield from self._obtain_token(stale=token)
        # The replay's response is final: rejected again, the client raises.
        yield self._prepare(request, token)

    def _prepare(self, request: httpx.Request, token: str) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {token}"
        request.headers["Pardot-Business-Unit-Id"] = self._business_unit_id
        if self._before_request is not None:
            self._before_request(request)
        return request

    def _obtain_token(
        self, *, stale: str | None
    ) -> Generator[httpx.Request, httpx.Response, tuple[str, bool]]:
        """(a token newer than ``stale``, whether this call fetched it)."""
        # The lock is held across the token request on purpose: threads that met the same
        # stale token wait here and then reuse the new one. httpx closes this generator
        # on any error, which releases the lock.
        with self._lock:
            current = self._token
            if current is not None and current != stale:
                return current, False
            response = yield self._token_request()
            response.read()
            token = self._token_from(response)
            self._token = token
            self.token_refreshes += 1
            return token, True

    def _token_request(self) -> httpx.Request:
        creds = self._credentials
        form = {"grant_type": self._mode, "client_id": creds.client_id or ""}
        form["client_secret"] = creds.client_secret or ""
        if self._mode == "refresh_token":
            form["refresh_token"] = self._refresh_token or ""
        else:
            form["username"] = creds.username or ""
            form["password"] = creds.password or ""
        return httpx.Request(
            "POST", creds.token_url, data=form, headers={"Accept": "application/json"}
        )

    def _token_from(self, response: httpx.Response) -> str:
        status = response.status_code
        if is_retried_status(status):
            raise TransientError(
                f"token endpoint unavailable (HTTP {status})", operation="token", code=None
            )
        try:
            payload = json.loads(response.content)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            payload = {}
        if status != 200:
            error = self.redact(shorten(str(payload.get("error", "no error code")), 80))
            detail = self.redact(shorten(str(payload.get("error_description", "")), 200))
            raise AuthenticationError(
                f"token endpoint rejected the {self._mode} grant (HTTP {status}): {error}: "
                f"{detail or 'no description'}; {self._hint()}"
            )
        token = payload.get("access_token")
        if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
            raise AuthenticationError(
                "token endpoint answered HTTP 200 without a usable access_token; "
                "check token_url points at the Salesforce OAuth token endpoint"
            )
        rotated = payload.get("refresh_token")
        if isinstance(rotated, str) and _TOKEN_SHAPE.fullmatch(rotated):
            self._refresh_token = rotated
        return token

    def _hint(self) -> str:
        if self._mode == "refresh_token":
            what = "client_id, client_secret and refresh_token"
        else:
            what = "client_id, client_secret, username and password"
        return (
            f"check {what}, and token_url (https://test.salesforce.com/services/oauth2/token "
            "for sandboxes)"
        )
