"""One call to the Pardot API, whichever object or API generation it goes to.

Everything a call needs besides its path and the meaning of its answer: the concurrency
gate (Pardot allows five requests in flight per account), the token flow
(``auth.PardotAuth``), the request meter and budget (``meter.RequestMeter``), bounded
retries (``retry.RetryPolicy``), the API version switched once on errors 88/89
(``ApiVersion``), and the translation of every transport exception into ``errors``'
tree, at this one boundary. ``call`` takes a route (the path for an API version) and an
interpreter (the answer into a result, or the connector's error): the Opportunity
operations of ``client`` use the v3/v4 XML envelope; another object (``visitorActivity``)
or API v5's JSON adds a route and an interpreter, and shares the rest. Thread-safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

import httpx

from .auth import PardotAuth
from .errors import (
    ConfigurationError,
    PardotError,
    TransientError,
    VersionMismatchError,
    redact_url,
    shorten,
)
from .meter import RequestMeter
from .retry import Retryable, RetryPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")
Route = Callable[[int], str]
"""The path of a call for an API version (the version may switch between attempts)."""
Interpret = Callable[[httpx.Response, str], T]
"""Turns an answer into the call's result (``shown``: the redacted URL, for messages);
raises the connector's errors, ``Retryable`` for those a later attempt may not meet."""


class ApiVersion:
    """The API version in use: switched once, for every thread, when Pardot says the
    business unit needs the other one (errors 88/89)."""

    def __init__(self, version: int) -> None:
        self._version = version
        self._switched = False
        self._lock = threading.Lock()

    @property
    def current(self) -> int:
        """The version to send the next request with."""
        with self._lock:
            return self._version

    def switch_from(self, failed: int) -> bool:
        """``failed`` was refused: whether to replay with the version now in use."""
        with self._lock:
            if self._version != failed:
                return True  # another thread switched already: just replay
            if self._switched:
                return False
            self._version = 4 if failed == 3 else 3
            self._switched = True
        logger.warning(
            "switching API version %d→%d: Pardot says this business unit needs it (88/89)",
            failed,
            4 if failed == 3 else 3,
        )
        return True


class ApiCaller:
    """Sends calls for one client: gate, auth, meter, retries, version, translation."""

    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.Client,
        auth: PardotAuth,
        meter: RequestMeter,
        retry: RetryPolicy,
        max_concurrency: int,
        api_version: int,
    ) -> None:
        """Wire the parts; no network I/O happens here. ``base_url`` is checked already."""
        self.base_url = base_url
        self.http = http
        self.auth = auth
        self.meter = meter
        self._retry = retry
        self._gate = threading.BoundedSemaphore(max_concurrency)
        self.version = ApiVersion(api_version)

    def call(
        self,
        route: Route,
        operation: str,
        method: str,
        params: Mapping[str, str],
        interpret: Interpret[T],
        *,
        query: Mapping[str, str] | None = None,
    ) -> T:
        """Send one call, with retries and at most one API version switch.

        Args:
            route: the path for an API version, e.g. an ``OPPORTUNITY_PATH`` with an id.
            operation: its name, for counts, messages and logs.
            method: ``GET`` (params in the query) or ``POST`` (params as a form).
            params: the request's parameters, already checked.
            interpret: turns the answer into the result.
            query: parameters for the URL's query whatever the method (after ``params``).

        Raises:
            PardotError: what ``interpret`` says, or the transport's failure, once the
                retries are spent.
        """
        retrying = self._retry.begin(operation)
        switched = False
        shown = ""
        # One pass per attempt: at most max_retries retries plus one version switch.
        for _ in range(self._retry.max_retries + 2):
            version = self.version.current
            path = route(version)
            shown = redact_url(path, {**params, **(query or {})})
            try:
                return self._attempt(
                    operation, method, self.base_url + path, params, query, shown, interpret
                )
            except VersionMismatchError:
                if switched or not self.version.switch_from(version):
                    raise
                switched = True
            except Retryable as failure:
                retrying.failed(failure, shown)
        raise TransientError(f"{operation}: no attempt left ({shown})", operation=operation)

    def _attempt(
        self,
        operation: str,
        method: str,
        url: str,
        params: Mapping[str, str],
        query: Mapping[str, str] | None,
        shown: str,
        interpret: Interpret[T],
    ) -> T:
        self.meter.admit()
        get = method == "GET"
        in_url = {**params, **(query or {})} if get else dict(query or {})
        request = self.http.build_request(
            method, url, params=in_url or None, data=None if get else dict(params)
        )
        try:
            with self._gate:
                response = self.http.send(request, auth=self.auth)
        except TransientError as exc:  # the token endpoint is down
            raise Retryable(str(exc), None, None) from exc
        except PardotError:
            raise
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" not in str(exc):
                reason = self.auth.redact(f"ConnectError: {shorten(str(exc), 120)}")
                raise Retryable(reason, None, None) from exc
            # No retry can fix a certificate: say what to check, at once.
            raise ConfigurationError(
                f"{operation}: the TLS certificate of {request.url.host} could not be verified "
                f"(CERTIFICATE_VERIFY_FAILED): check base_url and token_url; behind a proxy "
                f"that re-signs traffic, point SSL_CERT_FILE at its CA bundle"
            ) from exc
        except (httpx.TransportError, httpx.DecodingError, OSError) as exc:
            reason = self.auth.redact(f"{type(exc).__name__}: {shorten(str(exc), 120)}")
            raise Retryable(reason, None, None) from exc
        except httpx.HTTPError as exc:
            raise PardotError(
                f"{operation}: HTTP client error {type(exc).__name__} ({shown})"
            ) from exc
        return interpret(response, shown)
