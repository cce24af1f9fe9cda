"""Pardot's rate limits: requests in flight (error 66) and requests a day (error 122).

The daily window is the calendar day of the virtual clock in the account time zone: a
request on a new local date starts a fresh count, so advancing the clock past midnight
resets it.
"""

import threading
from datetime import date


class ConcurrencyGate:
    """Counts API requests in flight; ``enter`` refuses once ``limit`` are running."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Take a slot; False (and no slot) when the limit is reached."""
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """Requests currently holding a slot."""
        with self._lock:
            return self._in_flight


class DailyCounter:
    """API requests counted per local calendar day."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._day: date | None = None
        self._count = 0
        self._lock = threading.Lock()

    def take(self, today: date) -> bool:
        """Count one request on ``today``; False when the day's limit is already met."""
        with self._lock:
            if today != self._day:
                self._day, self._count = today, 0
            if self.limit is not None and self._count >= self.limit:
                return False
            self._count += 1
            return True

    def used(self, today: date) -> int:
        """Requests counted on ``today``."""
        with self._lock:
            return self._count if today == self._day else 0
