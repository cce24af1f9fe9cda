"""Bounded retries: how many attempts a call gets, and how long it waits between them.

A failed attempt that a later one may not meet (which failures those are, ``errors``
decides) is raised as ``Retryable``; the client's call loop hands it to its
``Retrying``, which waits with jittered exponential backoff, or as long as the answer's
``Retry-After`` asks (up to a cap), and logs each retry at WARNING with the redacted URL.
When the attempts run out, the last failure is raised. Sleep and randomness are
injected, so tests run without waiting and replay exactly.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

import httpx

from .errors import PardotError, TransientError

logger = logging.getLogger(__name__)

RETRY_AFTER_CAP: Final = 600.0
"""Longest sleep a ``Retry-After`` header can ask for; beyond it we would rather fail."""


class Retryable(Exception):
    """An attempt failed in a way a later attempt may not; carries what to raise at the end.

    Attributes:
        reason: what failed, safe to log (no secret, no body).
        retry_after: seconds the answer asked to wait, if it said.
        final: raised as is when no attempt is left; None for a ``TransientError`` that
            counts the attempts.
    """

    def __init__(self, reason: str, retry_after: float | None, final: PardotError | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.final = final


class RetryPolicy:
    """Attempts, backoff and jitter for every call of one client (thread-safe)."""

    def __init__(
        self,
        *,
        max_retries: int,
        backoff_initial: float,
        backoff_max: float,
        sleep: Callable[[float], None],
        rng: random.Random | None = None,
    ) -> None:
        """Args: see ``config.ClientSettings``; ``sleep`` and ``rng`` are for tests."""
        self.max_retries = max_retries
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()

    def begin(self, operation: str) -> Retrying:
        """The retries of one call."""
        return Retrying(self, operation)

    def wait(self, seconds: float) -> None:
        """Sleep before the next attempt (outside every lock)."""
        self._sleep(seconds)

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_CAP)
        ceiling = min(self._backoff_max, self._backoff_initial * 2 ** (retry - 1))
        with self._lock:
            return self._rng.uniform(0.0, ceiling)


class Retrying:
    """One call's retries so far; ``failed`` either waits for the next attempt or raises."""

    def __init__(self, policy: RetryPolicy, operation: str) -> None:
        self._policy = policy
        self._operation = operation
        self.retries = 0

    def failed(self, failure: Retryable, shown: str) -> None:
        """An attempt failed with ``failure`` (``shown``: the redacted URL).

        Raises:
            PardotError: no attempt is left: ``failure.final``, or a ``TransientError``
                that says how many attempts were made.
        """
        policy, operation = self._policy, self._operation
        if self.retries >= policy.max_retries:
            if failure.final is not None:  # e.g. the last 66, or the truncated body
                raise failure.final from None
            raise TransientError(
                f"{operation}: gave up after {self.retries + 1} attempts: {failure.reason} "
                f"({shown})",
                operation=operation,
                attempts=self.retries + 1,
            ) from failure.__cause__
        self.retries += 1
        delay = policy.delay(self.retries, failure.retry_after)
        logger.warning(
            "%s: attempt %d of %d failed (%s); retrying in %.2f s (%s)",
            operation,
            self.retries,
            policy.max_retries + 1,
            failure.reason,
            delay,
            shown,
        )
        policy.wait(delay)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks for (a number or an HTTP date), if any."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
