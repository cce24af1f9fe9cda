"""PardotClient over a scripted transport: the requests it sends and how it meets failure."""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sources.pardot.auth import Credentials
from sources.pardot.client import PardotClient
from sources.pardot.errors import (
    AuthenticationError,
    ConcurrencyLimitError,
    ConfigurationError,
    DailyLimitError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    PardotError,
    TransientError,
    VersionMismatchError,
    WriteNotAllowedError,
)
from tests.unit.conftest import (
    BUSINESS_UNIT_ID,
    QUERY_OK,
    ClientFactory,
    FakePardot,
    Reply,
    fail,
    rsp_fail,
    short_pause,
)

BASE = "/api/opportunity/version/{v}/do/"


def path(version: int, rest: str) -> str:
    return BASE.format(v=version) + rest


# -- requests on the wire ----------------------------------------------------------------


@pytest.mark.parametrize("version", [3, 4])
def test_query_sends_get_with_params(
    make_client: ClientFactory, pardot_api: FakePardot, version: int
) -> None:
    client = make_client(api_version=version)
    result = client.query(
        id_greater_than=0,
        sort_by="id",
        sort_order="ascending",
        limit=200,
        output="bulk",
        created_after="2024-01-01 00:00:00",
    )
    assert result.tag == "result"
    assert result.findtext("opportunity/id") == "7"
    (request,) = pardot_api.api_requests
    assert request.method == "GET"
    assert request.url.host == "pi.pardot.com"
    assert request.url.path == path(version, "query")
    assert dict(request.url.params) == {
        "id_greater_than": "0",
        "sort_by": "id",
        "sort_order": "ascending",
        "limit": "200",
        "output": "bulk",
        "created_after": "2024-01-01 00:00:00",
        "format": "xml",  # asked for on every request: some endpoints answer JSON otherwise
    }
    assert request.content == b""


@pytest.mark.parametrize("version", [3, 4])
def test_read(make_client: ClientFactory, pardot_api: FakePardot, version: int) -> None:
    opportunity = make_client(api_version=version).read(1234, output="simple")
    assert opportunity.tag == "opportunity"
    (request,) = pardot_api.api_requests
    assert request.method == "GET"
    assert request.url.path == path(version, "read/id/1234")
    assert dict(request.url.params) == {"output": "simple", "format": "xml"}


@pytest.mark.parametrize("version", [3, 4])
def test_update_posts_a_form_and_none_clears(
    make_client: ClientFactory, pardot_api: FakePardot, version: int
) -> None:
    make_client(api_version=version).update(
        27, name="Large Opportunity", value=50000.5, status="Won", closed_at=None, campaign_id=3
    )
    (request,) = pardot_api.api_requests
    assert request.method == "POST"
    assert request.url.path == path(version, "update/id/27")
    assert request.url.query == b"format=xml"  # the form holds the fields
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert pardot_api.form() == {
        "name": "Large Opportunity",
        "value": "50000.5",
        "status": "won",
        "closed_at": "",
        "campaign_id": "3",
    }


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("operation", ["delete", "undelete"])
def test_delete_and_undelete(
    make_client: ClientFactory, pardot_api: FakePardot, version: int, operation: str
) -> None:
    pardot_api.script = [Reply(204, b"", {}), Reply(200, b"", {})]
    client = make_client(api_version=version)
    assert getattr(client, operation)(1234) is None
    assert getattr(client, operation)(1234) is None
    assert [(r.method, r.url.path) for r in pardot_api.api_requests] == [
        ("POST", path(version, f"{operation}/id/1234"))
    ] * 2


