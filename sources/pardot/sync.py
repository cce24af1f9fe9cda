"""The incremental fetch of new opportunities: cursors, keyset paging, batching.

New opportunities are read with ``do/query`` sorted by id ascending, ``output=full``,
paged by moving ``id_greater_than`` to the last id of each page (never ``offset``, whose
pages shift when rows are added or deleted). ``created_after`` narrows the query on
Pardot's side: on the first run from ``start_date``, afterwards from the last seen
``created_at`` less a generous margin. The margin costs no extra requests (rows at or
below the id cursor are excluded by ``id_greater_than``) and protects against ids that
were handed out slightly out of ``created_at`` order.

The cursor lives in a plain mapping that the dlt layer passes in (dlt's resource state):
it moves only past opportunities whose rows were handed out, so the state dlt commits
with a load package never runs ahead of the data in it. Errors that a run can survive
(the daily limit, a dead network, a value that cannot be typed) end the fetch cleanly:
what was fetched before is handed out and loaded, the cursor stays before the failure,
and ``SyncReport`` tells the caller how the run ended.

No dlt import: this module is driven by ``sources.pardot`` and tested on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Final
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from .client import PardotClient
from .config import SyncSettings
from .errors import DailyLimitError, NotFoundError, PardotError
from .parsing import OpportunityBatch, PageInfo
from .schema import UNLINK_MARKER
from .settings import PARDOT_TIMESTAMP_FORMAT

logger = logging.getLogger(__name__)

CREATED_AFTER_MARGIN: Final = timedelta(days=1)
MAX_PAGES: Final = 1_000_000
"""Hard cap of one run's pages: 200 million opportunities, far beyond any account."""

Progress = Callable[["SyncReport"], None]


@dataclass
class SyncReport:
    """How a run went, for the command line's summary and exit code."""

    outcome: str = "running"
    """``complete``, ``daily_limit`` (stopped early, progress saved) or ``error``."""
    error: BaseException | None = None
    pages: int = 0
    opportunities: int = 0
    requests: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    """Rows handed to dlt per table (unlink markers not counted)."""
    cursor: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cursor:
    """Where the fetch of new opportunities stands."""

    last_id: int | None = None
    last_created_at: str | None = None
    """As Pardot rendered it: local time of the API user, ``YYYY-MM-DD HH:MM:SS``."""

    @classmethod
    def load(cls, state: MutableMapping[str, Any]) -> Cursor:
        """Read the cursor from dlt's resource state (empty on the first run)."""
        saved = state.get("new_opportunities") or {}
        return cls(saved.get("last_id"), saved.get("last_created_at"))

    def save(self, state: MutableMapping[str, Any]) -> None:
        """Write the cursor into dlt's resource state."""
        state["new_opportunities"] = {
            "last_id": self.last_id,
            "last_created_at": self.last_created_at,
        }


def created_after(cursor: Cursor, settings: SyncSettings) -> str | None:
    """The ``created_after`` filter to send, in the API user's local time, or None."""
    if cursor.last_created_at:
        local = datetime.strptime(cursor.last_created_at, PARDOT_TIMESTAMP_FORMAT)
        return (local - CREATED_AFTER_MARGIN).strftime(PARDOT_TIMESTAMP_FORMAT)
    if settings.start_date is not None:
        local = settings.start_date.astimezone(ZoneInfo(settings.timezone)).replace(tzinfo=None)
        # created_after is strict; start_date means "from", so include its own second.
        return (local - timedelta(seconds=1)).strftime(PARDOT_TIMESTAMP_FORMAT)
    return None


