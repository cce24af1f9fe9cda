"""What one run carries between its steps, and the steps its phases share.

A run reads in phases (``sync``: the event feed, the scan, the re-reads, the delete
check; ``changes``), all into one batch, handed out a few thousand opportunities at a
time. Gathering a page, handing the batch out, marking deleted opportunities and writing
the state a run stopped here would leave are the same in every phase: they live here.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from .checkpoints import CheckpointClock
from .client import DeclinedPage, PardotClient
from .config import SyncSettings
from .deletes import ReadLoaded, hard_deletes, marked_deleted
from .errors import DataError, NotFoundError, PardotError
from .lookahead import Lookahead
from .native import NativePage
from .parsing import OpportunityBatch, PageInfo
from .planner import Scan, SyncState
from .ranges import RangeQueue
from .report import Progress, SyncReport
from .schema import CAMPAIGNS, OPPORTUNITIES, PROSPECTS, UNLINK_MARKER
from .walk import FeedEvent

logger = logging.getLogger(__name__)

Tables = Iterator[tuple[str, pa.Table]]


@dataclass
class Run:
    """What one run carries between its steps."""

    client: PardotClient
    settings: SyncSettings
    state: SyncState
    report: SyncReport
    progress: Progress | None
    batch: OpportunityBatch
    scan: Scan
    today: str
    """The API user's date when the run began: the day its requests count in."""
    requests_before: int
    """Requests made on ``today`` by earlier runs."""
    known_before: pa.Array
    """Live ids known when the run began (``SyncState.known_ids``)."""
    cursor_before: int | None
    """The largest id loaded when the run began (``SyncState.last_id``)."""
    lookahead: Lookahead
    checkpoints: CheckpointClock
    ranges: RangeQueue
    """The scan's id ranges: what was read, handed out, and is left."""
    loaded: array[int] = field(default_factory=lambda: array("q"))
    """Ids of the opportunities handed out by this run."""
    pending: list[int] = field(default_factory=list)
    """Ids gathered since the last flush."""
    pending_top: tuple[int, str | None] | None = None
    top: tuple[int, str | None] | None = None
    """Largest id handed out by this run, with its ``created_at``: the next cursor."""
    scan_done: bool = False
    """The scan read its last page (what is left of the run re-reads and checks)."""
    feed_read: int | None = None
    """The last event id gathered into the batch."""
    feed_handed_out: int | None = None
    """The last event id whose activities were handed out: the feed's cursor to save."""
    refresh: set[int] = field(default_factory=set)
    """Opportunities that events named, to re-read unless this run read them."""
    refresh_prospects: set[int] = field(default_factory=set)
    """Prospects of events that named no opportunity, whose opportunities to re-read."""
    gone: set[int] = field(default_factory=set)
    """Ids this run found deleted."""
    held: list[FeedEvent] = field(default_factory=list)
    """Events of opportunities newer than anything read: their rows wait for the re-read
    to show the opportunity exists (one deleted since would leave rows naming nothing)."""
    in_package: dict[str, set[int]] = field(default_factory=dict)
    """Campaign and prospect ids handed out in the current load package: many batches
    bring the same ones, and a destination's merge need not deduplicate a package."""
    v5_watermark: datetime | None = None
    """Where the v5 feed's next window begins (``v5feed``)."""
    v5_seen: dict[int, datetime] = field(default_factory=dict)
    """What the v5 feed named at or after the watermark, with its ``updatedAt``."""
    v5_refused_at: datetime | None = None
    status_events: dict[int, datetime] = field(default_factory=dict)
    """Opportunity id -> time of the newest won, lost or reopened event read by this run:
    when a status change happened, for the history."""
    nested_activities: bool = False
    """The opportunity query nests ``<opportunity_activities>`` (seen on this run's pages
    with opportunities, or else on an earlier run's)."""

    def read_ids(self) -> set[int]:
        """The opportunities this run has read so far (handed out or gathered)."""
        return {*self.loaded, *self.pending}


def add_page(run: Run, page: NativePage | DeclinedPage) -> PageInfo:
    """Gather one query page into the batch and count it in the report."""
    if isinstance(page, NativePage):
        info = run.batch.add_page(page)
    else:
        walked_page(run.report, page.reason)
        info = run.batch.add_result(page.result)
    run.pending.extend(info.ids)
    if info.ids:
        run.nested_activities = info.carries_activities
    run.report.pages += 1
    run.report.opportunities += len(info.ids)
    progressed(run)
    return info


def progressed(run: Run) -> None:
    """Bring the report's request count up to date and tell the progress callback."""
    run.report.requests = run.client.request_count
    if run.progress:
        run.progress(run.report)


def walked_page(report: SyncReport, reason: str) -> None:
    """Count a page the native reader declined; say why the first time in a run, so that a
    new element from Pardot does not move every page to the slower path unnoticed."""
    report.pages_walked += 1
    if report.pages_walked == 1:
        logger.warning(
            "a page took the slower general walk: %s; further such pages are counted in "
            "the run summary (pages_walked)",
            reason,
        )


def flush(run: Run) -> Tables:
    """Hand the batch out (typed tables), then note what is handed out."""
    if not len(run.batch) and not run.pending and not run.batch.activity_rows:
        run.feed_handed_out = _feed_handed_out(run)
        return
    if run.held:  # the rows of held events whose opportunity is in this batch go with it
        batch_ids = set(run.pending)
        run.batch.add_feed_events([e for e in run.held if e.opportunity_id in batch_ids])
        run.held = [e for e in run.held if e.opportunity_id not in batch_ids]
    for name, table in run.batch.build().items():
        if name in SHARED_TABLES:
            table = _not_yet_in_package(run, name, table)
        count_rows(run.report, name, table)
        yield name, table
    run.loaded.extend(run.pending)
    run.pending.clear()
    run.feed_handed_out = _feed_handed_out(run)
    run.ranges.handed_out()
    if run.pending_top is not None and (run.top is None or run.pending_top[0] > run.top[0]):
        run.top = run.pending_top
    run.pending_top = None
    if run.ranges.in_id_order and run.top is not None:
        # else the cursor moves when the scan completes
        run.state.advance(*run.top, timezone=run.settings.timezone)