def test_delete_with_an_error_body(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.script = [fail(35, "Invalid opportunity ID")]
    with pytest.raises(NotFoundError):
        make_client().delete(5)


@pytest.mark.parametrize("version", [3, 4])
def test_create_by_email(make_client: ClientFactory, pardot_api: FakePardot, version: int) -> None:
    opportunity = make_client(api_version=version).create(
        name="Large Customer Opportunity",
        value=100,
        probability=70,
        prospect_email="jdoe+x@company.com",
        stage="Alpha",
    )
    assert opportunity.findtext("id") == "7"
    (request,) = pardot_api.api_requests
    assert request.method == "POST"
    assert (
        request.url.raw_path
        == path(version, "create/prospect_email/jdoe%2Bx@company.com?format=xml").encode()
    )
    assert pardot_api.form() == {
        "name": "Large Customer Opportunity",
        "value": "100",
        "probability": "70",
        "stage": "Alpha",
    }


def test_create_by_id(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    make_client().create(name="N", value="12.50", probability=0, prospect_id=55, type=None)
    (request,) = pardot_api.api_requests
    assert request.url.path == path(3, "create/prospect_id/55")
    assert pardot_api.form() == {"name": "N", "value": "12.50", "probability": "0"}


def test_create_by_email_and_id(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    make_client().create(
        name="N", value=1, probability=100, prospect_email="a@b.com", prospect_id=55
    )
    (request,) = pardot_api.api_requests
    assert request.url.path == path(3, "create/prospect_email/a@b.com")
    assert pardot_api.form()["prospect_id"] == "55"


def test_create_with_a_slash_in_the_email_sends_it_in_the_form(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    make_client().create(name="N", value=1, probability=1, prospect_email="a/b@c.com")
    assert pardot_api.api_requests[0].url.path == path(3, "create")
    assert pardot_api.form()["prospect_email"] == "a/b@c.com"


def test_create_mismatch_error_44(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.script = [fail(44, "do not match")]
    with pytest.raises(InvalidRequestError) as info:
        make_client().create(
            name="N", value=1, probability=1, prospect_email="a@b.com", prospect_id=2
        )
    assert info.value.code == 44
    assert "a@b.com" not in str(info.value)


def test_write_on_a_crm_account(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.script = [fail(37, "A Salesforce connector was detected")]
    with pytest.raises(WriteNotAllowedError):
        make_client().update(1, name="x")


# -- local validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"updated_after": "today"}, id="unknown-name"),
        pytest.param({"format": "json"}, id="format"),
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 201}, id="limit-201"),
        pytest.param({"limit": "ten"}, id="limit-text"),
        pytest.param({"limit": True}, id="limit-bool"),
        pytest.param({"offset": -1}, id="offset-negative"),
        pytest.param({"sort_by": "updated_at"}, id="sort-by"),
        pytest.param({"sort_order": "asc"}, id="sort-order"),
        pytest.param({"output": "json"}, id="output"),
        pytest.param({"probability_greater_than": 101}, id="probability"),
        pytest.param({"prospect_id": 0}, id="prospect-id"),
        pytest.param({"created_after": ""}, id="empty-date"),
        pytest.param({"prospect_email": "a@b.com\n"}, id="newline"),
    ],
)
def test_query_rejects_bad_params_before_sending(
    make_client: ClientFactory, pardot_api: FakePardot, params: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        make_client().query(**params)  # type: ignore[arg-type]
    assert pardot_api.api_requests == []


def test_query_accepts_every_seed_param(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    params: dict[str, str | int] = {
        "created_after": "yesterday",
        "created_before": "today",
        "id_greater_than": 1,
        "id_less_than": 9,
        "probability_greater_than": 1,
        "probability_less_than": 100,
        "prospect_email": "a@b.com",
        "prospect_id": 3,
        "value_greater_than": 0,
        "value_less_than": "50",
        "limit": 1,
        "offset": 0,
        "sort_by": "created_at",
        "sort_order": "descending",
        "output": "mobile",
    }
    make_client().query(**params)
    sent = {k: str(v) for k, v in params.items()} | {"format": "xml"}
    assert dict(pardot_api.api_requests[0].url.params) == sent


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.read(0), id="read-id-0"),
        pytest.param(lambda c: c.read(True), id="read-id-bool"),
        pytest.param(lambda c: c.read(1, output="xml"), id="read-output"),
        pytest.param(lambda c: c.update(1), id="update-nothing"),
        pytest.param(lambda c: c.update(1, owner="x"), id="update-unknown"),
        pytest.param(lambda c: c.update(1, status="pending"), id="update-status"),
        pytest.param(lambda c: c.update(1, value=-1), id="update-negative-value"),
        pytest.param(lambda c: c.update(1, value=float("nan")), id="update-nan"),
        pytest.param(lambda c: c.create(name="n", value=1, probability=1), id="create-no-prospect"),
        pytest.param(
            lambda c: c.create(name="n", value=1, probability=101, prospect_id=1), id="prob-101"
        ),
        pytest.param(lambda c: c.delete(-3), id="delete-negative"),
    ],
)
def test_other_operations_validate_before_sending(
    make_client: ClientFactory, pardot_api: FakePardot, call: object
) -> None:
    with pytest.raises(ValueError):
        call(make_client())  # type: ignore[operator]
    assert pardot_api.api_requests == []


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:2", "https://x.org"]
)
def test_base_url_accepted(make_client: ClientFactory, base_url: str) -> None:
    make_client(base_url=base_url + "/")


