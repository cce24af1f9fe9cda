"""``fetch_pages``: requests keep flowing while the caller works, pages stay in range order.

Against the in-process emulator (``httpx.WSGITransport``): real pages, real keyset paging,
no sockets, so the tests can watch requests happen while the caller holds a page.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from lxml import etree

from sources.pardot.auth import Credentials
from sources.pardot.client import PardotClient
from sources.pardot.fetch import Fetched, fetch_pages
from sources.pardot.flatten import FlatPage, flatten_page
from sources.pardot.lookahead import Lookahead, most_requests_ahead
from sources.pardot.ranges import IdRange, RangeQueue
from sources.pardot_emulator import EmulatorConfig, PardotEmulator

PARAMS: dict[str, str | int] = {
    "sort_by": "id",
    "sort_order": "ascending",
    "limit": 50,
    "output": "full",
}


@pytest.fixture
def emulator() -> PardotEmulator:
    return PardotEmulator(EmulatorConfig(opportunities=1000, seed=5, realtime_clock=False))


@pytest.fixture
def client(emulator: PardotEmulator) -> Iterator[PardotClient]:
    config = emulator.config
    http = httpx.Client(transport=httpx.WSGITransport(app=emulator.app))
    client = PardotClient(
        base_url="https://pi.pardot.test",
        business_unit_id=config.business_unit_id,
        credentials=Credentials(access_token=config.default_token),
        http=http,
        max_concurrency=5,
    )
    yield client
    client.close()


def _live(emulator: PardotEmulator) -> int:
    """Opportunities a query returns: the live ones of the ground truth."""
    return sum(not row["is_deleted"] for row in emulator.ground_truth()["opportunities"])


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``check`` comes true within ``timeout``: the fetch thread runs on its own."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_one_worker_asks_for_the_next_page_while_the_caller_still_holds_this_one(
    client: PardotClient, emulator: PardotEmulator
) -> None:
    pages = fetch_pages(client, PARAMS, RangeQueue([IdRange(None, None)], page_size=50), workers=1)
    first = next(pages)
    assert first.range_index == 0 and not first.finished
    # The caller has not asked for page 2, yet it is requested: fetching runs ahead.
    assert _eventually(lambda: emulator.request_count("query") >= 2)
    rest = list(pages)
    ids = [
        int(opportunity.findtext("id") or 0)
        for page in [first, *rest]
        for opportunity in page.result.iterchildren("opportunity")
    ]
    assert ids == sorted(set(ids)), "one range, read in id order, each id once"
    assert len(ids) == _live(emulator)


def test_pages_are_flattened_off_the_fetching_thread_and_come_back_in_range_order(
    client: PardotClient, emulator: PardotEmulator
) -> None:
    flattened_in: set[str] = set()

    def flatten(result: etree._Element) -> FlatPage | None:
        flattened_in.add(threading.current_thread().name)
        return flatten_page(result)

    work = RangeQueue([IdRange(None, None)], page_size=50)
    pages: list[Fetched] = list(fetch_pages(client, PARAMS, work, workers=4, flatten=flatten))
    ranges = work.spans
    assert len(ranges) > 1, "the scan was split into ranges"
    assert all(page.flat is not None for page in pages)
    # the first page is flattened by the caller; every other page in the pool
    assert {name.split("_")[0] for name in flattened_in} <= {"MainThread", "pardot-flatten"}
    assert any(name.startswith("pardot-flatten") for name in flattened_in)
    for index in range(len(ranges)):
        of_range = [page for page in pages if page.range_index == index]
        firsts = [page.flat.ids[0] for page in of_range if page.flat and page.flat.ids]
        assert firsts == sorted(firsts), f"range {index} came back out of order"
        assert [page.finished for page in of_range][-1]
    ids = [i for page in pages if page.flat for i in page.flat.ids]
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == _live(emulator)


def test_an_error_while_flattening_reaches_the_caller_and_stops_the_workers(
    client: PardotClient, emulator: PardotEmulator
) -> None:
    calls = itertools.count(1)  # next() is atomic: pool threads flatten side by side

    def flatten(result: etree._Element) -> FlatPage | None:
        if next(calls) == 3:
            raise RuntimeError("flatten broke")
        return flatten_page(result)

    work = RangeQueue([IdRange(None, None)], page_size=50)
    pages = fetch_pages(client, PARAMS, work, workers=4, flatten=flatten)
    with pytest.raises(RuntimeError, match="flatten broke"):
        list(pages)
    settled = emulator.request_count("query")
    time.sleep(0.2)
    assert emulator.request_count("query") == settled, "workers kept fetching after the error"
    assert not [t for t in threading.enumerate() if t.name.startswith("pardot-fetch")]


def test_a_widened_lookahead_lets_the_workers_fetch_further_while_the_caller_pauses(
    client: PardotClient, emulator: PardotEmulator
) -> None:
    lookahead = Lookahead(1)
    params = dict(PARAMS, limit=10)
    work = RangeQueue([IdRange(None, None)], page_size=10)
    pages = fetch_pages(client, params, work, workers=1, lookahead=lookahead)
    next(pages)
    most = 1 + most_requests_ahead(1)  # the page taken, then the queue and one in hand
    assert _eventually(lambda: emulator.request_count("query") == most)
    time.sleep(0.2)
    assert emulator.request_count("query") == most, "stalled with the queue full"
    lookahead.widen()  # the caller pauses for a load
    assert _eventually(lambda: emulator.request_count("query") == 1 + lookahead.most_while_paused)
    lookahead.narrow()
    ids = [int(o.findtext("id") or 0) for p in pages for o in p.result.iterchildren("opportunity")]
    assert len(ids) == _live(emulator) - 10 and ids == sorted(set(ids)), "nothing lost"
