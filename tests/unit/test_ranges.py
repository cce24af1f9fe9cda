"""The work queue of id ranges: a worker that runs dry cuts the longest range in two.

Workers are simulated in rounds, each round one request per busy worker, against an
account held in a list: the number of rounds is the scan's critical path in round trips,
and the requests are its cost. The real fetch loop (``fetch._read_range``) reads them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sources.pardot import ranges as ranges_module
from sources.pardot.fetch import Fetched, _estimated_top, _read_range, _split, as_page
from sources.pardot.native import NativePage, read_page, text_tables
from sources.pardot.ranges import Cut, IdRange, RangeQueue

PAGE = 50
PARAMS: dict[str, str | int] = {"sort_by": "id", "sort_order": "ascending", "limit": PAGE}


class _Account:
    """A stand-in for ``PardotClient.query_page``: ids ascending, as Pardot pages them,
    read by the native reader."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.requests = 0

    def query_page(self, **params: str | int) -> NativePage:
        self.requests += 1
        lo, hi = params.get("id_greater_than"), params.get("id_less_than")
        rows = [i for i in self.ids if (lo is None or i > int(lo)) and (hi is None or i < int(hi))]
        opportunities = "".join(
            f"<opportunity><id>{i}</id></opportunity>" for i in rows[: int(params["limit"])]
        )
        body = (
            f'<rsp stat="ok" version="1.0"><result><total_results>{len(rows)}</total_results>'
            f"{opportunities}</result></rsp>"
        )
        page = read_page(body.encode())
        assert isinstance(page, NativePage)
        return page


def _scan(
    account: _Account, ranges: list[IdRange], top: int, workers: int
) -> tuple[int, list[int], list[Cut]]:
    """(rounds, ids read, cuts) of ``workers`` reading ``ranges``: in each round every
    busy worker has one request in flight; then the idle ones take a range, if any."""
    queue = RangeQueue(ranges, page_size=PAGE, top=top)
    cuts: list[Cut] = []
    reading: list[Iterator[Fetched] | None] = [None] * workers
    ids: list[int] = []
    rounds = 0
    while True:
        for worker, pages in enumerate(reading):
            if pages is None:
                index = queue.take(announce=cuts.append, wait=False)
                if index is not None:
                    reading[worker] = _read_range(account, PARAMS, queue, index)  # type: ignore[arg-type]
        if not any(reading):
            return rounds, ids, cuts
        rounds += 1
        for worker, pages in enumerate(reading):
            page = next(pages, None) if pages else None
            if page is not None:
                assert isinstance(page.page, NativePage)
                ids += page.page.ids
            if page is None or page.finished:
                reading[worker] = None


def _two_blocks() -> tuple[_Account, list[IdRange], int]:
    """1,000 old ids, then 1,000 ids ten million higher: 40 pages, in 2 of 4 equal slices."""
    ids = list(range(1, 1001)) + list(range(10_000_001, 10_001_001))
    pieces = _split(IdRange(0, None), ids[-1], len(ids) // PAGE, 4)
    assert pieces is not None and len(pieces) == 4
    return _Account(ids), pieces, ids[-1]


def test_workers_that_run_dry_cut_the_longest_ranges_so_the_scan_stays_balanced() -> None:
    account, pieces, top = _two_blocks()
    rounds, ids, cuts = _scan(account, pieces, top, workers=4)
    assert sorted(ids) == account.ids, "every id read exactly once"
    assert cuts, "the two dense slices were cut"
    # 40 pages on 4 workers: 10 rounds at best; fixed slices take 20 (see below)
    assert rounds <= 14
    # each cut costs about one request: the half below it ends on a short page
    assert account.requests <= 40 + 4 + len(cuts) + 1


def test_without_cuts_the_same_scan_takes_twice_the_round_trips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ranges_module, "SPLIT_MIN_PAGES", 10**9)
    account, pieces, top = _two_blocks()
    rounds, ids, cuts = _scan(account, pieces, top, workers=4)
    assert sorted(ids) == account.ids and not cuts
    assert rounds >= 20


def test_ranges_cut_from_a_wrong_estimate_of_the_largest_id_are_rebalanced() -> None:
    # The first page is sparse (an id every 100), the 1,800 rows after it dense: an
    # estimate from the first page puts the largest id nine times too high, so the
    # first of the 4 ranges holds every row after it.
    ids = list(range(100, 20_001, 100)) + list(range(20_001, 21_801))
    account = _Account(ids)
    first = as_page(account.query_page(**PARAMS)).facts()
    assert first.last_id == ids[PAGE - 1]
    top = _estimated_top(first, len(ids))
    assert top > 5 * ids[-1]
    pieces = _split(IdRange(ids[PAGE - 1], None), top, len(ids) // PAGE - 1, 4)
    assert pieces is not None
    rounds, read, cuts = _scan(account, pieces, top, workers=4)
    assert sorted(read) == ids[PAGE:] and cuts
    assert rounds <= 16  # 39 pages on 4 workers; one worker alone: 39


def test_evenly_spread_ids_are_not_cut_at_the_end_of_a_scan() -> None:
    ids = list(range(1, 4001, 2))  # 2,000 ids evenly spread: 40 pages
    pieces = _split(IdRange(0, None), ids[-1], len(ids) // PAGE, 4)
    assert pieces is not None
    account = _Account(ids)
    rounds, read, cuts = _scan(account, pieces, ids[-1], workers=4)
    assert sorted(read) == ids and not cuts
    assert rounds <= 12 and account.requests <= 40 + 4


def test_a_page_asked_for_before_its_range_was_cut_is_trimmed_to_the_cut() -> None:
    account = _Account(list(range(1, 201)))
    queue = RangeQueue([IdRange(0, None)], page_size=PAGE, top=200)
    index = queue.take()
    assert index == 0
    query = account.query_page

    def cut_while_in_flight(**params: str | int) -> NativePage:
        result = query(**params)  # ids 1..50 are on their way back
        queue.cut_at(0, 30)  # another worker took the ids from 31 on
        return result

    account.query_page = cut_while_in_flight  # type: ignore[method-assign]
    page = next(_read_range(account, PARAMS, queue, 0))  # type: ignore[arg-type]
    assert isinstance(page.page, NativePage)
    assert page.page.ids == list(range(1, 31)), "only the ids still in the range"
    assert len(text_tables([page.page]).tables["opportunities"]) == 30
    assert page.finished and page.last_id == 30