SHARED_TABLES: Final = (CAMPAIGNS.name, PROSPECTS.name)
"""Tables whose rows many opportunities bring, in batch after batch."""


def _not_yet_in_package(run: Run, name: str, table: pa.Table) -> pa.Table:
    """The rows whose id no earlier batch of this load package handed out (the first
    sighting in a package wins; within a batch, the last)."""
    seen = run.in_package.setdefault(name, set())
    if seen:
        table = table.filter(
            pc.invert(pc.is_in(table["id"], value_set=pa.array(sorted(seen), pa.int64())))
        )
    seen.update(table["id"].to_pylist())
    return table


def _feed_handed_out(run: Run) -> int | None:
    """The feed's cursor once the batch is handed out: the last event read, or just
    before the first event whose row is still held (a run stopped now reads it again)."""
    if not run.held or run.feed_read is None:
        return run.feed_read
    return min(run.feed_read, min(event.id for event in run.held) - 1)


def salvage(run: Run) -> Tables:
    """After a failure, hand out the whole pages gathered so far: they are good rows."""
    try:
        yield from flush(run)
    except DataError as exc:
        logger.error("the pages fetched before the failure hold a bad value too: %s", exc)


def count_rows(report: SyncReport, name: str, table: pa.Table) -> None:
    """Count rows handed to dlt (unlink markers are not rows)."""
    unlinked = 0
    if UNLINK_MARKER in table.column_names:
        unlinked = pc.sum(table[UNLINK_MARKER]).as_py() or 0
    report.rows[name] = report.rows.get(name, 0) + table.num_rows - unlinked


def mark_gone(
    run: Run, gone: list[int], read_loaded: ReadLoaded | None, seen_at: datetime
) -> Tables:
    """Rows that record the deletes of ``gone`` (loaded before, deleted in Pardot since):
    marked ``is_deleted`` with ``deleted_at`` = ``seen_at``, or with ``hard_delete``
    removed with their links."""
    run.gone.update(gone)
    run.report.deleted += len(gone)
    if not gone:
        return
    logger.info("%d opportunities were deleted in Pardot", len(gone))
    if run.settings.hard_delete:
        yield from hard_deletes(gone)
        return
    if read_loaded is None:
        raise PardotError("cannot mark deleted opportunities: no way to read the warehouse")
    for marked in marked_deleted(gone, read_loaded, seen_at):
        count_rows(run.report, OPPORTUNITIES.name, marked)
        yield OPPORTUNITIES.name, marked


def read_activities(run: Run, ids: list[int]) -> None:
    """One ``do/read`` per opportunity, within the concurrency limit: the read carries the
    opportunity's visitor activities, nested, where a query does not."""

    def read(opportunity_id: int) -> etree._Element | None:
        try:
            return run.client.read(opportunity_id, output="full")
        except NotFoundError:
            return None  # deleted since the query: nothing to read

    with ThreadPoolExecutor(max_workers=run.settings.max_concurrency) as pool:
        for element in pool.map(read, ids):
            if element is not None:
                run.batch.add_activities(element)


def arrived(run: Run, ids: list[int]) -> Tables:
    """Opportunities loaded for the first time although older than the cursor (undeleted,
    say): their rows came with the page that found them; their visitor activities, where
    the query does not nest them, come with one ``do/read`` each (the event feed read
    their events before, when they named no opportunity in the warehouse)."""
    if ids and run.settings.activity_feed and not run.nested_activities:
        read_activities(run, ids)
        yield from flush(run)


def save_progress(run: Run, *, complete: bool) -> None:
    """Write the state as of the batches handed out so far.

    Idempotent, from what the run began with plus what it handed out, so that a
    checkpoint and the end of the run write alike. Unless the scan completed, the state
    is the one of a run stopped here: the next run resumes the ranges left.
    """
    run.report.requests = run.client.request_count
    run.state.set_requests_today(run.today, run.requests_before + run.client.request_count)
    scan = run.scan
    loaded = pa.array(run.loaded, pa.int64())
    if not (run.scan_done and scan.kind == "full"):
        run.state.known_ids = pa.concat_arrays([run.known_before, loaded])
    if run.gone:
        known = run.state.known_ids
        gone = pa.array(sorted(run.gone), pa.int64())
        run.state.known_ids = known.filter(pc.invert(pc.is_in(known, value_set=gone)))
    if not run.scan_done:
        seen = pa.concat_arrays([scan.seen_before, loaded]) if scan.kind == "full" else loaded[:0]
        run.state.save_unfinished_sweep(scan, run.ranges.remaining(), seen)
    if run.settings.v5_feed:
        run.state.set_v5_feed(run.v5_watermark, run.v5_seen, run.v5_refused_at)
    else:  # turned on again later, the feed starts afresh: never a deep window
        run.state.clear_v5_feed()
    if run.settings.activity_feed or run.settings.v5_feed:
        read = set(run.loaded) | run.gone
        refresh = pa.array(sorted(run.refresh - read), pa.int64())
        run.state.set_feed(
            run.feed_handed_out,
            refresh,
            sorted(run.refresh_prospects),
            nested_activities=run.nested_activities,
        )
