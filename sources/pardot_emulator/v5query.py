"""The v5 opportunity query: its parameters, the cache-lag snapshot, and keyset pages.

Every filter becomes an inclusive range of whole seconds (or ids), since the store keeps
whole seconds: ``createdAtAfter=12:00:00.5`` is ``createdAt >= 12:00:01``. The rows of
one order, deletion mode and snapshot are one sorted list of ``(key, id, created,
updated)`` (key the sort field, negated for DESC, so ties go by id ascending either way),
kept until the data or the snapshot changes: a page is a bisection to the cursor and a
scan of the page, so a chain of pages over 100,000 records stays cheap.
"""

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .errors import ApiError
from .store import DataStore

FIELDS = (
    "id",
    "name",
    "campaignId",
    "closedAt",
    "createdAt",
    "createdById",
    "updatedAt",
    "updatedById",
    "probability",
    "salesforceId",
    "stage",
    "status",
    "type",
    "value",
)
"""The opportunity fields v5 may select."""
ORDER_FIELDS = ("id", "createdAt", "updatedAt")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 200
DELETED = ("false", "true", "all")
FILTERS = {
    f"{field}{suffix}": (field, bound)
    for field, suffixes in (
        ("id", ("GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo")),
        ("createdAt", ("After", "AfterOrEqualTo", "Before", "BeforeOrEqualTo")),
        ("updatedAt", ("After", "AfterOrEqualTo", "Before", "BeforeOrEqualTo")),
    )
    for suffix, bound in zip(suffixes, ("gt", "gte", "lt", "lte"), strict=True)
}
"""Filter parameter -> (field, bound kind)."""
_ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
Entry = tuple[int, int, int, int]
"""(sort key, id, created epoch second, served updated epoch second)."""


def bad(param: str, why: str) -> ApiError:
    """A 400 for one parameter, the parameter named in the message."""
    return ApiError(10000, f"Invalid value for parameter '{param}': {why}", param=param)


