"""The exception tree and the Pardot code map: every listed code lands in its class."""

from __future__ import annotations

import pytest

from sources.pardot.errors import (
    AUTH_CODES,
    RETRIED_CODES,
    AccountSettingError,
    AuthenticationError,
    ConcurrencyLimitError,
    DailyLimitError,
    DataError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    PardotApiError,
    PardotError,
    TransientError,
    VersionMismatchError,
    WriteNotAllowedError,
    error_for_code,
    is_retried,
    is_retried_status,
    is_retried_unreadable,
    redact_url,
)

URL = "https://pi.pardot.com/api/opportunity/version/3/do/query?limit=200&sort_by=id"

INVALID_REQUEST_CODES = (
    *(2, 3, 4, 5, 7, 8, 13, 16, 17, 19, 20, 21, 23, 36, 38),
    *(40, 41, 42, 43, 44, 50, 60, 10000),
)


def classify(code: int, message: str = "text") -> PardotError:
    return error_for_code(code, message, operation="query", url=URL, http_status=200)


@pytest.mark.parametrize("code", [1, 15, 46, 49, 76, 126, 131, 181, 182, 184, 196, 199, 201])
def test_auth_codes_give_authentication_error_with_a_hint(code: int) -> None:
    error = classify(code, "Pardot says no")
    assert isinstance(error, AuthenticationError)
    assert error.code == code
    assert "query" in str(error)
    assert "Pardot says no" in str(error)
    assert code in AUTH_CODES


def test_201_points_at_business_unit_and_sandbox_host() -> None:
    text = str(classify(201))
    assert "business_unit_id" in text
    assert "https://pi.demo.pardot.com" in text


def test_184_says_how_to_fix() -> None:
    assert "client_id/client_secret/refresh_token" in str(classify(184))


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        pytest.param(66, ConcurrencyLimitError, id="66-concurrency"),
        pytest.param(88, VersionMismatchError, id="88-version"),
        pytest.param(89, VersionMismatchError, id="89-version"),
        pytest.param(35, NotFoundError, id="35-not-found"),
        pytest.param(192, NotFoundError, id="192-not-found"),
        pytest.param(22, AccountSettingError, id="22-api-version"),
        pytest.param(53, AccountSettingError, id="53-ip-allowlist"),
        pytest.param(37, WriteNotAllowedError, id="37-sf-connector"),
        pytest.param(59, WriteNotAllowedError, id="59-crm-connector"),
        *(
            pytest.param(code, InvalidRequestError, id=f"{code}-invalid")
            for code in INVALID_REQUEST_CODES
        ),
    ],
)
def test_api_codes_map_to_their_class(code: int, cls: type[PardotApiError]) -> None:
    error = classify(code, "message")
    assert type(error) is cls
    assert isinstance(error, PardotApiError)
    assert error.code == code
    assert error.message == "message"
    assert error.operation == "query"
    assert error.http_status == 200
    assert error.url == "/api/opportunity/version/3/do/query?limit&sort_by"


def test_122_is_the_daily_limit() -> None:
    error = classify(122)
    assert isinstance(error, DailyLimitError)
    assert error.reason == "api"


@pytest.mark.parametrize("code", [183, 202, 214])
def test_transient_codes(code: int) -> None:
    error = classify(code)
    assert isinstance(error, TransientError)
    assert error.code == code
    assert error.operation == "query"


def test_unknown_code_keeps_code_message_and_redacted_url() -> None:
    error = classify(9999, "Something new")
    assert type(error) is PardotApiError
    assert "9999" in str(error)
    assert "Something new" in str(error)
    assert "/do/query?limit&sort_by" in str(error)
    assert "200" not in error.url


def test_long_messages_are_cut() -> None:
    error = classify(9999, "x" * 5000)
    assert len(str(error)) < 500


def test_redact_url_drops_values_and_prospect_email() -> None:
    url = "https://h/api/opportunity/version/4/do/create/prospect_email/a%40b.com?x=1&y=2"
    assert redact_url(url, ["name", "x"]) == (
        "/api/opportunity/version/4/do/create/prospect_email/***?x&y&name"
    )


def test_other_error_classes_carry_their_attributes() -> None:
    limit = DailyLimitError("budget", 12)
    assert (limit.reason, limit.requests_made) == ("budget", 12)
    assert "budget" in str(limit)
    transient = TransientError("gave up", operation="read", attempts=7)
    assert (transient.operation, transient.attempts) == ("read", 7)
    bad = MalformedResponseError(
        "empty body", operation="read", http_status=502, content_type="text/html"
    )
    assert "read" in str(bad)
    assert "502" in str(bad)
    assert "text/html" in str(bad)
    data = DataError(opportunity_id=5, field="value", value="abc" * 100, reason="not a number")
    assert (data.opportunity_id, data.field, data.reason) == (5, "value", "not a number")
    assert len(str(data)) < 200
    assert all(
        issubclass(cls, PardotError)
        for cls in (AuthenticationError, DailyLimitError, TransientError, DataError)
    )


@pytest.mark.parametrize("code", sorted(RETRIED_CODES))
def test_the_retried_codes_are_retried_whatever_their_class(code: int) -> None:
    assert is_retried(classify(code))


@pytest.mark.parametrize("code", [1, 15, 35, 37, 88, 122, 184, 10000, 999])
def test_other_codes_are_not_retried(code: int) -> None:
    assert not is_retried(classify(code))


@pytest.mark.parametrize(
    ("status", "retried"),
    [(200, False), (400, False), (401, False), (404, False), (429, True), (500, True), (503, True)],
)
def test_which_http_statuses_are_retried(status: int, retried: bool) -> None:
    assert is_retried_status(status) is retried
    assert is_retried_unreadable(status) is (not 400 <= status < 500)
