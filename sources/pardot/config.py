"""The sync settings of DESIGN.md §3.1, checked before any request is made.

Values arrive from dlt's config (TOML, environment) as strings, numbers or TOML dates;
``SyncSettings.from_values`` turns them into one typed, validated object, or raises
``ConfigurationError`` with a message that says which key to fix and how. The API host,
business unit and credentials are checked where they are used, by ``PardotClient``.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final

from .constants import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MAX_PAGE_SIZE
from .errors import ConfigurationError

DEFAULT_BATCH_SIZE: Final = 5_000
"""Opportunities gathered before they are typed and handed to dlt as Arrow tables."""
DEFAULT_CHECKPOINT_EVERY: Final = 500_000
"""The runner's most opportunities between two committed load packages: at most this much
work is fetched again after a kill. Each package costs about half a second of dlt's fixed
work and its merge, which nothing hides when the run is bound by CPU: 500,000 is a minute
of such a run. A run waiting on Pardot commits far more often, for free (``checkpoints``)."""


@dataclass(frozen=True)
class SyncSettings:
    """What a sync run needs to know besides the client."""

    timezone: str = "UTC"
    start_date: datetime | None = None
    """Aware; the first run fetches opportunities created at or after it."""
    page_size: int = MAX_PAGE_SIZE
    max_concurrency: int = DEFAULT_CONCURRENCY
    daily_request_budget: int | None = None
    fetch_activities_by_read: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    recent_sweep_days: int = 30
    recent_sweep_every_minutes: int = 60
    """Minutes between recent-window sweeps; 0 = every run, -1 = never."""
    full_sweep_every_hours: int = 24
    """Hours between full sweeps; 0 = every run, -1 = only when asked (``--full-sweep``)."""
    hard_delete: bool = False
    """Delete the rows of deleted opportunities instead of marking them."""
    reject_bad_rows: bool = False
    """Set aside opportunities with untypable values instead of stopping the run."""
    checkpoint_every: int = 0
    """Opportunities handed out before the run pauses at a checkpoint, so that dlt loads
    them and commits the state; 0 = no checkpoint, one load package per run."""

    @classmethod
    def from_values(
        cls,
        *,
        timezone: str = "UTC",
        start_date: str | date | datetime | None = None,
        page_size: int | str = MAX_PAGE_SIZE,
        max_concurrency: int | str = DEFAULT_CONCURRENCY,
        daily_request_budget: int | str | None = None,
        fetch_activities_by_read: bool = False,
        batch_size: int | str = DEFAULT_BATCH_SIZE,
        recent_sweep_days: int | str = 30,
        recent_sweep_every_minutes: int | str = 60,
        full_sweep_every_hours: int | str = 24,
        hard_delete: bool = False,
        reject_bad_rows: bool = False,
        checkpoint_every: int | str = 0,
    ) -> SyncSettings:
        """Validate raw config values.

        Raises:
            ConfigurationError: a value is missing or malformed; the message names the key.
        """
        zone = _timezone(timezone)
        return cls(
            timezone=zone.key,
            start_date=_start_date(start_date, zone),
            page_size=_integer("page_size", page_size, 1, MAX_PAGE_SIZE),
            max_concurrency=_integer("max_concurrency", max_concurrency, 1, MAX_CONCURRENCY),
            daily_request_budget=None
            if daily_request_budget in (None, "")
            else _integer("daily_request_budget", daily_request_budget, 1, 10_000_000),
            fetch_activities_by_read=bool(fetch_activities_by_read),
            batch_size=_integer("batch_size", batch_size, 1, 1_000_000),
            recent_sweep_days=_integer("recent_sweep_days", recent_sweep_days, 0, 3650),
            recent_sweep_every_minutes=_integer(
                "recent_sweep_every_minutes", recent_sweep_every_minutes, -1, 10**7
            ),
            full_sweep_every_hours=_integer(
                "full_sweep_every_hours", full_sweep_every_hours, -1, 10**6
            ),
            hard_delete=bool(hard_delete),
            reject_bad_rows=bool(reject_bad_rows),
            checkpoint_every=_integer("checkpoint_every", checkpoint_every, 0, 10**9),
        )


def _timezone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"timezone {name!r} is not an IANA time zone name; set [sources.pardot] timezone "
            "to the API user's time zone in Pardot, e.g. 'America/New_York' or 'UTC'"
        ) from None


def _start_date(value: str | date | datetime | None, zone: zoneinfo.ZoneInfo) -> datetime | None:
    if value is None or value == "":
        return None
    parsed: datetime
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ConfigurationError(
                f"start_date {value!r} is not an ISO date or date-time; use e.g. '2024-01-31' "
                "or '2024-01-31T08:00:00' (local to timezone) or '2024-01-31T08:00:00+00:00'"
            ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _integer(key: str, value: int | str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigurationError(f"{key} must be between {low} and {high}, got {number}")
    return number