def sync_new_opportunities(
    client: PardotClient,
    settings: SyncSettings,
    state: MutableMapping[str, Any],
    report: SyncReport,
    progress: Progress | None = None,
) -> Iterator[tuple[str, pa.Table]]:
    """Fetch opportunities created since the cursor; yield (table name, Arrow table).

    The cursor in ``state`` advances after each handed-out batch. A ``PardotError``
    stops the fetch cleanly (see the module docstring) and is recorded in ``report``.
    """
    cursor = Cursor.load(state)
    batch = OpportunityBatch(settings.timezone)
    fetched = Cursor(cursor.last_id, cursor.last_created_at)
    try:
        for info in _pages(client, settings, batch, cursor):
            fetched = Cursor(info.last_id, info.last_created_at)
            report.pages += 1
            report.opportunities += info.count
            report.requests = client.request_count
            if progress:
                progress(report)
            if len(batch) >= settings.batch_size:
                yield from _flush(batch, state, fetched, report)
        yield from _flush(batch, state, fetched, report)
        report.outcome = "complete"
    except DailyLimitError as exc:
        logger.warning("stopping early: %s", exc)
        yield from _flush(batch, state, fetched, report)
        report.outcome, report.error = "daily_limit", exc
    except PardotError as exc:
        logger.error("stopping: %s", exc)
        report.outcome, report.error = "error", exc
    finally:
        report.requests = client.request_count
        report.cursor = dict(state.get("new_opportunities") or {})


def _flush(
    batch: OpportunityBatch,
    state: MutableMapping[str, Any],
    fetched: Cursor,
    report: SyncReport,
) -> Iterator[tuple[str, pa.Table]]:
    if not len(batch):
        return
    for name, table in batch.build().items():
        unlinked = 0
        if UNLINK_MARKER in table.column_names:
            unlinked = pc.sum(table[UNLINK_MARKER]).as_py() or 0
        report.rows[name] = report.rows.get(name, 0) + table.num_rows - unlinked
        yield name, table
    fetched.save(state)


def _pages(
    client: PardotClient, settings: SyncSettings, batch: OpportunityBatch, cursor: Cursor
) -> Iterator[PageInfo]:
    """Keyset paging: an explicit, bounded loop that stops on a short page."""
    params: dict[str, str | int] = {
        "sort_by": "id",
        "sort_order": "ascending",
        "limit": settings.page_size,
        "output": "full",
    }
    after = created_after(cursor, settings)
    if after is not None:
        params["created_after"] = after
    last_id = cursor.last_id
    for _ in range(MAX_PAGES):
        if last_id is not None:
            params["id_greater_than"] = last_id
        result = client.query(**params)
        info = batch.add_result(result)
        _check_order(info, last_id)
        if settings.fetch_activities_by_read and info.count and not info.carries_activities:
            _read_activities(client, settings, batch, info.ids)
        yield info
        if _is_last_page(info, settings.page_size):
            return
        last_id = info.last_id
    raise PardotError(f"stopped after {MAX_PAGES} pages: the id cursor never reached the end")


def _is_last_page(info: PageInfo, page_size: int) -> bool:
    if info.count < page_size:
        return True
    # total_results counts the rows matching this query, this page included: when the
    # page holds them all, asking again would only return an empty page.
    return info.total_results is not None and info.total_results <= info.count


def _check_order(info: PageInfo, last_id: int | None) -> None:
    """Keyset paging is only exact if every page is sorted by id and past the cursor."""
    ids = info.ids
    floor = -1 if last_id is None else last_id
    if ids and (ids[0] <= floor or any(a >= b for a, b in pairwise(ids))):
        raise PardotError(
            "Pardot returned a page not sorted by id ascending after the cursor "
            f"(id_greater_than={last_id}, first ids {ids[:3]}); refusing to page on it"
        )


def _read_activities(
    client: PardotClient, settings: SyncSettings, batch: OpportunityBatch, ids: list[int]
) -> None:
    """One ``do/read`` per opportunity, within the concurrency limit."""

    def read(opportunity_id: int) -> etree._Element | None:
        try:
            return client.read(opportunity_id, output="full")
        except NotFoundError:
            return None  # deleted since the query: nothing to read

    with ThreadPoolExecutor(max_workers=settings.max_concurrency) as pool:
        for element in pool.map(read, ids):
            if element is not None:
                batch.add_activities(element)
