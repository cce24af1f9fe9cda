"""Credentials and the token flow: headers, lazy tokens, grants, one refresh, threads."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from sources.pardot.auth import Credentials, PardotAuth
from sources.pardot.config import require_secure_url
from sources.pardot.errors import AuthenticationError, ConfigurationError, TransientError
from tests.unit.conftest import (
    BUSINESS_UNIT_ID,
    ClientFactory,
    FakePardot,
    Reply,
    fail,
    rsp_ok,
)

REFRESH = Credentials(
    client_id="the-client-id",
    client_secret="the-client-secret",
    refresh_token="the-refresh-token",
    token_url="https://login.example.com/services/oauth2/token",
)
PASSWORD = Credentials(
    client_id="the-client-id",
    client_secret="the-client-secret",
    username="api@example.com",
    password="pass word!",
    token_url="https://login.example.com/services/oauth2/token",
)


# -- Credentials ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "mode"),
    [
        pytest.param(Credentials(access_token="t"), "static", id="static"),
        pytest.param(REFRESH, "refresh_token", id="refresh"),
        pytest.param(PASSWORD, "password", id="password"),
        pytest.param(
            Credentials(access_token="t", client_id="c", client_secret="s", refresh_token="r"),
            "refresh_token",
            id="token-plus-refresh",
        ),
    ],
)
def test_mode(credentials: Credentials, mode: str) -> None:
    assert credentials.mode == mode
    credentials.validate()


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(Credentials(), id="nothing"),
        pytest.param(Credentials(client_id="c", client_secret="s"), id="no-grant"),
        pytest.param(Credentials(access_token="  "), id="blank-token"),
        pytest.param(Credentials(client_id="c", refresh_token="r"), id="no-secret"),
    ],
)
def test_incomplete_credentials_say_what_to_set(credentials: Credentials) -> None:
    with pytest.raises(ConfigurationError, match="client_id \\+ client_secret \\+ refresh_token"):
        credentials.validate()


def test_token_url_must_be_https_except_loopback() -> None:
    Credentials(
        client_id="c", client_secret="s", refresh_token="r", token_url="http://127.0.0.1:8/t"
    ).validate()
    Credentials(
        client_id="c", client_secret="s", refresh_token="r", token_url="http://[::1]:8/t"
    ).validate()
    with pytest.raises(ConfigurationError, match="https"):
        Credentials(
            client_id="c", client_secret="s", refresh_token="r", token_url="http://login.example/t"
        ).validate()


def test_require_secure_url() -> None:
    assert require_secure_url("http://localhost:9000", setting="base_url").port == 9000
    for bad in ("ftp://x", "not a url", "http://10.0.0.1", "https://"):
        with pytest.raises(ConfigurationError, match="base_url"):
            require_secure_url(bad, setting="base_url")


def test_malformed_token_is_refused_without_echo() -> None:
    with pytest.raises(ConfigurationError) as info:
        Credentials(access_token="abc def\n").validate()
    assert "abc" not in str(info.value)


def test_repr_shows_which_fields_are_set_never_values() -> None:
    text = repr(PASSWORD) + str(PASSWORD)
    assert "client_secret" in text
    assert "password" in text
    for value in ("the-client-secret", "pass word!", "the-client-id", "api@example.com"):
        assert value not in text


# -- headers and lazy tokens -------------------------------------------------------------


def test_static_token_and_business_unit_headers(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    make_client().query(limit=1)
    (request,) = pardot_api.api_requests
    assert request.headers["authorization"] == "Bearer static-token"
    assert request.headers["pardot-business-unit-id"] == BUSINESS_UNIT_ID
    assert pardot_api.token_requests == []


def test_standalone_auth_on_a_plain_httpx_client(pardot_api: FakePardot) -> None:
    auth = PardotAuth(Credentials(access_token="tok"), BUSINESS_UNIT_ID)
    with httpx.Client(transport=httpx.MockTransport(pardot_api), auth=auth) as http:
        http.get("https://pi.pardot.com/api/opportunity/version/3/do/query")
    assert pardot_api.api_requests[0].headers["authorization"] == "Bearer tok"


def test_no_io_at_construction(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    client = make_client(credentials=REFRESH)
    PardotAuth(PASSWORD, BUSINESS_UNIT_ID)
    assert pardot_api.token_requests == []
    assert pardot_api.api_requests == []
    client.read(7)
    assert len(pardot_api.token_requests) == 1
    assert pardot_api.api_requests[0].headers["authorization"] == "Bearer issued-token-1"
    client.read(7)
    assert len(pardot_api.token_requests) == 1  # the token is reused
    assert client.auth.token_refreshes == 1


def test_refresh_token_grant_form(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    make_client(credentials=REFRESH).read(7)
    (request,) = pardot_api.token_requests
    assert request.method == "POST"
    assert str(request.url) == REFRESH.token_url
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.url.query == b""
    assert pardot_api.token_form() == {
        "grant_type": "refresh_token",
        "client_id": "the-client-id",
        "client_secret": "the-client-secret",
        "refresh_token": "the-refresh-token",
    }


def test_password_grant_form(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    make_client(credentials=PASSWORD).read(7)
    assert pardot_api.token_form() == {
        "grant_type": "password",
        "client_id": "the-client-id",
        "client_secret": "the-client-secret",
        "username": "api@example.com",
        "password": "pass word!",
    }


def test_rotated_refresh_token_is_used_next_time(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    body = json.dumps({"access_token": "first", "refresh_token": "rotated-refresh"}).encode()
    pardot_api.token_script.append(Reply(200, body, {"content-type": "application/json"}))
    pardot_api.rejected_tokens.add("first")
    make_client(credentials=REFRESH).read(7)
    assert pardot_api.token_form(1)["refresh_token"] == "rotated-refresh"


# -- refresh once ------------------------------------------------------------------------

REJECTIONS = [
    pytest.param(Reply(401, b"", {}), id="http-401-empty"),
    pytest.param(fail(184, "access_token is invalid", 401), id="184-http-401"),
    pytest.param(fail(184, "access_token is invalid", 400), id="184-http-400"),
    pytest.param(fail(184, "access_token is invalid", 200), id="184-http-200"),
]


@pytest.mark.parametrize("rejection", REJECTIONS)
def test_refresh_once_and_replay(
    make_client: ClientFactory, pardot_api: FakePardot, rejection: Reply
) -> None:
    pardot_api.rejection = rejection
    pardot_api.rejected_tokens.add("expired-token")
    credentials = Credentials(
        access_token="expired-token",
        client_id="c",
        client_secret="s",
        refresh_token="r",
        token_url="https://login.example.com/services/oauth2/token",
    )
    client = make_client(credentials=credentials)
    opportunity = client.read(7)
    assert opportunity.findtext("id") == "7"
    first, replay = pardot_api.api_requests
    assert first.headers["authorization"] == "Bearer expired-token"
    assert replay.headers["authorization"] == "Bearer issued-token-1"
    assert replay.url == first.url
    assert len(pardot_api.token_requests) == 1
    assert client.auth.token_refreshes == 1
    assert client.request_count == 2


def test_replay_of_a_post_keeps_its_form(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.rejected_tokens.add("issued-token-1")
    pardot_api.default = Reply(200, rsp_ok("<opportunity><id>9</id></opportunity>"))
    make_client(credentials=REFRESH).update(9, name="Renamed")
    assert [pardot_api.form(i) for i in (0, 1)] == [{"name": "Renamed"}] * 2


def test_a_token_another_thread_got_that_expired_meanwhile_still_allows_one_refresh(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    """Seen with requests in flight together: B is rejected, A has already refreshed, B
    replays with A's token, which has expired too. B then refreshes once itself."""
    pardot_api.rejected_tokens.update({"expired-token", "token-of-another-thread"})
    credentials = Credentials(
        access_token="expired-token",
        client_id="c",
        client_secret="s",
        refresh_token="r",
        token_url="https://login.example.com/services/oauth2/token",
    )
    client = make_client(credentials=credentials)

    def another_thread_refreshes(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") == "Bearer expired-token":
            client.auth._token = "token-of-another-thread"
        return pardot_api(request)

    client._caller.http = httpx.Client(transport=httpx.MockTransport(another_thread_refreshes))
    assert client.read(7).findtext("id") == "7"
    used = [r.headers["authorization"] for r in pardot_api.api_requests]
    assert used == [
        "Bearer expired-token",
        "Bearer token-of-another-thread",
        "Bearer issued-token-1",
    ]
    assert len(pardot_api.token_requests) == 1, "one refresh of its own, no more"


@pytest.mark.parametrize("rejection", REJECTIONS)
def test_no_refresh_loop_when_the_replay_fails_too(
    make_client: ClientFactory, pardot_api: FakePardot, rejection: Reply
) -> None:
    pardot_api.rejection = rejection
    pardot_api.rejected_tokens.update({"issued-token-1", "issued-token-2", "issued-token-3"})
    client = make_client(credentials=REFRESH)
    with pytest.raises(AuthenticationError, match="even right after a refresh"):
        client.read(7)
    assert len(pardot_api.api_requests) == 2
    assert len(pardot_api.token_requests) == 2  # the first token, and one refresh
    assert client.request_count == 2


def test_static_token_rejected_is_not_refreshed(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.rejected_tokens.add("static-token")
    with pytest.raises(AuthenticationError, match="access token rejected \\(184") as info:
        make_client().query(limit=1)
    assert "client_id/client_secret/refresh_token" in str(info.value)
    assert len(pardot_api.api_requests) == 1
    assert pardot_api.token_requests == []


def test_threads_that_meet_a_stale_token_refresh_once(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    credentials = Credentials(
        access_token="expired-token", client_id="c", client_secret="s", refresh_token="r"
    )
    pardot_api.rejected_tokens.add("expired-token")
    # All five first requests are in flight with the stale token before any is answered
    # (and the five replays meet again at the barrier).
    barrier = threading.Barrier(5, timeout=5)
    pardot_api.hold = barrier.wait
    client = make_client(credentials=credentials, max_concurrency=5)

    def read(_: int) -> str | None:
        return client.read(7).findtext("id")

    with ThreadPoolExecutor(max_workers=5) as pool:
        assert list(pool.map(read, range(5))) == ["7"] * 5
    assert len(pardot_api.token_requests) == 1
    assert client.auth.token_refreshes == 1
    assert client.request_count == 10


# -- token endpoint failures -------------------------------------------------------------


def test_token_endpoint_json_error(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    body = json.dumps(
        {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    ).encode()
    pardot_api.token_script.append(Reply(400, body, {"content-type": "application/json"}))
    with pytest.raises(AuthenticationError) as info:
        make_client(credentials=REFRESH).read(7)
    text = str(info.value)
    assert "invalid_grant" in text
    assert "expired access/refresh token" in text
    assert "refresh_token" in text  # what to check
    assert "the-refresh-token" not in text
    assert "the-client-secret" not in text
    assert pardot_api.api_requests == []


def test_token_endpoint_echoing_a_secret_is_scrubbed(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    body = json.dumps({"error": "invalid_client", "error_description": "bad the-client-secret"})
    pardot_api.token_script.append(Reply(400, body.encode(), {}))
    with pytest.raises(AuthenticationError) as info:
        make_client(credentials=PASSWORD).read(7)
    assert "the-client-secret" not in str(info.value)
    assert "***" in str(info.value)


def test_token_endpoint_non_json_error(make_client: ClientFactory, pardot_api: FakePardot) -> None:
    pardot_api.token_script.append(Reply(401, b"<html>no</html>", {}))
    with pytest.raises(AuthenticationError, match="HTTP 401"):
        make_client(credentials=REFRESH).read(7)


def test_token_endpoint_200_without_token(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.token_script.append(Reply(200, b'{"token_type": "Bearer"}', {}))
    with pytest.raises(AuthenticationError, match="access_token"):
        make_client(credentials=REFRESH).read(7)


def test_token_endpoint_outage_is_retried_by_the_client(
    make_client: ClientFactory, pardot_api: FakePardot, sleeps: list[float]
) -> None:
    pardot_api.token_script += [Reply(503, b"", {}), httpx.ConnectError("refused")]
    client = make_client(credentials=REFRESH)
    assert client.read(7).findtext("id") == "7"
    assert len(pardot_api.token_requests) == 3
    assert len(sleeps) == 2
    assert client.request_count == 1


def test_token_endpoint_outage_exhausts_retries(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.token_script += [Reply(500, b"", {})] * 3
    with pytest.raises(TransientError, match="token endpoint unavailable"):
        make_client(credentials=REFRESH, max_retries=2).read(7)
    assert pardot_api.api_requests == []


def test_async_clients_are_refused() -> None:
    auth = PardotAuth(Credentials(access_token="tok"), BUSINESS_UNIT_ID)
    with pytest.raises(RuntimeError, match="synchronous"):
        next(auth.auth_flow(httpx.Request("GET", "https://pi.pardot.com/")))
