"""The id ranges a scan's workers read, handed out as a work queue that rebalances itself.

A scan is cut into ranges before any is read, by id alone: where ids are dense in one
part of the span and sparse in another (a migrated block, years of few opportunities
then many), equal id widths hold very unequal numbers of rows. So a worker that runs
out of ranges takes the upper half of the range with the most rows left to read: the
range's reader then stops at the cut. How many rows are left, each page says
(``total_results`` counts the rows its query matches); where they lie is estimated
from the ids the range's last page spanned, so a cut may fall short of the half. That
corrects itself: whichever half ends first cuts the other. A cut costs about one
request (each half ends on a short page), so only a range with at least
``SPLIT_MIN_PAGES`` pages left is cut.

Every decision is made under ``lock``, which the fetch workers also hold while they
record a page: a cut never falls below where its range's reader has got to, and a page
asked for before a cut is trimmed to it (see ``fetch``).
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, NamedTuple, Protocol

from .errors import PardotError

SPLIT_MIN_PAGES: Final = 6
"""A range is cut only with about this many pages left: each half then has three or
more, so the cut saves at least two round trips for the one request it costs."""


@dataclass
class IdRange:
    """Ids ``lo < id < hi``; None means unbounded."""

    lo: int | None
    hi: int | None


@dataclass(frozen=True)
class Cut:
    """Range ``index`` now ends at ``at`` (ids ``<= at``); range ``new`` holds the ids
    above it, up to where range ``index`` ended before."""

    index: int
    at: int
    new: int


@dataclass
class _Reading:
    """Where the reader of one range has got to."""

    cursor: int | None
    """The ``id_greater_than`` of its next request: every id up to it is read."""
    ids_per_row: float | None = None
    """From its last page: how far in ids a row takes it here. None: no page yet."""
    rows_left: float | None = None
    """Rows after ``cursor``, as its last page counted them (``total_results``)."""


class PageFacts(NamedTuple):
    """What paging needs of a page: its rows, the ids it spans, what its query matched."""

    rows: int
    first_id: int | None
    last_id: int | None
    total: int | None
    """``total_results``: the rows its query matched, this page's included."""


class Page(Protocol):
    """A fetched page as the queue sees it (``fetch`` wraps the XML)."""

    def trim(self, hi: int) -> bool:
        """Drop the rows from id ``hi`` on; whether there were any."""

    def facts(self) -> PageFacts:
        """Its rows and ids, as they are now."""


def is_last_page(facts: PageFacts, page_size: int) -> bool:
    """A short page ends a range; so does one that holds every row its query matched
    (``total_results``): asking again would only return an empty page."""
    if facts.rows < page_size:
        return True
    return facts.total is not None and facts.total <= facts.rows


