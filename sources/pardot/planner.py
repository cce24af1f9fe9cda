"""What a run reads: new opportunities only, a recent-window sweep, or a full sweep.

Pardot's v3/v4 opportunity query cannot filter on ``updated_at``, so the only way to see
changes is to read opportunities again. Each run makes exactly one keyset scan by id
ascending:

* ``full``: every opportunity (from ``start_date`` if set). Finds changes to any
  opportunity, and deletes: an id loaded before that the sweep no longer returns.
  Due every ``full_sweep_every_hours``; the first run is one.
* ``recent``: opportunities created in the last ``recent_sweep_days`` days, where changes
  concentrate. Due every ``recent_sweep_every_minutes``.
* ``new``: only opportunities past the id cursor. A run with nothing new costs one
  request.

Both sweeps also pick up new opportunities, so a run never needs a second scan. Sweep
cadence uses this machine's clock, but correctness never does: nothing is skipped
because of ``updated_at`` or a clock, only read again later.

``SyncState`` is the typed view of the plain mapping dlt persists (the resource state).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa

from .config import SyncSettings
from .constants import PARDOT_TIMESTAMP_FORMAT
from .idset import decode_ids, encode_ids

CREATED_AFTER_MARGIN: Final = timedelta(days=1)
"""How far before the last seen ``created_at`` a new-opportunities scan starts.

Free: ``id_greater_than`` excludes everything already loaded; the margin only guards
against ids handed out slightly out of ``created_at`` order.
"""

ScanKind = Literal["new", "recent", "full"]


@dataclass(frozen=True)
class Scan:
    """One keyset scan: which rows, from where."""

    kind: ScanKind
    created_after: str | None
    """Pardot's local time, ``YYYY-MM-DD HH:MM:SS``; None for no date filter."""
    ranges: tuple[tuple[int | None, int | None], ...]
    """Id ranges still to read, ``lo < id < hi`` (None: unbounded)."""
    started: datetime
    """When this scan began; for a resumed sweep, when its first part began."""
    seen_before: pa.Array = field(default_factory=lambda: pa.array([], pa.int64()))
    """Ids an interrupted sweep saw before this run resumed it."""


