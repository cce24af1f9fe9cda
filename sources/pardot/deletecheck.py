"""Delete detection by counting: find deleted and undeleted ids without a full sweep.

A query's ``total_results`` counts every live opportunity that matches, whatever its
``limit``: ``id_greater_than=a&id_less_than=b&limit=1`` counts those in ``(a, b)`` in one
request. New opportunities get ever larger ids, so below the largest id already read the
count changes only by deletes and undeletes. Where Pardot's count of a range differs from
the number of ids known to be live in it, the range is halved (the count of one half is
asked, the other's follows from it) until a range holds at most a page of ids; that page
is then read with full output, which names the deleted ids (known, not returned) and the
undeleted ones (returned, not known), and brings the undeleted ones' rows. ``d`` changed
ids cost about ``d * log2(N / d)`` requests; nothing changed costs one.

A delete and an undelete in the same range cancel out in its count: the periodic full
sweep stays the final reconciliation.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Final

from .client import DeclinedPage, PardotClient
from .native import NativePage
from .walk import integer

MAX_DEPTH: Final = 64
"""Halvings of an id range: ids are 64-bit, so a range is one id long by then."""


class DeleteCheck:
    """One check of the id span ``0 < id <= top`` against the ids known to be live."""

    def __init__(
        self,
        client: PardotClient,
        known: list[int],
        *,
        top: int,
        created_after: str | None,
        page_size: int,
    ) -> None:
        """Prepare the check.

        Args:
            client: the Pardot client.
            known: the ids known to be live, sorted ascending.
            top: the largest id read so far (the new-opportunities cursor).
            created_after: Pardot's local time; only opportunities after it count
                (``start_date``), as only those were loaded.
            page_size: rows a request when a range is read.
        """
        self.client = client
        self.known = known
        self.top = top
        self.created_after = created_after
        self.page_size = page_size
        self.deleted: list[int] = []
        self.undeleted: list[int] = []
        self.requests = 0

    def pages(self) -> Iterator[NativePage | DeclinedPage]:
        """The pages of the ranges read in full (full output: gather them); once
        exhausted, ``deleted`` and ``undeleted`` hold what the check found."""
        lo, hi = 0, self.top + 1
        yield from self._examine(lo, hi, self._count(lo, hi), 0)

    def _known_in(self, lo: int, hi: int) -> list[int]:
        return self.known[bisect.bisect_right(self.known, lo) : bisect.bisect_left(self.known, hi)]

    def _params(self, lo: int, hi: int) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "id_greater_than": lo,
            "id_less_than": hi,
            "sort_by": "id",
            "sort_order": "ascending",
        }
        if self.created_after is not None:
            params["created_after"] = self.created_after
        return params

    def _count(self, lo: int, hi: int) -> int:
        """Pardot's count of the live opportunities in ``(lo, hi)``: one request."""
        self.requests += 1
        result = self.client.query(**self._params(lo, hi), limit=1, output="simple")
        return integer(result.findtext("total_results"), "total_results")

    def _examine(
        self, lo: int, hi: int, count: int, depth: int
    ) -> Iterator[NativePage | DeclinedPage]:
        known = self._known_in(lo, hi)
        if count == len(known):
            return  # unchanged (or a delete and an undelete cancel out: the sweep's)
        if max(count, len(known)) <= self.page_size or depth >= MAX_DEPTH or hi - lo <= 2:
            yield from self._read(lo, hi, known)
            return
        middle = lo + (hi - lo) // 2
        below = self._count(lo, middle + 1)
        yield from self._examine(lo, middle + 1, below, depth + 1)
        yield from self._examine(middle, hi, count - below, depth + 1)

    def _read(self, lo: int, hi: int, known: list[int]) -> Iterator[NativePage | DeclinedPage]:
        """Read every live opportunity of ``(lo, hi)`` by id keyset; compare."""
        returned: set[int] = set()
        after = lo
        while True:
            self.requests += 1
            page = self.client.query_page(
                **{**self._params(after, hi), "limit": self.page_size, "output": "full"}
            )
            ids = page_ids(page)
            returned.update(ids)
            yield page
            if len(ids) < self.page_size:
                break
            after = ids[-1]
        known_set = set(known)
        self.deleted.extend(sorted(known_set - returned))
        self.undeleted.extend(sorted(returned - known_set))


def page_ids(page: NativePage | DeclinedPage) -> list[int]:
    """The opportunity ids of a query page, in page order."""
    if isinstance(page, NativePage):
        return page.ids
    return [integer(element.findtext("id"), "id") for element in page.result.iter("opportunity")]
