"""The visitor activity query: parameter validation, filtering, sorting and paging.

The same rules as the opportunity query: strict comparisons (``created_after`` is
``created_at > t``), the same error codes for the same mistakes, ``limit`` at most 200,
ties in any sort broken by id in the same direction. Every activity counts, those of
deleted opportunities included. An id range, alone or with a ``type`` list, sorted by
id, is answered from the index by bisection (keyset paging costs O(page)); any other
criterion scans the activities of the id range.
"""

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from .errors import ApiError
from .models import VisitorActivity
from .query import MAX_LIMIT, bounds, given, int_param, paging
from .store import DataStore

DEFAULT_ORDER = {
    "created_at": "descending",
    "id": "ascending",
    "prospect_id": "ascending",
    "visitor_id": "ascending",
}
"""The sort fields and each one's order when ``sort_order`` is not given."""

RELATIONSHIPS = {
    "campaign_id": "campaign_id",
    "custom_url_id": "custom_redirect_id",
    "email_id": "email_id",
    "file_id": "file_id",
    "form_id": "form_id",
    "form_handler_id": "form_handler_id",
    "landing_page_id": "landing_page_id",
    "prospect_id": "prospect_id",
    "visitor_id": "visitor_id",
}
"""Relationship filter -> the activity field it matches (a custom URL is a custom
redirect in the activity's fields). Each takes a comma-separated list of ids."""

_ATTRIBUTES = frozenset({"campaign_id", "prospect_id", "visitor_id"})
"""Fields every activity has; the others are optional ids, present when they apply."""

_CODES = {"prospect_id": 3, "campaign_id": 38}
"""Error codes of a bad or unknown id where the opportunity API has one of its own."""


@dataclass
class ActivityPage:
    """One page of a visitor activity query and the number of all matches."""

    rows: list[VisitorActivity]
    total: int


def _ids(params: Mapping[str, str], name: str, code: int) -> set[int] | None:
    """A comma-separated id list; ``ApiError(code)`` (10000 names the parameter)."""
    raw = given(params, name)
    if raw is None:
        return None
    param = name if code == 10000 else None
    try:
        values = {int(part) for part in raw.split(",") if part.strip()}
    except ValueError as exc:
        raise ApiError(code, param=param) from exc
    if not values:
        raise ApiError(code, param=param)
    return values


def _flag(params: Mapping[str, str], name: str) -> bool | None:
    raw = given(params, name)
    if raw is None:
        return None
    word = raw.lower()
    if word in ("true", "1"):
        return True
    if word in ("false", "0"):
        return False
    raise ApiError(10000, param=name)


def _field(name: str) -> Callable[[VisitorActivity], int | None]:
    if name in _ATTRIBUTES:
        return lambda a: getattr(a, name)
    return lambda a: a.optional_ids.get(name)


def run_activity_query(
    store: DataStore, params: Mapping[str, str], parse_time: Callable[[str], datetime]
) -> ActivityPage:
    """Validate ``params`` and select a page; call with the store lock held."""
    limit = int_param(params, "limit", 23)
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise ApiError(23)
    limit = MAX_LIMIT if limit is None else limit
    offset, sort_by, sort_order = paging(params, DEFAULT_ORDER)
    descending = sort_order == "descending"
    after, before, id_gt, id_lt = bounds(params, parse_time)
    prospect_only = _flag(params, "prospect_only")
    types = _ids(params, "type", 10000)
    relations: list[tuple[Callable[[VisitorActivity], int | None], set[int]]] = []
    for name, field in RELATIONSHIPS.items():
        wanted = _ids(params, name, _CODES.get(name, 10000))
        if wanted is None:
            continue
        if name == "prospect_id" and not wanted <= store.prospects.keys():
            raise ApiError(3)
        if name == "campaign_id" and not wanted <= store.campaigns.keys():
            raise ApiError(38)
        relations.append((_field(field), wanted))

    index = store.activities
    lists = [index.ids] if types is None else [index.ids_by_type.get(t, []) for t in types]
    ranges = [_range(ids, id_gt, id_lt) for ids in lists]
    by_id = index.by_id
    end = offset + limit
    if sort_by == "id" and after is None and before is None and not prospect_only and not relations:
        total = sum(hi - lo for _, lo, hi in ranges)
        if len(ranges) == 1:
            ids, lo, hi = ranges[0]
            if descending:
                page = ids[max(lo, hi - end) : max(lo, hi - offset)][::-1]
            else:
                page = ids[min(hi, lo + offset) : min(hi, lo + end)]
        else:
            merged = heapq.merge(*(_walk(r, descending) for r in ranges), reverse=descending)
            page = list(itertools.islice(merged, offset, end))
        return ActivityPage([by_id[i] for i in page], total)

    def keep(a: VisitorActivity) -> bool:
        return (
            (after is None or a.created_at > after)
            and (before is None or a.created_at < before)
            and (not prospect_only or a.prospect_id is not None)
            and all(get(a) in wanted for get, wanted in relations)
        )

    candidates = heapq.merge(*(_walk(r, False) for r in ranges))
    matches = [a for a in (by_id[i] for i in candidates) if keep(a)]
    if sort_by == "created_at":
        matches.sort(key=lambda a: (a.created_at, a.id), reverse=descending)
    elif sort_by in ("prospect_id", "visitor_id"):
        # Missing values first in ascending order, last in descending, as MySQL sorts NULL.
        get = _field(sort_by)
        matches.sort(key=lambda a: (get(a) is not None, get(a) or 0, a.id), reverse=descending)
    elif descending:
        matches.reverse()
    return ActivityPage(matches[offset:end], len(matches))


def _range(ids: list[int], id_gt: int | None, id_lt: int | None) -> tuple[list[int], int, int]:
    lo = 0 if id_gt is None else bisect.bisect_right(ids, id_gt)
    hi = len(ids) if id_lt is None else bisect.bisect_left(ids, id_lt)
    return ids, lo, max(lo, hi)


def _walk(span: tuple[list[int], int, int], descending: bool) -> Iterator[int]:
    ids, lo, hi = span
    steps = range(hi - 1, lo - 1, -1) if descending else range(lo, hi)
    return (ids[i] for i in steps)
