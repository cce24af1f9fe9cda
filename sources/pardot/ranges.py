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

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

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


class RangeQueue:
    """Hands ranges to workers: first the ones not started, then halves of long ones."""

    def __init__(self, ranges: list[IdRange], *, page_size: int, top: int | None) -> None:
        """``top``: the largest id when the scan was split (the last range has no end)."""
        self.lock = threading.Condition()
        self.spans = [IdRange(span.lo, span.hi) for span in ranges]
        self.page_size = page_size
        self._top = top
        self._todo = deque(range(len(ranges)))
        self._reading: dict[int, _Reading] = {}
        self._closed = False

    def take(self, announce: Callable[[Cut], None], *, wait: bool = True) -> int | None:
        """The next range to read, or None: no range is left, nor one worth cutting.

        While a range being read has not had its first page, whether it is worth
        cutting is not known yet: this waits for that page (unless not ``wait``). A
        cut is ``announce``d before this returns, in the order cuts are made.
        """
        with self.lock:
            while not self._closed:
                if self._todo:
                    index = self._todo.popleft()
                    self._reading[index] = _Reading(self.spans[index].lo)
                    return index
                cut = self._cut()
                if cut is not None:
                    self._reading[cut.new] = _Reading(cut.at)
                    announce(cut)
                    return cut.new
                if not wait or all(r.ids_per_row is not None for r in self._reading.values()):
                    return None  # ranges only shrink: none will be worth it later
                self.lock.wait()
            return None

    def close(self) -> None:
        """The scan stops: workers waiting in ``take`` get None."""
        with self.lock:
            self._closed = True
            self.lock.notify_all()

    def asking(self, index: int) -> IdRange:
        """What the reader of range ``index`` asks for next."""
        with self.lock:
            return IdRange(self._reading[index].cursor, self.spans[index].hi)

    def advanced(
        self, index: int, asked: IdRange, ids: tuple[int, int] | None, rows: int, total: int | None
    ) -> None:
        """Record a page of range ``index`` (call with ``lock`` held): ``rows`` rows
        from id ``ids[0]`` to ``ids[1]``, of ``total`` that its query matched."""
        reading = self._reading[index]
        if ids is not None:
            first, last = ids
            reading.cursor = last
            reading.ids_per_row = (last - first) / (rows - 1) if rows > 1 else 1.0
            reading.rows_left = None if total is None else total - rows
        else:
            reading.ids_per_row, reading.rows_left = 1.0, 0
        self.lock.notify_all()

    def finished(self, index: int) -> None:
        """Range ``index`` is read to its end (call with ``lock`` held)."""
        self._reading.pop(index, None)
        self.lock.notify_all()

    def _cut(self) -> Cut | None:
        best: tuple[float, int, int, float] | None = None  # rows left, index, cursor, spread
        for index, reading in self._reading.items():
            if reading.cursor is None or reading.ids_per_row is None:
                continue
            rows = reading.rows_left
            if rows is None:  # not counted (no total_results, or cut since its last page)
                hi = self.spans[index].hi
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
        hi = self.spans[index].hi
        if hi is not None:
            at = min(at, hi - 2)  # the upper part keeps at least one id
        if at <= cursor:
            return None
        new = len(self.spans)
        self.spans.append(IdRange(at, hi))
        self.spans[index] = IdRange(self.spans[index].lo, at + 1)
        self._reading[index].rows_left = None  # not known again until its next page
        return Cut(index, at, new)
