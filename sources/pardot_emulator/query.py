"""The opportunity query: parameter validation, filtering, sorting and paging.

Filters are strict (``created_after`` is ``created_at > t``). Id and creation-time bounds
become an index range of the store's id-sorted live list by bisection; other filters
scan only that range. Ties in any sort are broken by id in the same direction.
"""

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .errors import ApiError
from .models import Opportunity
from .store import DataStore
from .views import OUTPUTS

MAX_LIMIT = 200
DEFAULT_ORDER = {"created_at": "descending", "id": "ascending"}
DEFAULT_ORDER |= {"probability": "descending", "value": "descending"}


@dataclass
class QueryResult:
    """One page of a query and the number of all matches."""

    rows: list[Opportunity]
    total: int
    output: str


def given(params: Mapping[str, str], name: str) -> str | None:
    """A parameter's stripped value, or None when it is absent or blank."""
    value = params.get(name)
    return value.strip() if value is not None and value.strip() != "" else None


def int_param(params: Mapping[str, str], name: str, code: int) -> int | None:
    """An integer parameter, None when not given, ``ApiError(code)`` when not a number."""
    raw = given(params, name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(code) from exc


def _number(params: Mapping[str, str], name: str, code: int) -> float | None:
    raw = given(params, name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise ApiError(code) from exc


def paging(params: Mapping[str, str], default_order: Mapping[str, str]) -> tuple[int, str, str]:
    """``offset``, ``sort_by`` and ``sort_order`` of a query, checked (21, 19, 20)."""
    offset = int_param(params, "offset", 21) or 0
    if offset < 0:
        raise ApiError(21)
    sort_by = (given(params, "sort_by") or "id").lower()
    if sort_by not in default_order:
        raise ApiError(19)
    sort_order = (given(params, "sort_order") or default_order[sort_by]).lower()
    if sort_order not in ("ascending", "descending"):
        raise ApiError(20)
    return offset, sort_by, sort_order


def bounds(
    params: Mapping[str, str], parse_time: Callable[[str], datetime]
) -> tuple[datetime | None, datetime | None, int | None, int | None]:
    """``created_after``/``created_before`` and ``id_greater_than``/``id_less_than`` of a
    query, checked (8, 16, 17)."""
    raw_after, raw_before = given(params, "created_after"), given(params, "created_before")
    after = parse_time(raw_after) if raw_after else None
    before = parse_time(raw_before) if raw_before else None
    if after is not None and before is not None and after > before:
        raise ApiError(8)
    id_gt, id_lt = int_param(params, "id_greater_than", 16), int_param(params, "id_less_than", 16)
    if id_gt is not None and id_lt is not None and id_gt >= id_lt:
        raise ApiError(17)
    return after, before, id_gt, id_lt


def run_query(
    store: DataStore,
    params: Mapping[str, str],
    version: int,
    parse_time: Callable[[str], datetime],
) -> QueryResult:
    """Validate ``params`` and select a page; call with the store lock held."""
    output = (given(params, "output") or "full").lower()
    if output not in OUTPUTS:
        output = "full"
    limit = int_param(params, "limit", 23)
    if limit is not None and (limit < 1 or (limit > MAX_LIMIT and output != "mobile")):
        raise ApiError(23)
    if limit is None and output != "mobile":
        limit = MAX_LIMIT
    offset, sort_by, sort_order = paging(params, DEFAULT_ORDER)
    after, before, id_gt, id_lt = bounds(params, parse_time)
    p_gt = int_param(params, "probability_greater_than", 41)
    p_lt = int_param(params, "probability_less_than", 41)
    for bound in (p_gt, p_lt):
        if bound is not None and not 0 <= bound <= 100:
            raise ApiError(41)
    if p_gt is not None and p_lt is not None and p_gt >= p_lt:
        raise ApiError(41)
    v_gt, v_lt = _number(params, "value_greater_than", 43), _number(params, "value_less_than", 43)
    for value_bound in (v_gt, v_lt):
        if value_bound is not None and value_bound < 0:
            raise ApiError(43)
    if v_gt is not None and v_lt is not None and v_gt >= v_lt:
        raise ApiError(43)
    prospect_id = int_param(params, "prospect_id", 3)
    prospect_email = given(params, "prospect_email")
    prospects: set[int] | None = None
    if prospect_id is not None or prospect_email is not None:
        prospects = set(store.resolve_prospects(prospect_id, prospect_email, version))

    ids, created = store.live_ids, store.live_created
    lo, hi = 0, len(ids)
    if id_gt is not None:
        lo = max(lo, bisect.bisect_right(ids, id_gt))
    if id_lt is not None:
        hi = min(hi, bisect.bisect_left(ids, id_lt))
    if after is not None:
        lo = max(lo, bisect.bisect_right(created, after))
    if before is not None:
        hi = min(hi, bisect.bisect_left(created, before))
    hi = max(lo, hi)

    opps = store.opportunities
    descending = sort_order == "descending"
    end = None if limit is None else offset + limit
    simple = p_gt is None and p_lt is None and v_gt is None and v_lt is None
    if simple and prospects is None and sort_by in ("id", "created_at"):
        total = hi - lo
        if descending:
            stop = hi - offset
            start = lo if end is None else max(lo, hi - end)
            page_ids = ids[start:stop][::-1] if stop > start else []
        else:
            start = lo + offset
            stop = hi if end is None else min(hi, lo + end)
            page_ids = ids[start:stop] if stop > start else []
        return QueryResult([opps[i] for i in page_ids], total, output)

    def keep(o: Opportunity) -> bool:
        return (
            (p_gt is None or o.probability > p_gt)
            and (p_lt is None or o.probability < p_lt)
            and (v_gt is None or o.value > v_gt)
            and (v_lt is None or o.value < v_lt)
            and (prospects is None or not prospects.isdisjoint(o.prospect_ids))
        )

    matches = [o for o in (opps[i] for i in ids[lo:hi]) if keep(o)]
    if sort_by == "probability":
        matches.sort(key=lambda o: (o.probability, o.id), reverse=descending)
    elif sort_by == "value":
        matches.sort(key=lambda o: (o.value, o.id), reverse=descending)
    elif descending:
        matches.reverse()
    return QueryResult(matches[offset:end], len(matches), output)
