"""The retry policy on its own: backoff ceilings, jitter, Retry-After with its cap, and
what is raised when the attempts run out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from sources.pardot.errors import ConcurrencyLimitError, TransientError
from sources.pardot.retry import RETRY_AFTER_CAP, Retryable, RetryPolicy, retry_after


def policy(rng: random.Random | None = None, sleeps: list[float] | None = None) -> RetryPolicy:
    record = sleeps if sleeps is not None else []
    return RetryPolicy(
        max_retries=3, backoff_initial=1.0, backoff_max=4.0, sleep=record.append, rng=rng
    )


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    jittered = policy(random.Random(1))
    delays = [jittered.delay(retry, None) for retry in (1, 2, 3, 4, 5)]
    expected = random.Random(1)
    assert delays == [expected.uniform(0, c) for c in (1.0, 2.0, 4.0, 4.0, 4.0)]


def test_retry_after_wins_and_is_capped() -> None:
    assert policy().delay(1, 7.0) == 7.0
    assert policy().delay(1, -3.0) == 0.0
    assert policy().delay(1, RETRY_AFTER_CAP * 10) == RETRY_AFTER_CAP


@pytest.mark.parametrize(
    ("header", "expected"),
    [("", None), ("7", 7.0), ("2.5", 2.5), ("-4", 0.0), ("soon", None)],
)
def test_retry_after_header(header: str, expected: float | None) -> None:
    headers = {"retry-after": header} if header else {}
    assert retry_after(httpx.Response(503, headers=headers)) == expected


def test_retry_after_as_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = retry_after(httpx.Response(503, headers={"retry-after": when}))
    assert seconds is not None and 25 <= seconds <= 30


def test_a_call_sleeps_between_attempts_then_raises_its_final_error() -> None:
    sleeps: list[float] = []
    retrying = policy(random.Random(2), sleeps).begin("read")
    busy = ConcurrencyLimitError(66, "busy", operation="read", url="/x", http_status=200)
    for _ in range(3):
        retrying.failed(Retryable("Pardot error 66", 1.5, busy), "/x")
    assert sleeps == [1.5, 1.5, 1.5], "Retry-After, three retries"
    with pytest.raises(ConcurrencyLimitError) as raised:
        retrying.failed(Retryable("Pardot error 66", 1.5, busy), "/x")
    assert raised.value is busy


def test_without_a_final_error_the_last_failure_counts_the_attempts() -> None:
    retrying = policy(random.Random(3)).begin("query")
    for _ in range(3):
        retrying.failed(Retryable("HTTP 503", None, None), "/q")
    with pytest.raises(TransientError) as raised:
        retrying.failed(Retryable("HTTP 503", None, None), "/q")
    assert raised.value.attempts == 4
    assert "gave up after 4 attempts: HTTP 503 (/q)" in str(raised.value)
