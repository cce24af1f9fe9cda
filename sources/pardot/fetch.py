"""Keyset paging over id ranges, sequential or concurrent within Pardot's limit.

A scan reads ``do/query`` sorted by id ascending, moving ``id_greater_than`` to the last
id of each page (never ``offset``, whose pages shift when rows are added or deleted) and
stopping on a short page, or when ``total_results`` says the page held everything.

A request spends most of its time waiting for Pardot's answer, so a large scan is split
after its first page (which alone decides whether there is more: a run with nothing new
costs one request). That page says how many rows follow (``total_results``) and how
densely its ids lie, which gives an estimate of the largest id (without
``total_results``, one more request finds it). The id span up to it is cut into ranges
(``id_greater_than`` + ``id_less_than``; the last one open above), and
``max_concurrency`` workers take ranges from a queue (``ranges.RangeQueue``). A worker
that runs out of ranges cuts the one with the most rows left in two and reads the upper
half, so ids spread unevenly (or a wrong estimate) do not leave workers idle while one
reads a dense range alone. Each range costs ceil(rows/limit) requests; the split costs at
most one short page per range (a cut, one more), and no round trip of its own.

Each worker reads the pages it fetches (``client.query_page``: the native reader, which
releases the GIL, or the hardened parser where the reader declines a page), so pages are
read side by side on every core while other requests are in flight; as soon as a page's
last id is known, the worker asks for the next one. Even with one worker, fetching runs
in its own thread, so the caller's work on a page never delays the next request. The
caller gathers pages into its batch in one thread. Pages come back in any order across
ranges, in order within a range, each labelled with its range.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

import pyarrow.compute as pc
from lxml import etree

from .client import DeclinedPage, PardotClient
from .errors import PardotError
from .lookahead import Lookahead
from .native import NativePage
from .ranges import IdRange, Page, PageFacts, RangeQueue, is_last_page

MAX_PAGES: Final = 1_000_000
"""Hard cap of one range's pages: 200 million opportunities, far beyond any account."""
PAGES_PER_RANGE: Final = 100
"""A split aims at ranges of about this many pages: more ranges balance better, but
each may end on a short page (one request of overhead)."""


@dataclass(frozen=True)
class Fetched:
    """One page of one range."""

    range_index: int
    after: int | None
    """The ``id_greater_than`` this page was asked with."""
    page: NativePage | DeclinedPage
    """Read by the native reader, or declined by it (then ``walk`` reads the tree)."""
    last_id: int | None
    finished: bool
    """This page ended its range."""


def as_page(page: NativePage | DeclinedPage) -> Page:
    """A query page as ``ranges.RangeQueue`` reads it."""
    return _ReadPage(page) if isinstance(page, NativePage) else _TreePage(page.result)


class _ReadPage:
    """A page of the native reader as ``ranges.RangeQueue`` reads it."""

    def __init__(self, page: NativePage) -> None:
        self.page = page

    def facts(self) -> PageFacts:
        ids, total = self.page.id_array, self.page.total_results
        if not len(ids):
            return PageFacts(0, None, None, total)
        return PageFacts(len(ids), ids[0].as_py(), ids[-1].as_py(), total)

    def trim(self, hi: int) -> bool:
        """Drop the opportunities from id ``hi`` on; whether there were any."""
        kept = pc.sum(pc.less(self.page.id_array, hi)).as_py() or 0
        return self.page.keep_first(kept)


class _TreePage:
    """A query's ``<result>`` as ``ranges.RangeQueue`` reads it: cheaply, rows untyped."""

    def __init__(self, result: etree._Element) -> None:
        self.result = result

    def facts(self) -> PageFacts:
        elements = self.result.findall("opportunity")
        total = self.result.findtext("total_results")
        first = _id_of(elements[0]) if elements else None
        last = _id_of(elements[-1]) if elements else None
        try:
            return PageFacts(len(elements), first, last, int(total) if total is not None else None)
        except ValueError:
            raise PardotError(f"page with a non-integer total_results ({total!r})") from None

    def trim(self, hi: int) -> bool:
        """Drop the opportunities from id ``hi`` on (their range was cut after the page
        was asked for: they belong to the range above); whether any were."""
        trimmed = False
        for opportunity in reversed(self.result.findall("opportunity")):
            if _id_of(opportunity) < hi:
                break
            self.result.remove(opportunity)
            trimmed = True
        return trimmed


def _id_of(opportunity: etree._Element) -> int:
    found = opportunity.findtext("id")
    try:
        return int(found or "")
    except ValueError:
        raise PardotError(f"page with a non-integer id ({found!r})") from None


def _query(
    client: PardotClient, params: dict[str, str | int], span: IdRange
) -> NativePage | DeclinedPage:
    query = dict(params)
    if span.lo is not None:
        query["id_greater_than"] = span.lo
    if span.hi is not None:
        query["id_less_than"] = span.hi
    return client.query_page(**query)


