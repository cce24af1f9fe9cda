"""The virtual clock and the account's time zone: rendering and parsing timestamps.

Pardot renders times as ``YYYY-MM-DD HH:MM:SS`` in the API user's zone, without a zone
designator, and reads filter times in GNU date syntax or as keywords (``today`` …). The
emulator stores aware UTC datetimes and converts only at the edge, here.
"""

import re
import threading
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from .errors import ApiError

_TS_RE = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T+](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$",
    re.IGNORECASE,
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
KEYWORDS = ("today", "yesterday", "last_7_days", "this_month", "last_month")


class VirtualClock:
    """A clock that starts at a fixed instant and moves by ``advance`` (and real time)."""

    def __init__(self, start: datetime, *, realtime: bool) -> None:
        self._start = start.astimezone(UTC)
        self._realtime = realtime
        self._t0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current virtual instant, aware UTC, whole seconds."""
        with self._lock:
            elapsed = self._offset
            if self._realtime:
                elapsed += time.monotonic() - self._t0
        return (self._start + timedelta(seconds=elapsed)).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        """Move the clock forward; it never goes back."""
        if seconds < 0:
            raise ValueError("the virtual clock only moves forward")
        with self._lock:
            self._offset += seconds


class AccountTime:
    """Conversions between stored UTC instants and the account's local wall time."""

    def __init__(self, tz_name: str) -> None:
        self.tz = ZoneInfo(tz_name)
        self._offsets: dict[int, int] = {}
        self._days: dict[int, str] = {}

    def render(self, instant: datetime | None) -> str | None:
        """``YYYY-MM-DD HH:MM:SS`` in the account zone.

        Hot path of every page: the UTC offset is cached per quarter hour (zone
        transitions fall on quarter hours) and the date text per local day.
        """
        if instant is None:
            return None
        ts = int(instant.timestamp())
        bucket = ts // 900
        offset = self._offsets.get(bucket)
        if offset is None:
            start = datetime.fromtimestamp(bucket * 900, UTC).astimezone(self.tz)
            offset = int(start.utcoffset().total_seconds())  # type: ignore[union-attr]
            self._offsets[bucket] = offset
        day, seconds = divmod(ts + offset, 86400)
        day_text = self._days.get(day)
        if day_text is None:
            day_text = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
            self._days[day] = day_text
        hour, rest = divmod(seconds, 3600)
        minute, second = divmod(rest, 60)
        return f"{day_text} {hour:02d}:{minute:02d}:{second:02d}"

    def iso(self, instant: datetime | None) -> str | None:
        """ISO-8601 in the account zone with its offset, whole seconds (API v5)."""
        if instant is None:
            return None
        return instant.astimezone(self.tz).isoformat(timespec="seconds")

    def local_date(self, instant: datetime) -> date:
        """The calendar date of ``instant`` in the account zone."""
        return instant.astimezone(self.tz).date()

    def _midnight(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).astimezone(UTC)

    def parse(self, text: str, now: datetime) -> datetime:
        """Parse a filter time (keyword or GNU-ish date) into aware UTC; error 7 if bad."""
        word = text.strip().lower()
        if word in KEYWORDS:
            today = self.local_date(now)
            if word == "today":
                return self._midnight(today)
            if word == "yesterday":
                return self._midnight(today - timedelta(days=1))
            if word == "last_7_days":
                return self._midnight(today - timedelta(days=7))
            first = today.replace(day=1)
            if word == "this_month":
                return self._midnight(first)
            return self._midnight((first - timedelta(days=1)).replace(day=1))
        match = _TS_RE.match(text)
        if match is None:
            raise ApiError(7)
        year, month, day, hour, minute, second, zone = match.groups()
        try:
            naive = datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        except ValueError as exc:
            raise ApiError(7) from exc
        if zone is None:
            return naive.replace(tzinfo=self.tz).astimezone(UTC)
        if zone.upper() == "Z":
            return naive.replace(tzinfo=UTC)
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return (naive - offset if zone[0] == "+" else naive + offset).replace(tzinfo=UTC)


def utc_iso(instant: datetime | None) -> str | None:
    """ISO-8601 in UTC with ``+00:00``, as the ground truth reports timestamps."""
    return None if instant is None else instant.astimezone(UTC).isoformat()