@dataclass(frozen=True)
class V5Query:
    """A checked query: what to return, in which order, and the inclusive bounds."""

    fields: tuple[str, ...]
    order: str = "id"
    descending: bool = False
    limit: int = DEFAULT_LIMIT
    deleted: Literal["false", "true", "all"] = "false"
    bounds: tuple[tuple[int | None, int | None], ...] = ((None, None),) * 3
    """Inclusive (low, high) of id, createdAt and updatedAt (epoch seconds)."""

    def to_json(self) -> dict[str, Any]:
        """The query as a token carries it."""
        return {
            "f": list(self.fields),
            "o": self.order,
            "d": self.descending,
            "l": self.limit,
            "x": self.deleted,
            "b": [list(b) for b in self.bounds],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "V5Query":
        """The query a token carried (signed, so trusted)."""
        bounds = tuple((b[0], b[1]) for b in doc["b"])
        return cls(tuple(doc["f"]), doc["o"], doc["d"], doc["l"], doc["x"], bounds)


def _instant(param: str, raw: str) -> datetime:
    """An ISO-8601 instant with ``Z`` or an offset; a ``+`` that arrived as a space (not
    URL-encoded) or a missing offset is a 400."""
    if not _ISO_RE.fullmatch(raw):
        raise bad(param, "expected ISO-8601 with a time zone offset or Z (URL-encode '+')")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad(param, "not a valid date and time") from exc


def _seconds(instant: datetime) -> tuple[int, bool]:
    """Epoch second at or below ``instant``, and whether it is exactly that second."""
    whole, rest = divmod(instant - _EPOCH, _SECOND)
    return whole, not rest


def _bound(param: str, raw: str, kind: str, field: str) -> tuple[int | None, int | None]:
    """The inclusive (low, high) one filter allows."""
    if field == "id":
        try:
            value = int(raw)
        except ValueError as exc:
            raise bad(param, "expected an integer") from exc
        floor, exact = value, True
    else:
        floor, exact = _seconds(_instant(param, raw))
    ceil = floor if exact else floor + 1
    if kind == "gt":
        return floor + 1, None
    if kind == "gte":
        return ceil, None
    if kind == "lt":
        return None, ceil - 1
    return None, floor


def parse_query(params: Mapping[str, str]) -> V5Query:
    """Check a first request's parameters (every problem a 400 naming the parameter)."""
    raw_fields = params.get("fields")
    if raw_fields is None or not raw_fields.strip():
        raise bad("fields", "required (comma-separated field names)")
    fields = tuple(f.strip() for f in raw_fields.split(","))
    for name in fields:
        if name not in FIELDS:
            raise bad("fields", f"unknown field {name!r} (known: {', '.join(FIELDS)})")
    if len(set(fields)) != len(fields):
        raise bad("fields", "a field is named twice")
    order, descending = "id", False
    raw_order = params.get("orderBy")
    if raw_order is not None:
        words = raw_order.split()
        if not words or len(words) > 2 or words[0] not in ORDER_FIELDS:
            raise bad("orderBy", f"expected '<field> ASC|DESC', field one of {ORDER_FIELDS}")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise bad("orderBy", "the direction must be ASC or DESC")
        order, descending = words[0], direction == "DESC"
    limit = DEFAULT_LIMIT
    raw_limit = params.get("limit")
    if raw_limit is not None:
        try:
            limit = int(raw_limit.strip())
        except ValueError as exc:
            raise bad("limit", f"expected an integer from 1 to {MAX_LIMIT}") from exc
        if not 1 <= limit <= MAX_LIMIT:
            raise bad("limit", f"expected an integer from 1 to {MAX_LIMIT}")
    deleted = params.get("deleted", "false").strip().lower()
    if deleted not in DELETED:
        raise bad("deleted", "expected true, false or all")
    ranges: dict[str, tuple[int | None, int | None]] = {}
    for param, (field, kind) in FILTERS.items():
        raw = params.get(param)
        if raw is None:
            continue
        low, high = _bound(param, raw.strip() if field == "id" else raw, kind, field)
        old_low, old_high = ranges.get(field, (None, None))
        if low is not None and (old_low is None or low > old_low):
            old_low = low
        if high is not None and (old_high is None or high < old_high):
            old_high = high
        ranges[field] = (old_low, old_high)
    bounds = tuple(ranges.get(f, (None, None)) for f in ("id", "createdAt", "updatedAt"))
    return V5Query(fields, order, descending, limit, deleted, bounds)  # type: ignore[arg-type]


class Snapshots:
    """The sorted rows of each (order, deletion mode, snapshot), for the current data."""

    def __init__(self, store: DataStore) -> None:
        self.store = store
        self._rows: dict[tuple[object, ...], list[Entry]] = {}
        self._generation = -1

    def rows(self, query: V5Query, cutoff: datetime | None) -> list[Entry]:
        """Every row the query's order and deletion mode see, sorted (under the lock).

        ``cutoff``: the cache lag's snapshot instant (None: no lag). A row created after
        it is absent; one updated after it shows the ``updated_at`` before that update.
        """
        if self.store.generation != self._generation:
            self._rows.clear()
            self._generation = self.store.generation
        key = (query.order, query.descending, query.deleted, cutoff)
        rows = self._rows.get(key)
        if rows is None:
            rows = self._build(query, cutoff)
            self._rows[key] = rows
        return rows

    def _build(self, query: V5Query, cutoff: datetime | None) -> list[Entry]:
        store = self.store
        opps = store.opportunities
        wanted = query.deleted
        ids = store.live_ids if wanted == "false" else store.all_ids
        column = ("id", "createdAt", "updatedAt").index(query.order)
        sign = -1 if query.descending else 1
        rows: list[Entry] = []
        for oid in ids:
            o = opps[oid]
            if wanted == "true" and not o.deleted:
                continue
            updated = o.updated_at
            if cutoff is not None:
                if o.created_at > cutoff:
                    continue
                if updated > cutoff and o.previous_updated_at is not None:
                    updated = o.previous_updated_at
            created_s = int(o.created_at.timestamp())
            updated_s = int(updated.timestamp())
            sort = (oid, created_s, updated_s)[column]
            rows.append((sign * sort, oid, created_s, updated_s))
        rows.sort()
        if len(self._rows) > 16:  # snapshots of a moving lag: keep a few
            self._rows.clear()
        return rows


def page(
    rows: list[Entry], query: V5Query, after: tuple[int, int] | None, size: int
) -> tuple[list[Entry], bool]:
    """Up to ``size`` rows after the cursor that pass the filters, and whether more do."""
    (id_lo, id_hi), (c_lo, c_hi), (u_lo, u_hi) = query.bounds
    column = ("id", "createdAt", "updatedAt").index(query.order)
    lo, hi = query.bounds[column]
    if query.descending:
        lo, hi = (None if hi is None else -hi), (None if lo is None else -lo)
    start = 0 if lo is None else bisect.bisect_left(rows, (lo,))
    if after is not None:
        start = max(start, bisect.bisect_left(rows, (after[0], after[1] + 1)))
    out: list[Entry] = []
    for i in range(start, len(rows)):
        row = rows[i]
        if hi is not None and row[0] > hi:
            break
        _, oid, created, updated = row
        if (
            (id_lo is not None and oid < id_lo)
            or (id_hi is not None and oid > id_hi)
            or (c_lo is not None and created < c_lo)
            or (c_hi is not None and created > c_hi)
            or (u_lo is not None and updated < u_lo)
            or (u_hi is not None and updated > u_hi)
        ):
            continue
        if len(out) == size:
            return out, True
        out.append(row)
    return out, False
