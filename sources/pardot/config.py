"""The settings a user chooses, checked before any request is made.

Values arrive from dlt's config (TOML, environment) as strings, numbers or TOML dates;
``SyncSettings.from_values`` turns the sync settings into one typed, validated object,
and ``ClientSettings`` checks how the client talks to Pardot (host, business unit,
version, limits, retries). Either raises ``ConfigurationError`` with a message that says
which key to fix and how. The credentials check themselves (``auth.Credentials``).
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from typing import Any, Final

import httpx

from .constants import (
    API_VERSIONS,
    BUSINESS_UNIT_ID_LENGTH,
    BUSINESS_UNIT_ID_PREFIX,
    DEFAULT_API_VERSION,
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    MAX_PAGE_SIZE,
)
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
    activity_feed: bool = True
    """Read the opportunity events (visitor activities) each run and re-read what they
    name (``feed``)."""
    v5_feed: bool = False
    """Ask API v5 each run for the opportunities updated since the last window, and re-read
    them (``v5feed``)."""
    delete_check: bool = True
    """Count Pardot's live opportunities each run and find deleted and undeleted ids by
    halving ranges whose count changed (``deletecheck``)."""
    history: bool = True
    """Record every change of an opportunity's tracked fields in ``opportunity_history``
    (``history``)."""
    batch_size: int = _setting(DEFAULT_BATCH_SIZE, 1, 1_000_000)
    recent_sweep_days: int = _setting(30, 0, 3650)
    recent_sweep_every_minutes: int = _setting(60, -1, 10**7)
    """Minutes between recent-window sweeps; 0 = every run, -1 = never."""
    full_sweep_every_hours: int = _setting(168, -1, 10**6)
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


_BUSINESS_UNIT_SHAPE: Final = re.compile(r"[0-9A-Za-z]+")


@dataclass(frozen=True)
class ClientSettings:
    """How the client talks to Pardot: host, business unit, version, limits, retries."""

    base_url: str
    """Without a trailing slash; https, or http on a loopback host."""
    business_unit_id: str
    api_version: int = DEFAULT_API_VERSION
    max_concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = 120.0
    """Seconds per request, for the HTTP client the client creates itself."""
    max_retries: int = 6
    """Retries after the first attempt of each call."""
    backoff_initial: float = 0.5
    """First backoff ceiling in seconds, doubled per retry."""
    backoff_max: float = 30.0
    request_budget: int | None = None
    """Requests this client may send; None for no budget."""

    def __post_init__(self) -> None:
        """Check every setting before any request is made.

        Raises:
            ConfigurationError: a setting is missing or malformed; the message says how
                to fix it.
        """
        url = str(require_secure_url(self.base_url, setting="base_url")).rstrip("/")
        object.__setattr__(self, "base_url", url)
        unit = self.business_unit_id
        if (
            len(unit) != BUSINESS_UNIT_ID_LENGTH
            or not unit.startswith(BUSINESS_UNIT_ID_PREFIX)
            or not _BUSINESS_UNIT_SHAPE.fullmatch(unit)
        ):
            raise ConfigurationError(
                f"business_unit_id must be {BUSINESS_UNIT_ID_LENGTH} letters and digits starting "
                f"{BUSINESS_UNIT_ID_PREFIX!r} (Salesforce Setup > Account Engagement > "
                "Business Unit Setup)"
            )
        if self.api_version not in API_VERSIONS:
            raise ConfigurationError(f"api_version must be 3 or 4, not {self.api_version!r}")
        if not 1 <= self.max_concurrency <= MAX_CONCURRENCY:
            raise ConfigurationError(
                f"max_concurrency must be 1-{MAX_CONCURRENCY}: Pardot allows "
                f"{MAX_CONCURRENCY} requests in flight per account"
            )
        if self.max_retries < 0 or self.backoff_initial < 0 or self.backoff_max < 0:
            raise ConfigurationError("max_retries and backoff times must not be negative")
        if self.request_budget is not None and self.request_budget < 0:
            raise ConfigurationError("daily_request_budget must not be negative")


def is_loopback_host(host: str) -> bool:
    """Tell whether a host name is this machine (where plain http is acceptable)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, *, setting: str) -> httpx.URL:
    """Check that a configured URL is https, or http on a loopback host.

    Args:
        url: the configured URL.
        setting: the setting's name, for the message.

    Returns:
        The parsed URL.

    Raises:
        ConfigurationError: the URL is malformed, has no host, or is plain http elsewhere.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError(f"{setting} is not a valid URL") from exc
    if not parsed.host or parsed.scheme not in ("https", "http"):
        raise ConfigurationError(f"{setting} must be an absolute https:// URL")
    if parsed.scheme == "http" and not is_loopback_host(parsed.host):
        raise ConfigurationError(
            f"{setting} must use https (plain http is allowed only for 127.0.0.1, localhost "
            f"or ::1, e.g. the local emulator); got http://{parsed.host}"
        )
    return parsed
