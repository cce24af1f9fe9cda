"""The sync settings a user chooses, checked before any request is made.

Values arrive from dlt's config (TOML, environment) as strings, numbers or TOML dates;
``SyncSettings.from_values`` turns them into one typed, validated object, or raises
``ConfigurationError`` with a message that says which key to fix and how. The API host,
business unit and credentials are checked where they are used, by ``PardotClient``.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from typing import Any, Final

from .constants import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MAX_PAGE_SIZE
from .errors import ConfigurationError

DEFAULT_BATCH_SIZE: Final = 5_000
"""Opportunities gathered before they are typed and handed to dlt as Arrow tables."""
DEFAULT_CHECKPOINT_EVERY: Final = 500_000
"""The runner's most opportunities between two committed load packages: at most this much
work is fetched again after a kill. Each package costs dlt a fixed amount of work and a
merge, which nothing hides when the run is bound by CPU, so this is rare by default; a
run waiting on Pardot commits far more often, for free (``checkpoints``)."""


def _setting(default: Any, low: int | None = None, high: int | None = None) -> Any:
    """A setting's default, and for an integer the range it must lie in."""
    return field(default=default, metadata={} if low is None else {"range": (low, high)})


@dataclass(frozen=True)
class SyncSettings:
    """What a sync run needs to know besides the client.

    The one declaration of each setting's default (``pardot_source``'s signature reads
    them from ``DEFAULTS``) and, for integers, of the range ``from_values`` accepts.
    """

    timezone: str = "UTC"
    start_date: datetime | None = None
    """Aware; the first run fetches opportunities created at or after it."""
    page_size: int = _setting(MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    max_concurrency: int = _setting(DEFAULT_CONCURRENCY, 1, MAX_CONCURRENCY)
    daily_request_budget: int | None = _setting(None, 1, 10_000_000)
    """Requests a day across runs; None for no budget of our own."""
    fetch_activities_by_read: bool = False
    batch_size: int = _setting(DEFAULT_BATCH_SIZE, 1, 1_000_000)
    recent_sweep_days: int = _setting(30, 0, 3650)
    recent_sweep_every_minutes: int = _setting(60, -1, 10**7)
    """Minutes between recent-window sweeps; 0 = every run, -1 = never."""
    full_sweep_every_hours: int = _setting(24, -1, 10**6)
    """Hours between full sweeps; 0 = every run, -1 = only when asked (``--full-sweep``)."""
    hard_delete: bool = False
    """Delete the rows of deleted opportunities instead of marking them."""
    reject_bad_rows: bool = False
    """Set aside opportunities with untypable values instead of stopping the run."""
    checkpoint_every: int = _setting(0, 0, 10**9)
    """Opportunities handed out before the run pauses at a checkpoint, so that dlt loads
    them and commits the state; 0 = no checkpoint, one load package per run."""

    @classmethod
    def from_values(cls, **values: Any) -> SyncSettings:
        """Validate raw config values (strings, numbers, TOML dates); absent ones default.

        Raises:
            ConfigurationError: a value is malformed or out of range; the message names
                the key.
            TypeError: a key that is not a setting (a bug in the caller, not the config).
        """
        declared = {spec.name: spec for spec in fields(cls)}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise TypeError(f"not sync settings: {', '.join(unknown)}")
        zone = _timezone(values.get("timezone", cls.timezone))
        checked: dict[str, Any] = {
            "timezone": zone.key,
            "start_date": _start_date(values.get("start_date"), zone),
        }
        for name, spec in declared.items():
            if name in checked:
                continue
            value = values.get(name, spec.default)
            if "range" in spec.metadata:
                optional = spec.default is None and value in (None, "")
                checked[name] = None if optional else _integer(name, value, *spec.metadata["range"])
            else:
                checked[name] = bool(value)
        return cls(**checked)


DEFAULTS: Final = SyncSettings()
"""Every setting at its default: the values ``pardot_source`` declares to dlt."""


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
