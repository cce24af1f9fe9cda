"""API v5's opportunity query in the client, and the v5 feed's windows, against a stub
server (``httpx.MockTransport``): the answer of each status, and paging past the cap."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sources.pardot.auth import Credentials
from sources.pardot.client import PardotClient
from sources.pardot.errors import (
    DailyLimitError,
    MalformedResponseError,
    PardotApiError,
    PardotError,
    TransientError,
    V5UnavailableError,
)
from sources.pardot.v5feed import local_iso, read_updates

BU = "0Uv000000000001AAA"
Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, slept: list[float] | None = None) -> PardotClient:
    return PardotClient(
        base_url="https://pi.pardot.test",
        business_unit_id=BU,
        credentials=Credentials(access_token="token"),
        http=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=(slept if slept is not None else []).append,
    )


def page(values: list[dict[str, Any]], token: str | None = None, **headers: str) -> httpx.Response:
    body = {"values": values, "nextPageToken": token, "nextPageUrl": None}
    return httpx.Response(200, json=body, headers=headers)


def test_a_page_gives_ids_and_utc_instants_and_sends_the_query_as_asked() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return page([{"id": 7, "updatedAt": "2024-03-09T07:00:00-05:00"}], token="next")

    result = client_for(handler).v5_opportunities({"fields": "id,updatedAt", "limit": "1000"})

    assert result.updates == [(7, datetime(2024, 3, 9, 12, 0, tzinfo=UTC))]
    assert (result.next_token, result.capped) == ("next", False)
    request = seen[0]
    assert request.url.path == "/api/v5/objects/opportunities"
    assert request.headers["authorization"] == "Bearer token"
    assert request.headers["pardot-business-unit-id"] == BU


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (403, {"code": 1, "message": "v5 not enabled"}, V5UnavailableError),
        (404, None, V5UnavailableError),
        (429, {"code": 122, "message": "daily limit"}, DailyLimitError),
        (400, {"code": 10000, "message": "bad updatedAtAfterOrEqualTo"}, PardotApiError),
        (418, None, PardotError),
    ],
)
def test_each_error_status_means_what_v5_says(
    status: int, body: dict[str, Any] | None, error: type[Exception]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body) if body else httpx.Response(status)

    with pytest.raises(error) as raised:
        client_for(handler).v5_opportunities({"fields": "id"})
    assert "token" not in str(raised.value)


def test_429_without_the_daily_code_and_5xx_are_retried() -> None:
    answers = iter(
        [
            httpx.Response(429, json={"code": 66, "message": "too many"}),
            httpx.Response(503),
            httpx.Response(200, content=b'{"values": [{"id": 1'),  # truncated
            page([{"id": 1, "updatedAt": "2024-03-09T12:00:00Z"}]),
        ]
    )
    slept: list[float] = []
    result = client_for(lambda request: next(answers), slept).v5_opportunities({"fields": "id"})
    assert result.updates == [(1, datetime(2024, 3, 9, 12, 0, tzinfo=UTC))]
    assert len(slept) == 3


def test_retries_end() -> None:
    with pytest.raises(TransientError):
        client_for(lambda request: httpx.Response(502)).v5_opportunities({"fields": "id"})


@pytest.mark.parametrize(
    "value",
    [
        {"id": "7", "updatedAt": "2024-03-09T12:00:00Z"},
        {"id": 7, "updatedAt": "2024-03-09T12:00:00"},
    ],
)
def test_a_page_that_is_not_what_v5_sends_is_refused(value: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponseError, match="not a v5 page"):
        client_for(lambda request: page([value])).v5_opportunities({"fields": "id"})


def test_a_window_pages_by_token_and_goes_on_past_the_cap_from_the_last_update() -> None:
    start = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)
    at = [start + timedelta(seconds=i) for i in range(5)]
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        if params.get("nextPageToken") == "t1":  # the chain's cap: 203, no token
            return page([{"id": 3, "updatedAt": at[2].isoformat()}], **{"Pardot-Warning": "203"})
        if "nextPageToken" in params:
            raise AssertionError(params)
        since = datetime.fromisoformat(params["updatedAtAfterOrEqualTo"])
        if since == start:
            return page(
                [
                    {"id": 1, "updatedAt": at[0].isoformat()},
                    {"id": 2, "updatedAt": at[1].isoformat()},
                ],
                token="t1",
            )
        assert since == at[2], "the next window starts at the last update seen, inclusive"
        return page(
            [{"id": 3, "updatedAt": at[2].isoformat()}, {"id": 4, "updatedAt": at[4].isoformat()}]
        )

    pages = list(read_updates(client_for(handler), start, "Asia/Kolkata"))

    assert [i for updates in pages for i, _ in updates] == [1, 2, 3, 3, 4]
    assert asked[0]["updatedAtAfterOrEqualTo"] == "2024-03-09T17:30:00+05:30"
    assert asked[0]["orderBy"] == "updatedAt ASC" and asked[0]["limit"] == "1000"
    assert asked[1] == {"nextPageToken": "t1"}
    assert len(asked) == 3


def test_a_capped_chain_within_one_second_is_an_error_not_a_loop() -> None:
    start = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)

    def handler(request: httpx.Request) -> httpx.Response:
        return page([{"id": 1, "updatedAt": start.isoformat()}], **{"Pardot-Warning": "203"})

    with pytest.raises(PardotError, match="cannot move on"):
        list(read_updates(client_for(handler), start, "UTC"))


def test_bounds_carry_the_zone_s_offset_on_both_sides_of_utc() -> None:
    moment = datetime(2024, 7, 1, 12, 0, 30, 999, tzinfo=UTC)
    assert local_iso(moment, "America/Los_Angeles") == "2024-07-01T05:00:30-07:00"
    assert local_iso(moment, "Europe/Berlin") == "2024-07-01T14:00:30+02:00"
    assert json.dumps(local_iso(moment, "UTC")) == '"2024-07-01T12:00:30+00:00"'


def test_a_rejected_token_is_refreshed_once_and_the_page_asked_again() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            asked.append("token")
            return httpx.Response(200, json={"access_token": "fresh", "token_type": "Bearer"})
        asked.append(request.headers["authorization"])
        if request.headers["authorization"] != "Bearer fresh":
            return httpx.Response(401, json={"code": 184, "message": "access_token is invalid"})
        return page([{"id": 9, "updatedAt": "2024-03-09T12:00:00+00:00"}])

    client = PardotClient(
        base_url="https://pi.pardot.test",
        business_unit_id=BU,
        credentials=Credentials(
            access_token="stale",
            client_id="c",
            client_secret="s",
            refresh_token="r",
            token_url="https://login.example.com/services/oauth2/token",
        ),
        http=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    assert client.v5_opportunities({"fields": "id"}).updates[0][0] == 9
    assert asked == ["Bearer stale", "token", "Bearer fresh"]
