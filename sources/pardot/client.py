"""PardotClient: the six Opportunity operations, and how to read Pardot's v3/v4 answers.

What the operations take is checked before anything is sent (``params``); each becomes
one call of ``caller.ApiCaller``, which owns what every call shares (the concurrency gate,
the token flow, retries, the request meter, the API version switch), with the route of
``/api/opportunity/version/{3,4}/do/{operation}`` and ``read_v3_answer``, which reads the
answer: HTTP statuses and bodies that a later attempt may not meet are retried (which
ones, ``errors`` decides), a stale token is an ``AuthenticationError``, and the XML is
parsed exactly once, in ``envelope``. The settings are checked by
``config.ClientSettings`` when the client is built; no network I/O happens then. One
client may be shared by a thread pool.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self
from urllib.parse import quote

import httpx
from lxml import etree

from sources.pardot.auth import Credentials, PardotAuth
from sources.pardot.caller import ApiCaller
from sources.pardot.config import ClientSettings
from sources.pardot.constants import (
    OPPORTUNITY_PATH,
    QUERY_OUTPUTS,
    V5_OPPORTUNITIES_PATH,
    VISITOR_ACTIVITY_PATH,
)
from sources.pardot.envelope import read_answer
from sources.pardot.errors import (
    AuthenticationError,
    DailyLimitError,
    MalformedResponseError,
    PardotError,
    TransientError,
    is_retried,
    is_retried_status,
)
from sources.pardot.meter import RequestMeter
from sources.pardot.native import NativePage, read_page, unknown_element
from sources.pardot.params import activity_query_params, form_fields, positive_id, query_params
from sources.pardot.retry import Retryable, RetryPolicy, retry_after
from sources.pardot.v5 import V5Page, read_v5_page

ACTIVITY_QUERY: Final = "activity_query"
V5_QUERY: Final = "v5_query"
"""The visitor activity query, as the request counts name it."""
_ASK_FOR_XML: Final = {"format": "xml"}
"""In the query of every request, whatever the method: XML is Pardot's default, but some
endpoints answer JSON unless asked."""


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
        settings = ClientSettings(
            base_url=base_url,
            business_unit_id=business_unit_id,
            api_version=api_version,
            max_concurrency=max_concurrency,
            timeout=timeout,
            max_retries=max_retries,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            request_budget=request_budget,
        )
        meter = RequestMeter(settings.request_budget)
        self._owns_http = http is None
        self._caller = ApiCaller(
            base_url=settings.base_url,
            http=http if http is not None else httpx.Client(timeout=settings.timeout),
            auth=PardotAuth(credentials, business_unit_id, before_request=meter.count),
            meter=meter,
            retry=RetryPolicy(
                max_retries=settings.max_retries,
                backoff_initial=settings.backoff_initial,
                backoff_max=settings.backoff_max,
                sleep=sleep,
                rng=rng,
            ),
            max_concurrency=settings.max_concurrency,
            api_version=settings.api_version,
        )

    def __repr__(self) -> str:
        return (
            f"PardotClient(base_url={self._caller.base_url!r}, api_version={self.api_version}, "
            f"auth={self.auth!r}, requests={self.request_count})"
        )

    def limit_requests(self, budget: int | None) -> None:
        """Allow at most ``budget`` more API requests from now on (None: no limit)."""
        self._caller.meter.limit(budget)

    @property
    def request_count(self) -> int:
        """API requests sent so far (retries and replays included, token requests not)."""
        return self._caller.meter.total

    @property
    def requests_by_operation(self) -> dict[str, int]:
        """A copy of ``request_count`` split by operation name."""
        return self._caller.meter.by_operation

    @property
    def api_version(self) -> int:
        """The API version in use; it may have switched once after error 88/89."""
        return self._caller.version.current

    @property
    def auth(self) -> PardotAuth:
        """The shared auth flow (exposes ``token_refreshes``)."""
        return self._caller.auth

    def query(self, **params: str | int) -> etree._Element:
        """Run ``do/query`` with the API's query parameters and return its ``<result>`` element.

        Raises:
            ValueError: an unknown parameter name or an out-of-range value (nothing sent).
        """
        root = self._call("query", "GET", "", query_params(params))
        return _child(root, "result", "query")

    def query_page(self, **params: str | int) -> NativePage | DeclinedPage:
        """Run ``do/query``: its page as the native reader reads it, or where the reader
        declines it (see ``native``), its ``<result>`` element and why.

        Raises:
            ValueError: an unknown parameter name or an out-of-range value (nothing sent).
        """

        def interpret(response: httpx.Response, shown: str) -> NativePage | DeclinedPage:
            reason = "not a plain page of results"
            if response.status_code == 200:
                page = read_page(response.content)
                if isinstance(page, NativePage):
                    return page
                reason = page.reason
            root = self._read_answer(response, shown, "query", empty_ok=False)
            result = _child(root, "result", "query")
            unknown = unknown_element(result)
            if unknown is not None:
                reason = f"an element the native reader does not know ({unknown})"
            return DeclinedPage(result, reason)

        return self._caller.call(
            _route("query", ""), "query", "GET", query_params(params), interpret, query=_ASK_FOR_XML
        )

    def query_activities(self, **params: object) -> etree._Element:
        """Run the visitor activity ``do/query`` and return its ``<result>`` element.

        Raises:
            ValueError: an unknown parameter name or an out-of-range value (nothing sent).
        """
        checked = activity_query_params(params)

        def route(version: int) -> str:
            return VISITOR_ACTIVITY_PATH.format(version=version, operation="query")

        def interpret(response: httpx.Response, shown: str) -> etree._Element | None:
            return self._read_answer(response, shown, ACTIVITY_QUERY, empty_ok=False)

        root = self._caller.call(
            route, ACTIVITY_QUERY, "GET", checked, interpret, query=_ASK_FOR_XML
        )
        return _child(root, "result", ACTIVITY_QUERY)

    def v5_opportunities(self, params: Mapping[str, str]) -> V5Page:
        """One page of API v5's opportunity query (``v5``): the ids and ``updatedAt`` of
        the opportunities ``params`` select, or the next page's by ``nextPageToken``."""

        def route(version: int) -> str:
            return V5_OPPORTUNITIES_PATH  # one v5 whatever the v3/v4 version in use

        def interpret(response: httpx.Response, shown: str) -> V5Page:
            return read_v5_page(
                response,
                shown,
                operation=V5_QUERY,
                auth=self.auth,
                requests_made=lambda: self.request_count,
            )

        return self._caller.call(route, V5_QUERY, "GET", params, interpret)

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
            self._caller.http.close()

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
        """An Opportunity operation: its v3/v4 path, answered in Pardot's XML envelope."""

        def interpret(response: httpx.Response, shown: str) -> etree._Element | None:
            return self._read_answer(response, shown, operation, empty_ok=empty_ok)

        return self._caller.call(
            _route(operation, suffix), operation, method, params, interpret, query=_ASK_FOR_XML
        )

    def _read_answer(
        self, response: httpx.Response, shown: str, operation: str, *, empty_ok: bool
    ) -> etree._Element | None:
        return read_v3_answer(
            response,
            shown,
            operation=operation,
            empty_ok=empty_ok,
            auth=self.auth,
            requests_made=lambda: self.request_count,
        )