@pytest.mark.parametrize(
    "base_url", ["http://pi.pardot.com", "http://192.168.1.2", "pi.pardot.com"]
)
def test_base_url_http_refused_off_loopback(make_client: ClientFactory, base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        make_client(base_url=base_url)


def test_loopback_base_url_builds_the_right_url(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    make_client(base_url="http://127.0.0.1:8765/").read(1)
    assert str(pardot_api.api_requests[0].url).startswith(
        "http://127.0.0.1:8765/api/opportunity/version/3/do/read/id/1"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"business_unit_id": "0Uv123"}, id="bu-short"),
        pytest.param({"business_unit_id": "001000000000001AAA"}, id="bu-prefix"),
        pytest.param({"business_unit_id": "0Uv00000000000 AAA"}, id="bu-space"),
        pytest.param({"api_version": 5}, id="version-5"),
        pytest.param({"max_concurrency": 6}, id="concurrency-6"),
        pytest.param({"max_concurrency": 0}, id="concurrency-0"),
        pytest.param({"max_retries": -1}, id="retries"),
        pytest.param({"credentials": Credentials()}, id="no-credentials"),
    ],
)
def test_bad_configuration(make_client: ClientFactory, overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        make_client(**overrides)


def test_owned_http_client_is_closed() -> None:
    with PardotClient(
        base_url="https://pi.pardot.com",
        business_unit_id=BUSINESS_UNIT_ID,
        credentials=Credentials(access_token="t"),
    ) as client:
        http = client._caller.http
        assert http.timeout.read == 120.0
    assert http.is_closed


# -- retries -----------------------------------------------------------------------------


def test_5xx_then_success(
    make_client: ClientFactory, pardot_api: FakePardot, sleeps: list[float]
) -> None:
    pardot_api.script = [Reply(503, b"busy", {}), Reply(502, b"", {})]
    client = make_client()
    assert client.query(limit=5).tag == "result"
    assert client.request_count == 3
    assert client.requests_by_operation == {"query": 3}
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5
    assert 0 <= sleeps[1] <= 1.0


def test_backoff_is_full_jitter_capped(
    make_client: ClientFactory, pardot_api: FakePardot, sleeps: list[float]
) -> None:
    pardot_api.script = [Reply(500, b"", {})] * 6
    make_client(backoff_initial=1.0, backoff_max=4.0, rng=random.Random(5)).read(1)
    expected = random.Random(5)
    assert sleeps == [expected.uniform(0, c) for c in (1.0, 2.0, 4.0, 4.0, 4.0, 4.0)]


@pytest.mark.parametrize("retry_after", ["7", "7.0"])
def test_retry_after_seconds(
    make_client: ClientFactory, pardot_api: FakePardot, sleeps: list[float], retry_after: str
) -> None:
    pardot_api.script = [Reply(429, b"", {"retry-after": retry_after})]
    make_client().read(1)
    assert sleeps == [7.0]


def test_retry_after_http_date(
    make_client: ClientFactory, pardot_api: FakePardot, sleeps: list[float]
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    pardot_api.script = [Reply(503, b"", {"retry-after": format_datetime(when, usegmt=True)})]
    make_client().read(1)
    assert 25 <= sleeps[0] <= 30


def test_66_is_retried_and_honours_retry_after(
    make_client: ClientFactory, pardot_api: FakePardot, sleeps: list[float]
) -> None:
    pardot_api.script = [
        fail(66, "exceeded"),
        Reply(200, rsp_fail(66, "exceeded"), {"retry-after": "3"}),
    ]
    client = make_client()
    client.read(1)
    assert client.request_count == 3
    assert sleeps[1] == 3.0


def test_66_exhausted_raises_the_last_concurrency_error(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.default = fail(66, "exceeded")
    with pytest.raises(ConcurrencyLimitError):
        make_client(max_retries=2).read(1)
    assert len(pardot_api.api_requests) == 3


@pytest.mark.parametrize("code", [183, 202, 214])
def test_transient_codes_are_retried(
    make_client: ClientFactory, pardot_api: FakePardot, code: int
) -> None:
    pardot_api.script = [fail(code, "try again")]
    assert make_client().read(1).findtext("id") == "7"
    assert len(pardot_api.api_requests) == 2


def test_exhausted_retries_raise_transient_error(
    make_client: ClientFactory,
    pardot_api: FakePardot,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    pardot_api.default = Reply(500, b"", {})
    with (
        caplog.at_level(logging.WARNING, logger="sources.pardot.client"),
        pytest.raises(TransientError) as info,
    ):
        make_client(max_retries=3).query(limit=5, sort_by="id")
    assert info.value.attempts == 4
    assert info.value.operation == "query"
    assert "HTTP 500" in str(info.value)
    assert len(pardot_api.api_requests) == 4
    assert len(sleeps) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all("/do/query?limit&sort_by" in w and "query" in w for w in warnings)
    assert "attempt 1 of 4" in warnings[0]


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(httpx.ReadTimeout("slow"), id="read-timeout"),
        pytest.param(httpx.ConnectTimeout("slow"), id="connect-timeout"),
        pytest.param(httpx.ConnectError("refused"), id="connect-error"),
        pytest.param(httpx.RemoteProtocolError("peer closed"), id="remote-protocol"),
        pytest.param(httpx.ReadError("reset"), id="read-error"),
        pytest.param(ConnectionResetError(104, "Connection reset by peer"), id="conn-reset"),
        pytest.param(OSError("broken pipe"), id="oserror"),
    ],
)
def test_transport_failures_are_retried(
    make_client: ClientFactory, pardot_api: FakePardot, exc: Exception
) -> None:
    pardot_api.script = [exc]
    client = make_client()
    assert client.read(1).findtext("id") == "7"
    assert client.request_count == 2


def test_transport_failures_exhausted(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.script = [httpx.ConnectError("refused")] * 2
    with pytest.raises(TransientError, match="ConnectError") as info:
        make_client(max_retries=1).read(1)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(200, QUERY_OK[:40]), id="truncated"),
        pytest.param(
            Reply(200, b"<html><body>proxy</body></html>", {"content-type": "text/html"}), id="html"
        ),
        pytest.param(Reply(200, b"", {}), id="empty"),
    ],
)
def test_broken_bodies_are_retried(
    make_client: ClientFactory, pardot_api: FakePardot, reply: Reply
) -> None:
    pardot_api.script = [reply]
    assert make_client().query(limit=1).tag == "result"
    assert len(pardot_api.api_requests) == 2


