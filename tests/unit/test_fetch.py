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

from sources.pardot import native
from sources.pardot.auth import Credentials
from sources.pardot.client import PardotClient
from sources.pardot.fetch import Fetched, fetch_pages
from sources.pardot.lookahead import Lookahead, most_requests_ahead
from sources.pardot.native import Declined, NativePage
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
    ids = [i for page in [first, *rest] for i in _ids(page)]
    assert ids == sorted(set(ids)), "one range, read in id order, each id once"
    assert len(ids) == _live(emulator)


def test_pages_are_read_in_the_fetching_threads_and_come_back_in_range_order(
    client: PardotClient, emulator: PardotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_in: set[str] = set()
    real_read = native.read_page

    def read_page(content: bytes) -> NativePage | Declined:
        read_in.add(threading.current_thread().name)
        return real_read(content)

    monkeypatch.setattr("sources.pardot.client.read_page", read_page)
    work = RangeQueue([IdRange(None, None)], page_size=50)
    pages: list[Fetched] = list(fetch_pages(client, PARAMS, work, workers=4))
    ranges = work.spans
    assert len(ranges) > 1, "the scan was split into ranges"
    read = [page.page for page in pages if isinstance(page.page, NativePage)]
    assert len(read) == len(pages), "the native reader read every page"
    # the first page is read by the caller; every other page by a fetch thread
    assert {name.split("-")[0] for name in read_in} <= {"MainThread", "pardot"}
    assert any(name.startswith("pardot-fetch") for name in read_in)
    for index in range(len(ranges)):
        of_range = [page for page in pages if page.range_index == index]
        firsts = [_ids(page)[0] for page in of_range if _ids(page)]
        assert firsts == sorted(firsts), f"range {index} came back out of order"
        assert [page.finished for page in of_range][-1]
    ids = [i for page in pages for i in _ids(page)]
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == _live(emulator)


def _ids(page: Fetched) -> list[int]:
    assert isinstance(page.page, NativePage)
    return page.page.ids


def test_an_error_while_reading_reaches_the_caller_and_stops_the_workers(
    client: PardotClient, emulator: PardotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = itertools.count(1)  # next() is atomic: fetch threads read side by side
    real_read = native.read_page

    def read_page(content: bytes) -> NativePage | Declined:
        if next(calls) == 3:
            raise RuntimeError("reader broke")
        return real_read(content)

    monkeypatch.setattr("sources.pardot.client.read_page", read_page)
    work = RangeQueue([IdRange(None, None)], page_size=50)
    pages = fetch_pages(client, PARAMS, work, workers=4)
    with pytest.raises(RuntimeError, match="reader broke"):
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
    ids = [i for p in pages for i in _ids(p)]
    assert len(ids) == _live(emulator) - 10 and ids == sorted(set(ids)), "nothing lost"