class SyncState:
    """Typed access to the resource state that dlt commits with each load package."""

    def __init__(self, state: MutableMapping[str, Any]) -> None:
        """Wrap dlt's resource state (a plain dict, empty on the first run)."""
        self.state = state

    @property
    def last_id(self) -> int | None:
        """Largest opportunity id loaded so far."""
        return self._cursor().get("last_id")

    @property
    def last_created_at(self) -> str | None:
        """``created_at`` of that opportunity, exactly as Pardot rendered it."""
        return self._cursor().get("last_created_at")

    @property
    def cursor_timezone(self) -> str | None:
        """The zone ``last_created_at`` is in (the API user's); None in older states."""
        return self._cursor().get("timezone")

    def advance(
        self, last_id: int | None, last_created_at: str | None, *, timezone: str | None = None
    ) -> None:
        """Move the cursor forward to ``last_id``; never backwards. ``timezone``: the zone
        Pardot rendered ``last_created_at`` in, kept so the cursor can be shown with it."""
        if last_id is None or (self.last_id is not None and last_id <= self.last_id):
            return
        self.state["new_opportunities"] = {
            "last_id": last_id,
            "last_created_at": last_created_at,
            "timezone": timezone,
        }

    def _cursor(self) -> dict[str, Any]:
        return self.state.get("new_opportunities") or {}

    def swept_at(self, kind: ScanKind) -> datetime | None:
        """When the last completed sweep of ``kind`` started (UTC)."""
        text = (self.state.get("sweeps") or {}).get(kind)
        return datetime.fromisoformat(text) if text else None

    def mark_swept(self, kind: ScanKind, started: datetime) -> None:
        """Record a completed sweep; a full sweep also counts as a recent one."""
        sweeps = dict(self.state.get("sweeps") or {})
        for done in ("full", "recent") if kind == "full" else (kind,):
            sweeps[done] = started.isoformat()
        self.state["sweeps"] = sweeps

    @property
    def known_ids(self) -> pa.Array:
        """Ids loaded and, as far as the last full sweep knows, not deleted."""
        return decode_ids(self.state.get("known_ids"))

    @known_ids.setter
    def known_ids(self, ids: pa.Array) -> None:
        self.state["known_ids"] = encode_ids(ids)

    def unfinished_sweep(self) -> Scan | None:
        """A scan that an earlier run began and could not finish, to resume."""
        saved = self.state.get("unfinished_sweep")
        if not saved:
            return None
        return Scan(
            saved["kind"],
            saved["created_after"],
            tuple((lo, hi) for lo, hi in saved["ranges"]),
            datetime.fromisoformat(saved["started"]),
            decode_ids(saved["seen"]),
        )

    def save_unfinished_sweep(
        self, scan: Scan, ranges: list[tuple[int | None, int | None]], seen: pa.Array
    ) -> None:
        """Remember what an interrupted scan has left to read, so the next run goes on."""
        self.state["unfinished_sweep"] = {
            "kind": scan.kind,
            "created_after": scan.created_after,
            "ranges": [list(span) for span in ranges],
            "started": scan.started.isoformat(),
            "seen": encode_ids(seen),
        }

    def finish_sweep(self, scan: Scan) -> None:
        """A sweep read its last page: record it and forget any unfinished part."""
        self.state.pop("unfinished_sweep", None)
        self.mark_swept(scan.kind, scan.started)

    @property
    def feed_cursor(self) -> int | None:
        """The last opportunity event (visitor activity id) read; None before the first."""
        return (self.state.get("activity_feed") or {}).get("last_id")

    @property
    def refresh_ids(self) -> pa.Array:
        """Opportunities named by events read, not yet re-read since."""
        return decode_ids((self.state.get("activity_feed") or {}).get("refresh"))

    @property
    def refresh_prospects(self) -> list[int]:
        """Prospects of events that named no opportunity, whose opportunities are not yet
        re-read since."""
        return list((self.state.get("activity_feed") or {}).get("prospects") or [])

    @property
    def sweep_event_mark(self) -> int | None:
        """The newest opportunity event id when the current (or last) full sweep began."""
        return (self.state.get("event_marks") or {}).get("sweep")

    @sweep_event_mark.setter
    def sweep_event_mark(self, mark: int | None) -> None:
        self.state["event_marks"] = {"sweep": mark}

    @property
    def nested_activities(self) -> bool:
        """Whether the opportunity query nested the activities, when a run last saw."""
        return bool((self.state.get("activity_feed") or {}).get("nested_activities"))

    def set_feed(
        self,
        last_id: int | None,
        refresh: pa.Array,
        prospects: list[int],
        *,
        nested_activities: bool,
    ) -> None:
        """Where the event feed stands, and what its events still ask to re-read."""
        self.state["activity_feed"] = {
            "last_id": last_id,
            "refresh": encode_ids(refresh),
            "prospects": sorted(prospects),
            "nested_activities": nested_activities,
        }

    @property
    def v5_watermark(self) -> datetime | None:
        """Where the v5 feed's next window begins (UTC); None before its first run."""
        text = (self.state.get("v5_feed") or {}).get("watermark")
        return datetime.fromisoformat(text) if text else None

    @property
    def v5_seen(self) -> dict[int, datetime]:
        """Opportunities the v5 feed named at or after the watermark, with their
        ``updatedAt``: the next window skips them unless they changed again."""
        seen = (self.state.get("v5_feed") or {}).get("seen") or {}
        return {int(i): datetime.fromisoformat(at) for i, at in seen.items()}

    @property
    def v5_refused_at(self) -> datetime | None:
        """When API v5 last refused this account (the feed waits a day to ask again)."""
        text = (self.state.get("v5_feed") or {}).get("refused_at")
        return datetime.fromisoformat(text) if text else None

    def set_v5_feed(
        self,
        watermark: datetime | None,
        seen: dict[int, datetime],
        refused_at: datetime | None,
    ) -> None:
        """Where the v5 feed stands; committed with the re-reads it asks for."""
        self.state["v5_feed"] = {
            "watermark": watermark.isoformat() if watermark else None,
            "seen": {str(i): at.isoformat() for i, at in sorted(seen.items())},
            "refused_at": refused_at.isoformat() if refused_at else None,
        }

    def clear_v5_feed(self) -> None:
        """The v5 feed is off: its next first run sets a new watermark."""
        self.state.pop("v5_feed", None)

    @property
    def history_since(self) -> str | None:
        """When the history began to be recorded (ISO-8601); None while it is off, and in a
        pipeline loaded before it existed: its next run starts it from the warehouse."""
        return (self.state.get("history") or {}).get("since")

    def start_history(self, since: datetime) -> None:
        """The history holds a version of every loaded opportunity from now on."""
        self.state["history"] = {"since": since.isoformat()}

    def stop_history(self) -> None:
        """The history is off: when it is on again, it starts again from the warehouse."""
        self.state.pop("history", None)

    @property
    def requests_tally(self) -> tuple[str | None, int]:
        """The last day (the API user's local date) with requests recorded, and its count."""
        used = self.state.get("requests_today") or {}
        return used.get("day"), int(used.get("count", 0))

    def requests_today(self, today: str) -> int:
        """API requests made by earlier runs on ``today`` (the API user's local date)."""
        used = self.state.get("requests_today") or {}
        return int(used.get("count", 0)) if used.get("day") == today else 0

    def set_requests_today(self, today: str, requests: int) -> None:
        """Today's tally of requests, all runs so far (for ``daily_request_budget``)."""
        self.state["requests_today"] = {"day": today, "count": requests}


