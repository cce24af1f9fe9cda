"""PardotClient: the six Opportunity operations over httpx, with Pardot's failure modes.

Everything between "call an operation" and "here is the parsed ``<rsp>`` tree" lives
here: URL building (parameters are checked in ``params.py``), the concurrency gate
(Pardot allows five requests in flight per account), the request budget, bounded
retries with jittered backoff (5xx, 429, timeouts, resets, truncated or HTML bodies,
body codes 66/183/202/214), the one-time API version switch on 88/89, and the
translation of every third-party exception into ``errors.py``'s tree. The token flow
lives in ``auth.py``; the XML is parsed exactly once, in ``envelope.py``. One client may
be shared by a thread pool.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Final, Self
from urllib.parse import quote

import httpx
from lxml import etree

from sources.pardot.auth import Credentials, PardotAuth, require_secure_url
from sources.pardot.constants import (
    API_VERSIONS,
    BUSINESS_UNIT_ID_LENGTH,
    BUSINESS_UNIT_ID_PREFIX,
    MAX_CONCURRENCY,
    OPPORTUNITY_PATH,
    QUERY_OUTPUTS,
)
from sources.pardot.envelope import parse_document
from sources.pardot.errors import (
    AuthenticationError,
    ConcurrencyLimitError,
    ConfigurationError,
    DailyLimitError,
    MalformedResponseError,
    PardotError,
    TransientError,
    VersionMismatchError,
    redact_url,
    shorten,
)
from sources.pardot.params import form_fields, positive_id, query_params

logger = logging.getLogger(__name__)

RETRY_AFTER_CAP: Final = 600.0
"""Longest sleep a ``Retry-After`` header can ask for; beyond it we would rather fail."""
_OPERATION_IN_PATH: Final = re.compile(r"/do/([a-z]+)")
_BUSINESS_UNIT_SHAPE: Final = re.compile(r"[0-9A-Za-z]+")


class _Retry(Exception):
    """An attempt failed in a way a later attempt may not; carries what to raise at the end."""

    def __init__(self, reason: str, retry_after: float | None, final: PardotError | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.final = final


class PardotClient:
    """A thread-safe client for ``/api/opportunity/version/{3,4}/do/{operation}``."""

    def __init__(
        self,
        *,
        base_url: str,
        business_unit_id: str,
        credentials: Credentials,
        api_version: int = 3,
        http: httpx.Client | None = None,
        timeout: float = 120.0,
        max_retries: int = 6,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_concurrency: int = 4,
        request_budget: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """Check the configuration and build the client; no network I/O happens here.

        Args:
            base_url: API host, https (http only on a loopback host, e.g. the emulator).
            business_unit_id: 18 characters starting ``0Uv``.
            credentials: see ``Credentials``; validated here.
            api_version: 3 or 4; switched once automatically on error 88/89.
            http: an httpx client to use as is (tests inject transports); by default one
                is created (TLS verified, ``timeout`` seconds) and closed by ``close()``.
            timeout: seconds per request for the client created here.
            max_retries: retries after the first attempt of each call.
            backoff_initial: first backoff ceiling in seconds, doubled per retry.
            backoff_max: largest backoff ceiling in seconds.
            max_concurrency: requests in flight, 1-5 (Pardot's per-account limit is 5).
            request_budget: stop with DailyLimitError(reason="budget") after this many
                requests; None for no budget.
            sleep: called with each backoff delay (tests inject a recorder).
            rng: randomness for the jitter (tests inject a seeded one).

        Raises:
            ConfigurationError: any setting or credential is missing or malformed.
        """
        self._base_url = str(require_secure_url(base_url, setting="base_url")).rstrip("/")
        if (
            len(business_unit_id) != BUSINESS_UNIT_ID_LENGTH
            or not business_unit_id.startswith(BUSINESS_UNIT_ID_PREFIX)
            or not _BUSINESS_UNIT_SHAPE.fullmatch(business_unit_id)
        ):
            raise ConfigurationError(
                f"business_unit_id must be {BUSINESS_UNIT_ID_LENGTH} letters and digits starting "
                f"{BUSINESS_UNIT_ID_PREFIX!r} (Salesforce Setup > Account Engagement > "
                "Business Unit Setup)"
            )
        if api_version not in API_VERSIONS:
            raise ConfigurationError(f"api_version must be 3 or 4, not {api_version!r}")
        if not 1 <= max_concurrency <= MAX_CONCURRENCY:
            raise ConfigurationError(
                f"max_concurrency must be 1-{MAX_CONCURRENCY}: Pardot allows "
                f"{MAX_CONCURRENCY} requests in flight per account"
            )
        if max_retries < 0 or backoff_initial < 0 or backoff_max < 0:
            raise ConfigurationError("max_retries and backoff times must not be negative")
        if request_budget is not None and request_budget < 0:
            raise ConfigurationError("daily_request_budget must not be negative")
        self._auth = PardotAuth(credentials, business_unit_id, before_request=self._count)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._max_retries = max_retries
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._budget = request_budget
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._gate = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self._api_version = api_version
        self._version_switched = False
        self._request_count = 0
        self._by_operation: dict[str, int] = {}

    def __repr__(self) -> str:
        return (
            f"PardotClient(base_url={self._base_url!r}, api_version={self._api_version}, "
            f"auth={self._auth!r}, requests={self._request_count})"
        )

    def limit_requests(self, budget: int | None) -> None:
        """Allow at most ``budget`` more API requests from now on (None: no limit)."""
        with self._lock:
            self._budget = None if budget is None else self._request_count + budget

    @property
    def request_count(self) -> int:
        """API requests sent so far (retries and replays included, token requests not)."""
        with self._lock:
            return self._request_count

    @property
    def requests_by_operation(self) -> dict[str, int]:
        """A copy of ``request_count`` split by operation name."""
        with self._lock:
            return dict(self._by_operation)

    @property
    def api_version(self) -> int:
        """The API version in use; it may have switched once after error 88/89."""
        with self._lock:
            return self._api_version

    @property
    def auth(self) -> PardotAuth:
        """The shared auth flow (exposes ``token_refreshes``)."""
        return self._auth

    def query(self, **params: str | int) -> etree._Element:
        """Run ``do/query`` with the seed's parameters and return its ``<result>`` element.

        Raises:
            ValueError: an unknown parameter name or an out-of-range value (nothing sent).
        """
        root = self._call("query", "GET", "", query_params(params))
        return _child(root, "result", "query")

    def read(self, opportunity_id: int, *, output: str = "full") -> etree._Element:
        """Run ``do/read/id/{id}`` and return the ``<opportunity>`` element.

        Raises:
            NotFoundError: no live opportunity with that id (error 35).
        """
        if output not in QUERY_OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(QUERY_OUTPUTS)}")
        suffix = f"/id/{positive_id(opportunity_id, 'opportunity_id')}"
        return _child(self._call("read", "GET", suffix, {"output": output}), "opportunity", "read")

    def create(
        self,
        *,
        name: str,
        value: float | int | str,
        probability: int,
        prospect_email: str | None = None,
        prospect_id: int | None = None,
        **fields: str | int | float | None,
    ) -> etree._Element:
        """Create an opportunity for a prospect (by email, by id, or both) and return it.

        With both, the email goes in the path and the id in the form; Pardot checks they
        name the same prospect (error 44). ``fields`` may hold any other editable field;
        None values are left out.
        """
        form = form_fields({"name": name, "value": value, "probability": probability, **fields})
        if prospect_email is None and prospect_id is None:
            raise ValueError("create needs prospect_email or prospect_id")
        suffix = ""
        if prospect_id is not None:
            pid = positive_id(prospect_id, "prospect_id")
            form["prospect_id"] = str(pid)
        if prospect_email is not None:
            email = prospect_email.strip()
            if not email:
                raise ValueError("prospect_email must not be empty")
            if "/" in email:  # a slash would split the path's key/value segments
                form["prospect_email"] = email
            else:
                suffix = f"/prospect_email/{quote(email, safe='@')}"
        if not suffix and prospect_id is not None:
            suffix = f"/prospect_id/{form.pop('prospect_id')}"
        return _child(self._call("create", "POST", suffix, form), "opportunity", "create")

    def update(self, opportunity_id: int, **fields: str | int | float | None) -> etree._Element:
        """Change the given fields (None clears one) and return the updated opportunity."""
        if not fields:
            raise ValueError("update needs at least one field")
        suffix = f"/id/{positive_id(opportunity_id, 'opportunity_id')}"
        form = form_fields(fields, clear_none=True)
        return _child(self._call("update", "POST", suffix, form), "opportunity", "update")

    def delete(self, opportunity_id: int) -> None:
        """Delete an opportunity (soft: ``undelete`` restores it)."""
        self._call(
            "delete",
            "POST",
            f"/id/{positive_id(opportunity_id, 'opportunity_id')}",
            {},
            empty_ok=True,
        )

    def undelete(self, opportunity_id: int) -> None:
        """Restore a deleted opportunity."""
        self._call(
            "undelete",
            "POST",
            f"/id/{positive_id(opportunity_id, 'opportunity_id')}",
            {},
            empty_ok=True,
        )

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the request loop -------------------------------------------------------------

    def _call(
        self,
        operation: str,
        method: str,
        suffix: str,
        params: Mapping[str, str],
        *,
        empty_ok: bool = False,
    ) -> etree._Element | None:
        retries = 0
        switched = False
        # One pass per attempt: at most max_retries retries plus one version switch.
        for _ in range(self._max_retries + 2):
            version = self.api_version
            path = OPPORTUNITY_PATH.format(version=version, operation=operation) + suffix
            shown = redact_url(path, params)
            try:
                return self._attempt(
                    operation, method, self._base_url + path, params, shown, empty_ok
                )
            except VersionMismatchError:
                if switched or not self._switch_version(version):
                    raise
                switched = True
            except _Retry as retry:
                if retries >= self._max_retries:
                    if retry.final is not None:  # e.g. the last 66, or the truncated body
                        raise retry.final from None
                    raise TransientError(
                        f"{operation}: gave up after {retries + 1} attempts: {retry.reason} "
                        f"({shown})",
                        operation=operation,
                        attempts=retries + 1,
                    ) from retry.__cause__
                retries += 1
                delay = self._delay(retries, retry.retry_after)
                logger.warning(
                    "%s: attempt %d of %d failed (%s); retrying in %.2f s (%s)",
                    operation,
                    retries,
                    self._max_retries + 1,
                    retry.reason,
                    delay,
                    shown,
                )
                self._sleep(delay)
        raise TransientError(f"{operation}: no attempt left ({shown})", operation=operation)

    def _attempt(
        self,
        operation: str,
        method: str,
        url: str,
        params: Mapping[str, str],
        shown: str,
        empty_ok: bool,
    ) -> etree._Element | None:
        self._check_budget()
        get = method == "GET"
        request = self._http.build_request(
            method, url, params=dict(params) if get else None, data=None if get else dict(params)
        )
        try:
            with self._gate:
                response = self._http.send(request, auth=self._auth)
        except TransientError as exc:  # the token endpoint is down
            raise _Retry(str(exc), None, None) from exc
        except PardotError:
            raise
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" not in str(exc):
                reason = self._auth.redact(f"ConnectError: {shorten(str(exc), 120)}")
                raise _Retry(reason, None, None) from exc
            # No retry can fix a certificate: say what to check, at once.
            raise ConfigurationError(
                f"{operation}: the TLS certificate of {request.url.host} could not be verified "
                f"(CERTIFICATE_VERIFY_FAILED): check base_url and token_url; behind a proxy "
                f"that re-signs traffic, point SSL_CERT_FILE at its CA bundle"
            ) from exc
        except (httpx.TransportError, httpx.DecodingError, OSError) as exc:
            reason = self._auth.redact(f"{type(exc).__name__}: {shorten(str(exc), 120)}")
            raise _Retry(reason, None, None) from exc
        except httpx.HTTPError as exc:
            raise PardotError(
                f"{operation}: HTTP client error {type(exc).__name__} ({shown})"
            ) from exc
        return self._interpret(operation, response, shown, empty_ok)

    def _interpret(
        self, operation: str, response: httpx.Response, shown: str, empty_ok: bool
    ) -> etree._Element | None:
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}", _retry_after(response), None)
        if PardotAuth.is_token_rejection(response):
            # The auth flow already refreshed and replayed once where it could.
            raise AuthenticationError(self._auth.rejection_message(operation), code=184)
        content = response.content
        if empty_ok and status in (200, 204) and not content.strip():
            return None
        try:
            return parse_document(
                content,
                operation=operation,
                http_status=status,
                content_type=response.headers.get("content-type"),
                url=shown,
            )
        except (ConcurrencyLimitError, TransientError) as exc:
            final = exc if isinstance(exc, ConcurrencyLimitError) else None
            raise _Retry(f"Pardot error {exc.code}", _retry_after(response), final) from exc
        except MalformedResponseError as exc:
            if not exc.retriable:
                raise
            raise _Retry(exc.reason, _retry_after(response), exc) from exc
        except DailyLimitError as exc:
            raise DailyLimitError(exc.reason, self.request_count) from None

    def _check_budget(self) -> None:
        with self._lock:
            if self._budget is not None and self._request_count >= self._budget:
                raise DailyLimitError("budget", self._request_count)

    def _count(self, request: httpx.Request) -> None:
        # Called by the auth flow just before each API request (replays too) is sent.
        match = _OPERATION_IN_PATH.search(request.url.path)
        operation = match.group(1) if match else "other"
        with self._lock:
            if self._budget is not None and self._request_count >= self._budget:
                raise DailyLimitError("budget", self._request_count)
            self._request_count += 1
            self._by_operation[operation] = self._by_operation.get(operation, 0) + 1

    def _switch_version(self, failed: int) -> bool:
        with self._lock:
            if self._api_version != failed:
                return True  # another thread switched already: just replay
            if self._version_switched:
                return False
            self._api_version = 4 if failed == 3 else 3
            self._version_switched = True
        logger.warning(
            "switching API version %d→%d: Pardot says this business unit needs it (88/89)",
            failed,
            4 if failed == 3 else 3,
        )
        return True

    def _delay(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_CAP)
        ceiling = min(self._backoff_max, self._backoff_initial * 2 ** (retry - 1))
        with self._lock:
            return self._rng.uniform(0.0, ceiling)


def _child(root: etree._Element | None, tag: str, operation: str) -> etree._Element:
    element = root.find(tag) if root is not None else None
    if element is None:
        raise MalformedResponseError(
            f'stat="ok" but no <{tag}> element', operation=operation, http_status=None
        )
    return element


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