def fetch_pages(
    client: PardotClient,
    params: dict[str, str | int],
    work: RangeQueue,
    *,
    workers: int,
    lookahead: Lookahead | None = None,
) -> Generator[Fetched, None, None]:
    """Page through the ranges of ``work``; yield every page, labelled with its range.

    A single range whose first page is not the last is replaced in ``work`` by what is
    left of it after that page, split when that is worth it, before that first page
    comes back labelled 0 (range 0 then starts where it ended).

    Args:
        client: the Pardot client (thread-safe; it enforces the concurrency limit).
        params: query parameters shared by every request (sort, output, filters).
        work: the scan's id ranges; the caller notes there what it took.
        workers: requests in flight at most.
        lookahead: how far the workers may fetch ahead; the caller's, to widen it.
    """
    spans = work.spans
    if len(spans) == 1 and workers > 1:
        span = spans[0]
        first = _query(client, params, span)
        facts = as_page(first).facts()
        finished = is_last_page(facts, work.page_size)
        if not finished and facts.last_id is not None:
            rest = IdRange(facts.last_id, span.hi)
            total = facts.total
            pages = None if total is None else -(-(total - facts.rows) // work.page_size)
            if pages is not None and pages < 2 * workers:
                work.replace([rest], top=None)  # not worth a split
            else:
                top = (
                    _highest_id(client, params, rest)  # no total_results: ask
                    if total is None
                    else _estimated_top(facts, total)
                )
                work.replace(_split(rest, top, pages, workers) or [rest], top=top)
        yield Fetched(0, span.lo, first, facts.last_id, finished)
        if finished:
            return
    ahead = lookahead or Lookahead(workers)
    yield from _concurrent(client, params, work, workers, ahead)


def _estimated_top(first: PageFacts, total: int) -> int:
    """The largest id, were the rows after the first page as dense as it: the ranges
    cut from it need not be right, only a start (``ranges.RangeQueue`` rebalances)."""
    assert first.first_id is not None and first.last_id is not None
    spread = (first.last_id - first.first_id) / max(first.rows - 1, 1)
    return first.last_id + int((total - first.rows) * max(spread, 1.0))


def _highest_id(client: PardotClient, params: dict[str, str | int], span: IdRange) -> int | None:
    """The largest id in ``span`` (one request: sorted descending, one row)."""
    probe = dict(params, sort_order="descending", limit=1, output="bulk")
    probe.pop("id_greater_than", None)
    return as_page(_query(client, probe, span)).facts().last_id


def _split(
    span: IdRange, highest: int | None, pages: int | None, workers: int
) -> list[IdRange] | None:
    """Cut ``span`` (about ``pages`` pages, up to ``highest``) into ranges for
    ``workers``, or None when there is nothing to cut."""
    if highest is None or span.lo is None or highest <= span.lo:
        return None
    count = max(workers, min(4 * workers, (pages or 0) // PAGES_PER_RANGE))
    width = -(-(highest - span.lo) // count)
    starts = [span.lo + i * width for i in range(count) if span.lo + i * width < highest]
    # Range i holds starts[i] < id <= starts[i+1]; id_less_than is exclusive, hence +1.
    # The last range stays open above, for opportunities created since the probe.
    pieces = [IdRange(lo, nxt + 1) for lo, nxt in pairwise(starts)]
    pieces.append(IdRange(starts[-1], span.hi))
    return pieces


def _read_range(
    client: PardotClient, params: dict[str, str | int], work: RangeQueue, index: int
) -> Iterator[Fetched]:
    """The pages of range ``index``, which may be cut (shortened) while it is read."""
    for _ in range(MAX_PAGES):
        asked = work.asking(index)
        page = _query(client, params, asked)
        finished, last_id = work.record(index, asked, as_page(page))
        yield Fetched(index, asked.lo, page, last_id, finished)
        if finished:
            return
    raise PardotError(f"stopped after {MAX_PAGES} pages: the id cursor never reached the end")


def _concurrent(
    client: PardotClient,
    params: dict[str, str | int],
    work: RangeQueue,
    workers: int,
    ahead: Lookahead,
) -> Iterator[Fetched]:
    """Workers take ranges from ``work``; pages (or the first error) come back here.

    A worker puts each page on one queue in the order it fetched them, so the pages of a
    range come back in order. ``ahead`` bounds how many pages wait there.
    """
    done: queue.SimpleQueue[Fetched | BaseException | None] = queue.SimpleQueue()
    stop = threading.Event()

    def work_on() -> None:
        try:
            while not stop.is_set():
                index = work.take()
                if index is None:
                    return
                for page in _read_range(client, params, work, index):
                    if not ahead.hold(stop):
                        return
                    done.put(page)
                    if stop.is_set():  # before asking for the next page
                        return
        except BaseException as exc:  # handed to the consumer, which raises it
            done.put(exc)
        finally:
            done.put(None)

    threads = [
        threading.Thread(target=work_on, name=f"pardot-fetch-{i}", daemon=True)
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = done.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                ahead.release()
                yield item
    finally:
        stop.set()
        work.close()
        ahead.wake()
        for thread in threads:
            thread.join()