def test_broken_bodies_exhausted_raise_malformed(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.default = Reply(200, QUERY_OK[:40])
    with pytest.raises(MalformedResponseError, match="truncated"):
        make_client(max_retries=1).query(limit=1)


def test_dtd_is_not_retried(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.script = [Reply(200, b'<!DOCTYPE rsp [<!ENTITY a "b">]><rsp stat="ok">&a;</rsp>')]
    with pytest.raises(MalformedResponseError, match="DTD"):
        make_client().query(limit=1)
    assert len(pardot_api.api_requests) == 1


def test_ok_without_result_is_malformed(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.script = [Reply(200, b'<rsp stat="ok"/>')]
    with pytest.raises(MalformedResponseError, match="<result>"):
        make_client().query(limit=1)


def test_other_errors_are_raised_at_once(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.script = [Reply(200, rsp_fail(10000, "Invalid value", param="limit"))]
    with pytest.raises(InvalidRequestError, match="param: limit"):
        make_client().query(limit=1)
    assert len(pardot_api.api_requests) == 1


# -- version switch, daily limit, budget -------------------------------------------------


@pytest.mark.parametrize(("start", "code", "other"), [(3, 88, 4), (4, 89, 3)])
def test_version_switch(
    make_client: ClientFactory,
    pardot_api: FakePardot,
    caplog: pytest.LogCaptureFixture,
    start: int,
    code: int,
    other: int,
) -> None:
    pardot_api.script = [fail(code, "wrong version")]
    client = make_client(api_version=start)
    with caplog.at_level(logging.WARNING):
        assert client.read(1).findtext("id") == "7"
    assert [r.url.path for r in pardot_api.api_requests] == [
        path(start, "read/id/1"),
        path(other, "read/id/1"),
    ]
    assert client.api_version == other
    assert f"switching API version {start}→{other}" in caplog.text
    client.read(2)
    assert pardot_api.api_requests[-1].url.path == path(other, "read/id/2")


def test_version_switches_only_once(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.script = [fail(88, "use v4"), fail(89, "cannot use v4")]
    with pytest.raises(VersionMismatchError):
        make_client().read(1)
    assert len(pardot_api.api_requests) == 2


def test_daily_limit(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.script = [Reply(200, QUERY_OK), fail(122, "Daily API rate limit met.")]
    client = make_client()
    client.query(limit=1)
    with pytest.raises(DailyLimitError) as info:
        client.query(limit=1)
    assert info.value.reason == "api"
    assert info.value.requests_made == 2
    assert len(pardot_api.api_requests) == 2


def test_budget_stops_before_sending(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    client = make_client(request_budget=2)
    client.read(1)
    client.read(2)
    with pytest.raises(DailyLimitError) as info:
        client.read(3)
    assert info.value.reason == "budget"
    assert info.value.requests_made == 2
    assert len(pardot_api.api_requests) == 2


def test_budget_counts_retries(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.default = Reply(500, b"", {})
    with pytest.raises(DailyLimitError):
        make_client(request_budget=3).read(1)
    assert len(pardot_api.api_requests) == 3


def test_budget_zero_sends_nothing_not_even_a_token_request(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    credentials = Credentials(client_id="c", client_secret="s", refresh_token="r")
    with pytest.raises(DailyLimitError):
        make_client(request_budget=0, credentials=credentials).read(1)
    assert pardot_api.api_requests == []
    assert pardot_api.token_requests == []


def test_http_401_with_static_token(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.script = [Reply(401, b"Unauthorized", {"content-type": "text/plain"})]
    with pytest.raises(AuthenticationError):
        make_client().read(1)


# -- concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, 5])
def test_max_concurrency_is_respected(
    make_client: ClientFactory, pardot_api: FakePardot, limit: int
) -> None:
    pardot_api.hold = short_pause
    client = make_client(max_concurrency=limit)
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda i: client.read(i + 1).findtext("id"), range(20)))
    assert results == ["7"] * 20
    assert pardot_api.max_in_flight == limit
    assert client.request_count == 20
    assert client.requests_by_operation == {"read": 20}


# -- secrets -----------------------------------------------------------------------------

SECRETS = ("S3cr3t-access-tok", "S3cr3t-client-secret", "S3cr3t-refresh-tok", "S3cr3t-pa55word")
ISSUED = ("S3cr3t-issued-tok", "S3cr3t-rotated")


def _exercise(client: PardotClient, pardot_api: FakePardot) -> list[str]:
    """Successful and failing calls; returns every exception text and repr seen."""
    messages = [repr(client), str(client), repr(client.auth)]
    client.query(limit=1)
    client.update(1, name="x")
    pardot_api.script = [
        Reply(500, b""),
        httpx.ConnectError("refused"),
        fail(35, "Invalid ID"),
        fail(9999, "odd"),
        Reply(200, b"<html>"),
        Reply(200, b"<rsp"),
    ]
    for _ in range(6):
        with pytest.raises(PardotError) as info:
            client.read(1)
        messages += [str(info.value), repr(info.value)]
    return messages


def test_secrets_never_appear_in_logs_errors_or_reprs(
    pardot_api: FakePardot, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    access, client_secret, refresh, password = SECRETS
    issued, rotated = ISSUED
    body = f'{{"access_token": "{issued}", "refresh_token": "{rotated}"}}'.encode()
    pardot_api.token_script.append(Reply(200, body))
    pardot_api.rejected_tokens.add(access)
    messages: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for credentials in (
            Credentials(
                access_token=access,
                client_id="cid",
                client_secret=client_secret,
                refresh_token=refresh,
            ),
            Credentials(
                client_id="cid", client_secret=client_secret, username="u", password=password
            ),
        ):
            messages.append(repr(credentials))
            pardot_api.rejected_tokens = {access}
            client = PardotClient(
                base_url="https://pi.pardot.com",
                business_unit_id=BUSINESS_UNIT_ID,
                credentials=credentials,
                http=httpx.Client(transport=httpx.MockTransport(pardot_api)),
                sleep=sleeps.append,
                max_retries=0,
            )
            messages += _exercise(client, pardot_api)
            # Every token now rejected: a refresh, then AuthenticationError.
            pardot_api.rejected_tokens |= {issued, *(f"issued-token-{n}" for n in range(9))}
            with pytest.raises(AuthenticationError) as info:
                client.read(1)
            messages.append(str(info.value))
            # The token endpoint echoes secrets in its error description.
            echoed = " ".join(credentials.secrets())
            echo = f'{{"error": "invalid_grant", "error_description": "{echoed}"}}'
            pardot_api.token_script.append(Reply(400, echo.encode()))
            with pytest.raises(AuthenticationError) as info:
                client.read(1)
            messages.append(str(info.value))
    assert any(r.name.startswith("httpx") for r in caplog.records)
    assert len(pardot_api.token_requests) >= 4
    texts = messages + [r.getMessage() for r in caplog.records]
    for secret in (*SECRETS, *ISSUED):
        assert not [text for text in texts if secret in text], secret


class _LoopbackPardot(BaseHTTPRequestHandler):
    """A real HTTP server on 127.0.0.1, so httpx and httpcore log their own debug lines."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.endswith("/services/oauth2/token"):
            self._reply(200, b'{"access_token": "S3cr3t-issued-tok"}', "application/json")
        elif self.headers.get("authorization") == "Bearer S3cr3t-issued-tok":
            self._reply(200, rsp_fail(35, "Invalid opportunity ID"), "text/xml")
        else:
            self._reply(401, rsp_fail(184, "access_token is invalid"), "text/xml")

    do_GET = do_POST

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the server's own stderr logging."""


def test_secrets_stay_out_of_httpcore_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LoopbackPardot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    access, client_secret, refresh, _ = SECRETS
    credentials = Credentials(
        access_token=access,
        client_id="cid",
        client_secret=client_secret,
        refresh_token=refresh,
        token_url=f"{base}/services/oauth2/token",
    )
    try:
        with (
            caplog.at_level(logging.DEBUG),
            PardotClient(
                base_url=base, business_unit_id=BUSINESS_UNIT_ID, credentials=credentials, timeout=5
            ) as client,
            pytest.raises(NotFoundError) as info,
        ):
            client.read(1)
    finally:
        server.shutdown()
        server.server_close()
    assert client.auth.token_refreshes == 1
    assert client.request_count == 2
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    texts = [str(info.value), repr(client)] + [r.getMessage() for r in caplog.records]
    for secret in (*SECRETS, *ISSUED):
        assert not [text for text in texts if secret in text], secret