@dataclass(frozen=True)
class DeclinedPage:
    """A query page the native reader declined: parsed by ``envelope``, for ``walk``."""

    result: etree._Element
    """The ``<result>`` element."""
    reason: str
    """Why the reader declined it, for the log."""


def _route(operation: str, suffix: str) -> Callable[[int], str]:
    """The path of an Opportunity operation, by API version."""

    def route(version: int) -> str:
        return OPPORTUNITY_PATH.format(version=version, operation=operation) + suffix

    return route


def read_v3_answer(
    response: httpx.Response,
    shown: str,
    *,
    operation: str,
    empty_ok: bool,
    auth: PardotAuth,
    requests_made: Callable[[], int],
) -> etree._Element | None:
    """Pardot's v3/v4 answer: the ``<rsp>`` root of ``stat="ok"``, or the error.

    The body decides, whatever the HTTP status: Pardot's error code in it (XML, or JSON
    where Pardot answers JSON anyway) is classified by ``errors``, so a daily limit at
    HTTP 429 is the daily limit. The status decides only when the body is no Pardot
    answer: then 429 and 5xx are retried.

    Args:
        response: the answer.
        shown: the redacted URL, for messages.
        operation: the operation, for messages.
        empty_ok: an empty 200/204 is a success (delete, undelete): None.
        auth: the flow that already refreshed the token where it could.
        requests_made: the client's request count, for the daily limit's message.
    """
    status = response.status_code
    if PardotAuth.is_token_rejection(response):
        raise AuthenticationError(auth.rejection_message(operation), code=184)
    content = response.content
    if empty_ok and status in (200, 204) and not content.strip():
        return None
    try:
        return read_answer(
            content,
            operation=operation,
            http_status=status,
            content_type=response.headers.get("content-type"),
            url=shown,
        )
    except DailyLimitError as exc:
        raise DailyLimitError(exc.reason, requests_made()) from None
    except MalformedResponseError as exc:
        if is_retried_status(status):  # no answer in the body: the status says retry
            raise Retryable(f"HTTP {status}", retry_after(response), None) from exc
        if not exc.retriable:
            raise
        raise Retryable(exc.reason, retry_after(response), exc) from exc
    except PardotError as exc:
        if not is_retried(exc):
            raise
        # A body error that counts its attempts when they run out; the rest as is.
        final = None if isinstance(exc, TransientError) else exc
        code = getattr(exc, "code", None)
        raise Retryable(f"Pardot error {code}", retry_after(response), final) from exc


def _child(root: etree._Element | None, tag: str, operation: str) -> etree._Element:
    element = root.find(tag) if root is not None else None
    if element is None:
        raise MalformedResponseError(
            f'stat="ok" but no <{tag}> element', operation=operation, http_status=None
        )
    return element
