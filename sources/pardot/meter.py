"""Counting API requests, and the budget that stops them.

Pardot limits API requests per account and day, and every integration of the account
shares that quota, so the connector counts what it sends (retries and token replays
included, token requests not) and can stop itself at a budget of its own
(``daily_request_budget``) before Pardot stops it. One meter serves every thread of a
client.
"""

from __future__ import annotations

import re
import threading
from typing import Final

import httpx

from .errors import DailyLimitError

_OPERATION_IN_PATH: Final = re.compile(r"/do/([a-z]+)")


class RequestMeter:
    """API requests sent, in all and per operation, against an optional budget."""

    def __init__(self, budget: int | None = None) -> None:
        """``budget``: requests this meter admits in all; None for no budget."""
        self._budget = budget
        self._lock = threading.Lock()
        self._total = 0
        self._by_operation: dict[str, int] = {}

    def limit(self, budget: int | None) -> None:
        """Admit at most ``budget`` more requests from now on (None: no limit)."""
        with self._lock:
            self._budget = None if budget is None else self._total + budget

    def admit(self) -> None:
        """Check, before a request is prepared, that the budget allows one more.

        Raises:
            DailyLimitError: the budget is spent (reason ``"budget"``).
        """
        with self._lock:
            self._check()

    def count(self, request: httpx.Request) -> None:
        """Count ``request``, about to be sent (the auth flow calls this for every API
        request, replays too).

        Raises:
            DailyLimitError: the budget is spent; the request is not sent.
        """
        match = _OPERATION_IN_PATH.search(request.url.path)
        operation = match.group(1) if match else "other"
        with self._lock:
            self._check()
            self._total += 1
            self._by_operation[operation] = self._by_operation.get(operation, 0) + 1

    @property
    def total(self) -> int:
        """Requests sent so far."""
        with self._lock:
            return self._total

    @property
    def by_operation(self) -> dict[str, int]:
        """A copy of ``total`` split by operation name."""
        with self._lock:
            return dict(self._by_operation)

    def _check(self) -> None:
        # The one budget check; called with the lock held.
        if self._budget is not None and self._total >= self._budget:
            raise DailyLimitError("budget", self._total)
