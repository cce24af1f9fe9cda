"""A scriptable fake of Pardot and the Salesforce token endpoint, for client and auth tests.

``FakePardot`` is an ``httpx.MockTransport`` handler: it records every request, serves
tokens ``issued-token-1, -2, …`` from the token endpoint, rejects the bearer tokens in
``rejected_tokens`` the way Pardot does (configurable status), and otherwise plays the
``script`` of replies and exceptions, then ``default``. No network, no sleeping.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from sources.pardot.auth import Credentials
from sources.pardot.client import PardotClient

BUSINESS_UNIT_ID = "0Uv000000000001AAA"
OPPORTUNITY_XML = (
    "<opportunity><id>7</id><name>Big deal</name><value>100</value>"
    "<probability>70</probability><status>open</status></opportunity>"
)


def rsp_ok(inner: str = "") -> bytes:
    """A ``stat="ok"`` document around ``inner``."""
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<rsp stat="ok" version="1.0">'
    return f"{head}{inner}</rsp>".encode()


def rsp_fail(code: int, message: str = "error", param: str | None = None) -> bytes:
    """A ``stat="fail"`` document with one ``<err>``."""
    attr = f' param="{param}"' if param else ""
    return f'<rsp stat="fail" version="1.0"><err code="{code}"{attr}>{message}</err></rsp>'.encode()


QUERY_OK = rsp_ok(f"<result><total_results>1</total_results>{OPPORTUNITY_XML}</result>")


@dataclass
class Reply:
    """One scripted HTTP response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/xml"})

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, content=self.body, headers=self.headers)


def fail(code: int, message: str = "error", status: int = 200, **headers: str) -> Reply:
    """A scripted Pardot body error."""
    return Reply(status, rsp_fail(code, message), {"content-type": "text/xml", **headers})


def _success(request: httpx.Request) -> Reply:
    path = request.url.path
    if "/do/query" in path:
        return Reply(200, QUERY_OK)
    if "/do/delete" in path or "/do/undelete" in path:
        return Reply(204, b"", {})
    return Reply(200, rsp_ok(OPPORTUNITY_XML))


@dataclass
class FakePardot:
    """The MockTransport handler; see the module docstring."""

    script: list[Reply | BaseException] = field(default_factory=list)
    default: Reply | None = None
    """None: a plausible success for the operation in the path."""
    token_script: list[Reply | BaseException] = field(default_factory=list)
    rejected_tokens: set[str] = field(default_factory=set)
    rejection: Reply = field(default_factory=lambda: fail(184, "access_token is invalid", 401))
    hold: Callable[[], object] | None = None
    api_requests: list[httpx.Request] = field(default_factory=list)
    token_requests: list[httpx.Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/services/oauth2/token"):
            return self._token(request)
        # A replay re-sends the same Request object: keep a snapshot of what was sent.
        snapshot = httpx.Request(
            request.method, request.url, headers=request.headers.copy(), content=request.read()
        )
        with self.lock:
            self.api_requests.append(snapshot)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                self.hold()
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if token in self.rejected_tokens:
                return self.rejection.response()
            with self.lock:
                item = self.script.pop(0) if self.script else self.default or _success(request)
            if isinstance(item, BaseException):
                raise item
            return item.response()
        finally:
            with self.lock:
                self.in_flight -= 1

    def _token(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.token_requests.append(request)
            item = self.token_script.pop(0) if self.token_script else None
            if item is None:
                self.issued += 1
                payload: dict[str, Any] = {
                    "access_token": f"issued-token-{self.issued}",
                    "instance_url": "https://example.my.salesforce.com",
                    "token_type": "Bearer",
                }
                item = Reply(
                    200, json.dumps(payload).encode(), {"content-type": "application/json"}
                )
        if isinstance(item, BaseException):
            raise item
        return item.response()

    def form(self, index: int = -1) -> dict[str, str]:
        """The decoded form body of an API request."""
        return dict(httpx.QueryParams(self.api_requests[index].content.decode()))

    def token_form(self, index: int = -1) -> dict[str, str]:
        """The decoded form body of a token request."""
        return dict(httpx.QueryParams(self.token_requests[index].content.decode()))


@pytest.fixture
def pardot_api() -> FakePardot:
    """A fresh fake per test."""
    return FakePardot()


@pytest.fixture
def sleeps() -> list[float]:
    """Records the backoff delays a client asked for (nothing really sleeps)."""
    return []


ClientFactory = Callable[..., PardotClient]


@pytest.fixture
def make_client(pardot_api: FakePardot, sleeps: list[float]) -> ClientFactory:
    """Build a PardotClient over the fake; keyword arguments override the defaults."""

    def build(**overrides: Any) -> PardotClient:
        options: dict[str, Any] = {
            "base_url": "https://pi.pardot.com",
            "business_unit_id": BUSINESS_UNIT_ID,
            "credentials": Credentials(access_token="static-token"),
            "http": httpx.Client(transport=httpx.MockTransport(pardot_api)),
            "sleep": sleeps.append,
            "rng": random.Random(1234),
        }
        options.update(overrides)
        return PardotClient(**options)

    return build


def short_pause() -> None:
    """Keep a request in flight briefly so that concurrent requests overlap."""
    time.sleep(0.01)
