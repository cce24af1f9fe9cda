"""Pages of opportunities -> typed Arrow tables, one per warehouse table, a batch at a time.

Each response is parsed exactly once. Pages accumulate in an ``OpportunityBatch`` until
the caller builds them: a few thousand rows an Arrow table, so that dlt's per-item
overhead vanishes. A page arrives one of two ways:

* read by the native reader (``native``, in the fetch threads): its columns are put
  together for the whole batch at once (``native.text_tables``); the fast path;
* as a tree parsed by the hardened parser in ``envelope``, which ``walk`` reads element
  by element: for pages the native reader declines, and for reads.

Both give ``TextTables``, the one form in which the batch's rows are merged, set aside
when an opportunity is rejected, and typed (``texttables``). A value that cannot be typed
raises ``DataError`` naming the opportunity and field, or with ``reject_bad_rows`` sets
that opportunity aside in ``rejected_rows`` with the reason.

No element leaves this module; callers get Arrow tables and plain values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from lxml import etree

from .columns import typed_table
from .constants import PARDOT_TIMESTAMP_FORMAT
from .errors import DataError
from .native import NativePage, text_tables
from .schema import REJECTED_ROWS, VISITOR_ACTIVITIES
from .texttables import TextTables
from .walk import (
    FEED_ELEMENTS,
    FeedEvent,
    Walked,
    WalkedRows,
    flatten_unknown_nesting,
    integer,
)

logger = logging.getLogger(__name__)


@dataclass
class PageInfo:
    """What the caller needs to page on, without touching the tree."""

    count: int = 0
    ids: list[int] = field(default_factory=list)
    last_created_at: str | None = None
    """``created_at`` of the last opportunity, exactly as Pardot rendered it (local)."""
    total_results: int | None = None
    carries_activities: bool = False
    """Whether any opportunity carried ``<opportunity_activities>``."""

    @property
    def last_id(self) -> int | None:
        """Largest id of the page (pages are sorted by id ascending)."""
        return self.ids[-1] if self.ids else None


class OpportunityBatch:
    """The rows of one or more pages, as text, until ``build`` types them."""

    def __init__(self, timezone: str, *, reject_bad_rows: bool = False) -> None:
        """Start an empty batch whose local timestamps are in ``timezone`` (IANA).

        Args:
            timezone: the API user's zone, in which Pardot renders timestamps.
            reject_bad_rows: set aside an opportunity with a value that cannot be typed
                (into ``rejected_rows``, with the reason) instead of raising DataError.
        """
        self.timezone = timezone
        self.reject_bad_rows = reject_bad_rows
        self._reset()

    def _reset(self) -> None:
        self._walked: list[TextTables] = []
        self._native: list[NativePage] = []
        """Pages of the native reader: put together once a build."""
        self._count = 0
        self._activity_rows = 0
        self._rejected: list[dict[str, Any]] = []
        self._rejected_ids: set[int] = set()

    def __len__(self) -> int:
        """Number of opportunities gathered since the last build."""
        return self._count

    def add_page(self, page: NativePage) -> PageInfo:
        """Gather a query page read by the native reader."""
        self._native.append(page)
        self._count += len(page)
        ids = page.ids
        return PageInfo(
            len(ids), ids, page.last_created_at, page.total_results, page.carries_activities
        )

    def add_result(self, result: etree._Element) -> PageInfo:
        """Gather every ``<opportunity>`` of a query's ``<result>`` element, by the walk.

        A page goes in whole or not at all: when a bad row stops the run, none of the
        page's rows stay in the batch.

        Args:
            result: the ``<result>`` element.
        """
        total = result.findtext("total_results")
        info = PageInfo()
        if total is not None:
            info.total_results = integer(total, "total_results")
        flatten_unknown_nesting(result)
        rows = WalkedRows()
        for element in result.iterchildren("opportunity"):
            # Every element counts towards the page size, rejected or not: a short
            # page, not a short list of good rows, is what ends keyset paging.
            info.count += 1
            try:
                walked = rows.opportunity(element)
            except DataError as error:
                if not self.reject_bad_rows:
                    raise
                self._reject(error)
                continue
            info.ids.append(walked.id)
            info.last_created_at = walked.created_at
            info.carries_activities |= walked.carries_activities
        self._add_walked(rows, len(info.ids))
        return info

    def add_feed(
        self, result: etree._Element, keep: Callable[[int], bool]
    ) -> tuple[int, list[FeedEvent]]:
        """Gather a visitor activity query's ``<result>``: (activities on the page, the
        events read). An activity becomes a row where ``keep`` accepts its opportunity.
        An activity with a bad id stops the run, or with ``reject_bad_rows`` is set
        aside (and counts on the page, not among the events)."""
        flatten_unknown_nesting(result, feed=True)
        rows = WalkedRows()
        events: list[FeedEvent] = []
        count = 0
        for element in result.iterchildren(*FEED_ELEMENTS):
            count += 1
            try:
                events.append(rows.feed_activity(element, keep))
            except DataError as error:
                if not self.reject_bad_rows:
                    raise
                self._reject(error)
        self._add_walked(rows, 0)
        self._activity_rows += rows.rows(VISITOR_ACTIVITIES.name)
        return count, events

    def add_feed_events(self, events: list[FeedEvent]) -> None:
        """Gather the rows of events held back until their opportunity was read."""
        rows = WalkedRows()
        for event in events:
            rows.feed_activity(event.element, lambda _: True)
        self._add_walked(rows, 0)
        self._activity_rows += rows.rows(VISITOR_ACTIVITIES.name)

    @property
    def activity_rows(self) -> int:
        """Activity rows gathered on their own (the event feed, reads) since the last build:
        rows to hand out even where no opportunity was gathered."""
        return self._activity_rows

    def add_opportunity(self, element: etree._Element) -> Walked:
        """Gather one ``<opportunity>`` (from a query page or a read) with its children."""
        rows = WalkedRows()
        walked = rows.opportunity(element)
        self._add_walked(rows, 1)
        return walked

    def add_activities(self, element: etree._Element) -> int:
        """Gather only the visitor activities of an ``<opportunity>`` (from a read)."""
        rows = WalkedRows()
        count = rows.activities(element)
        self._add_walked(rows, 0)
        self._activity_rows += count
        return count

    def build(self) -> dict[str, pa.Table]:
        """Type the gathered rows into one Arrow table per non-empty table, and reset.

        Raises:
            DataError: a value cannot be typed, a key is missing, or a probability is
                outside 0-100; names the opportunity and the field.
        """
        try:
            native = [text_tables(self._native)] if self._native else []
            text = TextTables.concat([*self._walked, *native])
            for _ in range(len(self) + 1):
                try:
                    tables = text.without(self._rejected_ids).typed(self.timezone)
                    break
                except DataError as error:
                    if not self.reject_bad_rows or error.opportunity_id is None:
                        raise
                    self._reject(error)
            if self._rejected:
                owners = [0] * len(self._rejected)
                tables[REJECTED_ROWS.name] = typed_table(
                    REJECTED_ROWS, self._rejected, owners, "UTC"
                )
        finally:
            self._reset()
        return tables

    def _add_walked(self, rows: WalkedRows, opportunities: int) -> None:
        self._walked.append(rows.text_tables())
        self._count += opportunities

    def _reject(self, error: DataError) -> None:
        """Set an opportunity aside with the reason; its rows are left out of the build."""
        logger.warning("rejected: %s", error)
        self._rejected.append(
            {
                "opportunity_id": None
                if error.opportunity_id is None
                else str(error.opportunity_id),
                "field": error.field,
                "value": error.value,
                "reason": error.reason,
                "rejected_at": datetime.now(UTC).strftime(PARDOT_TIMESTAMP_FORMAT),
            }
        )
        if error.opportunity_id is not None:
            self._rejected_ids.add(error.opportunity_id)