class RangeQueue:
    """The id ranges of one scan: handed to workers, cut when worth it, and reported.

    Two sides share it, each through its own methods, and every decision is made under
    the queue's own lock:

    * the workers ``take`` a range, ask where to read next (``asking``) and ``record``
      each page; a worker that runs dry cuts the range with the most rows left;
    * the caller, in one thread, notes the pages it ``gathered`` (checking their order
      against the cursor they were asked with) and, once their rows are handed out,
      ``handed_out``; ``remaining`` is then what a run stopped here must still read.

    A cut never leaves a gap in ``remaining``: it falls above the last id recorded for
    its range, and a page asked for before the cut is trimmed to it when recorded.
    """

    def __init__(
        self,
        ranges: Sequence[IdRange | tuple[int | None, int | None]],
        *,
        page_size: int,
        top: int | None = None,
    ) -> None:
        """``top``: the largest id when the scan was split (the last range has no end)."""
        self._lock = threading.Condition()
        self._spans = [
            IdRange(*span) if isinstance(span, tuple) else IdRange(span.lo, span.hi)
            for span in ranges
        ]
        self._given = [(span.lo, span.hi) for span in self._spans]
        self.page_size = page_size
        self._top = top
        self._todo = deque(range(len(self._spans)))
        self._reading: dict[int, _Reading] = {}
        self._closed = False
        # The caller's side: what was handed out, per range.
        self._gathered: list[tuple[int, int | None, bool]] = []
        self._frontier: dict[int, int | None] = {}
        self._finished: set[int] = set()
        self._handed_any = False

    # -- set-up -----------------------------------------------------------------------

    def replace(self, ranges: list[IdRange], *, top: int | None) -> None:
        """Read ``ranges`` instead (a single range split after its first page), before
        any worker has taken one."""
        with self._lock:
            assert not self._reading, "replace before the workers start"
            self._spans = [IdRange(span.lo, span.hi) for span in ranges]
            self._todo = deque(range(len(self._spans)))
            self._top = top

    @property
    def spans(self) -> list[IdRange]:
        """A copy of the ranges as they stand (cuts included)."""
        with self._lock:
            return [IdRange(span.lo, span.hi) for span in self._spans]

    @property
    def in_id_order(self) -> bool:
        """One range: its pages reach the caller in id order, so a cursor may follow
        every batch. Ranges read side by side arrive out of order."""
        with self._lock:
            return len(self._spans) == 1

    # -- the workers' side ------------------------------------------------------------

    def take(
        self, announce: Callable[[Cut], None] | None = None, *, wait: bool = True
    ) -> int | None:
        """The next range to read, or None: no range is left, nor one worth cutting.

        While a range being read has not had its first page, whether it is worth
        cutting is not known yet: this waits for that page (unless not ``wait``). A
        cut is ``announce``d, if asked, before this returns.
        """
        with self._lock:
            while not self._closed:
                if self._todo:
                    index = self._todo.popleft()
                    self._reading[index] = _Reading(self._spans[index].lo)
                    return index
                cut = self._cut()
                if cut is not None:
                    if announce is not None:
                        announce(cut)
                    return cut.new
                if not wait or all(r.ids_per_row is not None for r in self._reading.values()):
                    return None  # ranges only shrink: none will be worth it later
                self._lock.wait()
            return None

    def close(self) -> None:
        """The scan stops: workers waiting in ``take`` get None."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def asking(self, index: int) -> IdRange:
        """What the reader of range ``index`` asks for next."""
        with self._lock:
            return IdRange(self._reading[index].cursor, self._spans[index].hi)

    def record(self, index: int, asked: IdRange, page: Page) -> tuple[bool, int | None]:
        """Record a page of range ``index`` asked for as ``asked``: (whether it ends the
        range, its last id). A page asked for before its range was cut is trimmed here."""
        with self._lock:
            hi = self._spans[index].hi
            trimmed = hi != asked.hi and hi is not None and page.trim(hi)
            facts = page.facts()
            finished = trimmed or is_last_page(facts, self.page_size)
            reading = self._reading[index]
            if facts.first_id is not None and facts.last_id is not None:
                rows = facts.rows
                reading.cursor = facts.last_id
                reading.ids_per_row = (
                    (facts.last_id - facts.first_id) / (rows - 1) if rows > 1 else 1.0
                )
                reading.rows_left = None if facts.total is None else facts.total - rows
            else:
                reading.ids_per_row, reading.rows_left = 1.0, 0
            if finished:
                self._reading.pop(index, None)
            self._lock.notify_all()
            return finished, facts.last_id

    def cut_at(self, index: int, at: int) -> Cut:
        """Range ``index`` ends at id ``at``; a new range holds the ids above it."""
        with self._lock:
            new = len(self._spans)
            hi = self._spans[index].hi
            self._spans.append(IdRange(at, hi))
            self._spans[index] = IdRange(self._spans[index].lo, at + 1)
            self._reading[new] = _Reading(at)
            if index in self._reading:
                self._reading[index].rows_left = None  # not known again until its next page
            return Cut(index, at, new)

    # -- the caller's side ------------------------------------------------------------

    def gathered(self, index: int, after: int | None, ids: list[int], finished: bool) -> None:
        """The caller took a page of range ``index``, asked for with ``id_greater_than``
        ``after``, holding ``ids``. Keyset paging is only exact if those are sorted
        ascending past that cursor: anything else stops the scan before it is used.

        Raises:
            PardotError: the page is not sorted by id ascending after its cursor.
        """
        low = -1 if after is None else after
        if ids and (ids[0] <= low or any(a >= b for a, b in pairwise(ids))):
            raise PardotError(
                "Pardot returned a page not sorted by id ascending after the cursor "
                f"(id_greater_than={after}, first ids {ids[:3]}); refusing to page on it"
            )
        with self._lock:
            self._gathered.append((index, ids[-1] if ids else None, finished))

    def handed_out(self) -> None:
        """The rows of every page gathered so far were handed out: reading resumes
        after them."""
        with self._lock:
            for index, last_id, finished in self._gathered:
                if last_id is not None:
                    self._frontier[index] = last_id
                if finished:
                    self._finished.add(index)
            self._gathered.clear()
            self._handed_any = True

    def remaining(self) -> list[tuple[int | None, int | None]]:
        """The id ranges not handed out yet: what a run stopped here must still read."""
        with self._lock:
            if not self._handed_any:
                return list(self._given)
            return [
                (self._frontier.get(index, span.lo), span.hi)
                for index, span in enumerate(self._spans)
                if index not in self._finished
            ]

    def _cut(self) -> Cut | None:
        best: tuple[float, int, int, float] | None = None  # rows left, index, cursor, spread
        for index, reading in self._reading.items():
            if reading.cursor is None or reading.ids_per_row is None:
                continue
            rows = reading.rows_left
            if rows is None:  # not counted (no total_results, or cut since its last page)
                hi = self._spans[index].hi
                end = self._top if hi is None else hi - 1  # the last id it may hold
                if end is None:
                    continue
                rows = (end - reading.cursor) / max(reading.ids_per_row, 1e-9)
            if best is None or rows > best[0]:
                best = (rows, index, reading.cursor, reading.ids_per_row)
        if best is None or best[0] < SPLIT_MIN_PAGES * self.page_size:
            return None
        rows, index, cursor, ids_per_row = best
        at = cursor + int(rows / 2 * max(ids_per_row, 1.0))
        hi = self._spans[index].hi
        if hi is not None:
            at = min(at, hi - 2)  # the upper part keeps at least one id
        if at <= cursor:
            return None
        return self.cut_at(index, at)


def clusters(targets: Sequence[int], known: Sequence[int], page_size: int) -> list[IdRange]:
    """Id ranges around ``targets`` (ascending), each expected to hold at most a page.

    Re-reading k opportunities one by one costs k requests; where their ids lie close
    together, one range holds several and costs one. How many rows a range holds is
    estimated from ``known`` (ascending: the ids known to be live); a range that holds
    more pages anyway is read to its end by keyset, so a wrong estimate costs a request,
    never a row.
    """
    spans: list[IdRange] = []
    index = 0
    while index < len(targets):
        start = index
        first = last = targets[index]
        index += 1
        below = bisect.bisect_left(known, first)
        while index < len(targets):
            known_rows = bisect.bisect_right(known, targets[index]) - below
            if max(known_rows, index + 1 - start) > page_size:
                break
            last = targets[index]
            index += 1
        spans.append(IdRange(first - 1, last + 1))
    return spans
