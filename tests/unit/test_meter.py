"""The request meter on its own: counts by operation, and one budget check."""

from __future__ import annotations

import httpx
import pytest

from sources.pardot.errors import DailyLimitError
from sources.pardot.meter import RequestMeter


def request(operation: str) -> httpx.Request:
    return httpx.Request("GET", f"https://pi.pardot.com/api/opportunity/version/3/do/{operation}")


def test_counts_by_operation() -> None:
    meter = RequestMeter()
    for operation in ("query", "query", "read"):
        meter.count(request(operation))
    meter.count(httpx.Request("GET", "https://pi.pardot.com/elsewhere"))
    assert meter.total == 4
    assert meter.by_operation == {"query": 2, "read": 1, "other": 1}
    meter.by_operation["query"] = 99
    assert meter.by_operation["query"] == 2, "a copy"


def test_the_budget_refuses_before_and_at_the_send() -> None:
    meter = RequestMeter(budget=2)
    meter.count(request("query"))
    meter.admit()
    meter.count(request("query"))
    with pytest.raises(DailyLimitError) as early:
        meter.admit()
    with pytest.raises(DailyLimitError) as late:
        meter.count(request("query"))
    assert (early.value.reason, early.value.requests_made) == ("budget", 2)
    assert late.value.requests_made == 2
    assert meter.total == 2, "a refused request is not counted"


def test_limit_counts_from_now() -> None:
    meter = RequestMeter()
    meter.count(request("read"))
    meter.limit(1)
    meter.count(request("read"))
    with pytest.raises(DailyLimitError):
        meter.admit()
    meter.limit(None)
    meter.count(request("read"))
    assert meter.total == 3
