"""Every documented Pardot error code, through the client: the body decides, in XML or JSON,
at any HTTP status; and the documented table (docs/errors.md) is the code's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.runner import exit_code_of
from sources.pardot.auth import Credentials
from sources.pardot.codes import CODES, Kind
from sources.pardot.errors import CODES as RULES
from sources.pardot.errors import (
    DailyLimitError,
    MalformedResponseError,
    PardotError,
    TransientError,
)

from .conftest import QUERY_OK, ClientFactory, FakePardot, Reply, fail
from .error_table import EXIT_CODES, rows

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
ONE_OF_EACH_KIND = {
    Kind.CREDENTIALS: 49,
    Kind.ACCOUNT_SETTING: 53,
    Kind.DAILY_LIMIT: 122,
    Kind.CONCURRENCY: 66,
    Kind.TRANSIENT: 183,
    Kind.VERSION: 88,
    Kind.NOT_FOUND: 35,
    Kind.WRITE_REFUSED: 37,
    Kind.INVALID_REQUEST: 10000,
}


def json_fail(code: int, message: str, status: int) -> Reply:
    """Pardot's JSON rendering of a failure, as public clients see it."""
    body = {"@attributes": {"stat": "fail", "version": 1, "err_code": code}, "err": message}
    return Reply(status, json.dumps(body).encode(), {"content-type": "application/json"})


def expected_requests(code: int) -> int:
    """With max_retries=1: a retried code is tried twice, a version code replayed once."""
    return 2 if RULES[code].retried or CODES[code][1] is Kind.VERSION else 1


def test_the_documented_table_is_the_code_s_own() -> None:
    documented = [line for line in DOCS.read_text().splitlines() if line.startswith("| ")]
    table = [line for line in documented if line.split("|")[1].strip().isdigit()]
    assert table == rows()


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_in_an_xml_body_at_http_200(
    code: int, make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    message, kind = CODES[code]
    pardot_api.default = fail(code, message)
    with pytest.raises(PardotError) as raised:
        make_client(max_retries=1).query(limit=5, sort_by="id")
    assert isinstance(raised.value, RULES[code].error)
    assert len(pardot_api.api_requests) == expected_requests(code)
    assert str(exit_code_of(raised.value)) == EXIT_CODES[kind].split()[0]
    assert "static-token" not in str(raised.value)


@pytest.mark.parametrize("status", [200, 400, 401, 429, 503])
@pytest.mark.parametrize("body", ["xml", "json"])
@pytest.mark.parametrize("kind", list(ONE_OF_EACH_KIND), ids=lambda kind: kind.value)
def test_the_body_decides_whatever_the_status(
    kind: Kind, body: str, status: int, make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    code = ONE_OF_EACH_KIND[kind]
    message = CODES[code][0]
    pardot_api.default = (
        fail(code, message, status) if body == "xml" else json_fail(code, message, status)
    )
    with pytest.raises(PardotError) as raised:
        make_client(max_retries=1).query(limit=5, sort_by="id")
    assert isinstance(raised.value, RULES[code].error), str(raised.value)
    assert len(pardot_api.api_requests) == expected_requests(code)
    assert str(exit_code_of(raised.value)) == EXIT_CODES[kind].split()[0]


@pytest.mark.parametrize("status", [429, 503])
def test_a_daily_limit_body_at_a_retry_status_is_the_daily_limit_at_once(
    status: int, make_client: ClientFactory, pardot_api: FakePardot, sleeps: list[float]
) -> None:
    pardot_api.default = json_fail(122, "Daily API rate limit met.", status)
    with pytest.raises(DailyLimitError) as raised:
        make_client().query(limit=5)
    assert raised.value.reason == "api" and raised.value.requests_made == 1
    assert not sleeps, "no retry: the limit will not lift within the run"


@pytest.mark.parametrize("status", [200, 400, 429, 503])
@pytest.mark.parametrize("body", ["xml", "json"])
def test_a_token_error_body_refreshes_once_at_any_status(
    body: str, status: int, make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    text = "access_token is invalid, unknown, or malformed"
    stale = fail(184, text, status) if body == "xml" else json_fail(184, text, status)
    pardot_api.script = [stale]
    refreshing = Credentials(
        access_token="stale",
        client_id="c",
        client_secret="s",
        refresh_token="r",
        token_url="https://login.example.com/services/oauth2/token",
    )
    result = make_client(credentials=refreshing).query(limit=5)
    assert result.findtext("opportunity/id") == "7"
    assert len(pardot_api.token_requests) == 1
    assert len(pardot_api.api_requests) == 2


def test_a_json_success_is_a_clear_error(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    body = {"@attributes": {"stat": "ok", "version": 1}, "result": {"total_results": 0}}
    pardot_api.default = Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})
    with pytest.raises(MalformedResponseError) as raised:
        make_client().query(limit=5)
    assert "JSON although XML was asked for (format=xml)" in str(raised.value)
    assert len(pardot_api.api_requests) == 1
    assert exit_code_of(raised.value) == 1


@pytest.mark.parametrize(
    "content",
    [b'{"@attributes": {"stat": "fail"', b"[1, 2]", b'{"err": "no code"}', b'{"@attributes": 3}'],
)
def test_a_json_body_that_is_no_pardot_answer_is_malformed_never_a_crash(
    content: bytes, make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.default = Reply(400, content, {"content-type": "application/json"})
    with pytest.raises(MalformedResponseError):
        make_client(max_retries=1).query(limit=5)


@pytest.mark.parametrize("status", [429, 503])
def test_without_a_pardot_answer_the_status_decides(
    status: int, make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.default = Reply(
        status, b"<html><body>busy</body></html>", {"content-type": "text/html"}
    )
    with pytest.raises(TransientError) as raised:
        make_client(max_retries=2).query(limit=5)
    assert f"HTTP {status}" in str(raised.value)
    assert len(pardot_api.api_requests) == 3


def test_a_pardot_answer_at_a_retry_status_is_read(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    pardot_api.default = Reply(503, QUERY_OK)
    assert make_client().query(limit=5).findtext("total_results") == "1"