def plan_scan(
    state: SyncState, settings: SyncSettings, now: datetime, *, force_full: bool = False
) -> Scan:
    """Choose the one scan this run makes (see the module docstring).

    A sweep cut short (daily limit, error) is resumed from where it stopped, unless a
    full sweep is forced over an unfinished recent one.
    """
    unfinished = state.unfinished_sweep()
    if unfinished is not None and not (force_full and unfinished.kind != "full"):
        return unfinished
    if force_full or state.last_id is None or _due(state, "full", now, settings):
        return Scan("full", start_created_after(settings), ((None, None),), now)
    if _due(state, "recent", now, settings):
        local_now = now.astimezone(ZoneInfo(settings.timezone)).replace(tzinfo=None)
        window = local_now - timedelta(days=settings.recent_sweep_days)
        start = start_created_after(settings)
        after = window.strftime(PARDOT_TIMESTAMP_FORMAT)
        return Scan("recent", max(after, start) if start else after, ((None, None),), now)
    return Scan("new", _new_created_after(state), ((state.last_id, None),), now)


def _due(state: SyncState, kind: ScanKind, now: datetime, settings: SyncSettings) -> bool:
    every = (
        timedelta(hours=settings.full_sweep_every_hours)
        if kind == "full"
        else timedelta(minutes=settings.recent_sweep_every_minutes)
    )
    if every < timedelta(0):
        return False  # never on a cadence
    last = state.swept_at(kind)
    return last is None or now - last >= every


def _new_created_after(state: SyncState) -> str | None:
    if not state.last_created_at:
        return None
    local = datetime.strptime(state.last_created_at, PARDOT_TIMESTAMP_FORMAT)
    return (local - CREATED_AFTER_MARGIN).strftime(PARDOT_TIMESTAMP_FORMAT)


def local_time(instant: datetime, timezone: str) -> str:
    """``instant`` as Pardot renders times: the API user's local time, no zone."""
    return instant.astimezone(ZoneInfo(timezone)).strftime(PARDOT_TIMESTAMP_FORMAT)


def start_created_after(settings: SyncSettings) -> str | None:
    """``created_after`` for ``start_date`` (Pardot's local time), or None without one."""
    if settings.start_date is None:
        return None
    local = settings.start_date.astimezone(ZoneInfo(settings.timezone)).replace(tzinfo=None)
    # created_after is strict; start_date means "from", so include its own second.
    return (local - timedelta(seconds=1)).strftime(PARDOT_TIMESTAMP_FORMAT)


def local_day(now: datetime, timezone: str) -> str:
    """The API user's calendar date at ``now``: the day a daily budget counts in."""
    return now.astimezone(ZoneInfo(timezone)).date().isoformat()
