"""One sync run: a keyset scan chosen by ``planner``, batched Arrow tables, deletes.

The scan reads ``do/query`` sorted by id ascending with ``output=full``; ``fetch`` does
the keyset paging (one id range, or several side by side). Pages gather here, in one
thread, in an ``OpportunityBatch`` and are handed out as Arrow tables a few thousand
opportunities at a time.

The state (a plain mapping that the dlt layer passes in: dlt's resource state) only moves
past rows that were handed out, so the state dlt commits with a load package never runs
ahead of the data in it. A completed full sweep compares the ids it saw with the ids
loaded before: the missing ones were deleted in Pardot and are marked (``is_deleted``,
``deleted_at``) or, with ``hard_delete``, removed with their links.

A long run can pause at checkpoints (``checkpoint_every``, and earlier when the machine
mostly waits for Pardot: see ``checkpoints``): it writes the state a run stopped right there
would leave, yields ``CHECKPOINT``, and the dlt layer ends the load package there; dlt
loads it and commits that state, then resumes the generator with the next package's
state mapping. The fetch threads keep going meanwhile, and a kill loses only what came
after the last checkpoint: the next run resumes the unfinished ranges.

Errors that a run can survive (the daily limit, a dead network, a value that cannot be
typed) end the scan cleanly: what was fetched before is handed out and loaded, the state
stays before the failure, and ``SyncReport`` tells the caller how the run ended.

No dlt import: this module is driven by ``sources.pardot`` and tested on its own.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from .checkpoints import CheckpointClock
from .client import PardotClient
from .config import SyncSettings
from .deletes import ReadLoaded, hard_deletes, marked_deleted
from .errors import DailyLimitError, DataError, NotFoundError, PardotError
from .fetch import Fetched, fetch_pages
from .lookahead import Lookahead
from .native import NativePage
from .parsing import OpportunityBatch
from .planner import Scan, SyncState, local_day, plan_scan
from .ranges import RangeQueue
from .report import CHECKPOINT, Item, Progress, State, SyncReport, SyncRun
from .schema import OPPORTUNITIES, UNLINK_MARKER

logger = logging.getLogger(__name__)


@dataclass
class _Run:
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


def sync_opportunities(
    client: PardotClient,
    settings: SyncSettings,
    state: State,
    report: SyncReport,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    force_full_sweep: bool = False,
    read_loaded: ReadLoaded | None = None,
) -> SyncRun:
    """Make this run's scan; yield (table name, Arrow table), and ``CHECKPOINT``s.

    Args:
        client: the Pardot client (its request budget is set here from today's tally).
        settings: validated sync settings.
        state: dlt's resource state; updated as batches are handed out. After a
            checkpoint, the generator writes to the mapping it is resumed with.
        report: filled with how the run went.
        progress: called after every page.
        now: the run's start (UTC); the machine's clock by default.
        force_full_sweep: make this run a full sweep whatever the cadence.
        read_loaded: reads loaded opportunity rows back from the warehouse, to mark
            deleted ones without losing their columns (not needed with ``hard_delete``).
    """
    started = now or datetime.now(UTC)
    sync_state = SyncState(state)
    today = local_day(started, settings.timezone)
    used = sync_state.requests_today(today)
    if settings.daily_request_budget is not None:
        client.limit_requests(max(settings.daily_request_budget - used, 0))
    scan = plan_scan(sync_state, settings, started, force_full=force_full_sweep)
    batch = OpportunityBatch(settings.timezone, reject_bad_rows=settings.reject_bad_rows)
    lookahead = Lookahead(settings.max_concurrency)
    run = _Run(
        client, settings, sync_state, report, progress, batch, scan,
        today=today, requests_before=used, known_before=sync_state.known_ids,
        lookahead=lookahead,
        checkpoints=CheckpointClock(settings.checkpoint_every, lookahead.most_while_paused),
        ranges=RangeQueue(scan.ranges, page_size=settings.page_size),
    )  # fmt: skip
    report.scan = scan.kind
    logger.info("scan %s (created_after=%s, ranges=%s)", scan.kind, scan.created_after, scan.ranges)
    try:
        pages = fetch_pages(
            client,
            _query_params(settings, scan),
            run.ranges,
            workers=settings.max_concurrency,
            lookahead=lookahead,
        )
        for fetched in _counted(pages, run.checkpoints):
            _gather(run, fetched)
            due = run.checkpoints.due(len(run.loaded) + len(run.pending))
            if due or len(run.batch) >= settings.batch_size:
                yield from _flush(run)
                if due:
                    yield from _checkpoint(run, early=due == "early")
        yield from _flush(run)
        if run.top is not None:
            run.state.advance(*run.top, timezone=settings.timezone)
        if scan.kind == "full":
            yield from _deletes(run, scan, read_loaded)
        run.state.finish_sweep(scan)
        report.outcome = "complete"
    except DailyLimitError as exc:
        logger.warning("stopping early: %s", exc)
        report.outcome, report.error = "daily_limit", exc
        yield from _salvage(run)
    except DataError as exc:
        # The batch holds the value that cannot be typed: none of it is handed out, and
        # the state stays before it.
        logger.error("stopping: %s", exc)
        report.outcome, report.error = "error", exc
    except PardotError as exc:
        logger.error("stopping: %s", exc)
        report.outcome, report.error = "error", exc
        yield from _salvage(run)
    finally:
        _save_progress(run, complete=report.outcome == "complete")


def _counted(pages: Generator[Fetched, None, None], clock: CheckpointClock) -> Iterator[Fetched]:
    """The pages, counted on ``clock``."""
    try:
        for page in pages:
            clock.pages += 1
            yield page
    finally:
        pages.close()  # stops the fetch threads when the run ends early


def _checkpoint(run: _Run, *, early: bool) -> Generator[Item, State | None, None]:
    """Pause: the state says what a run stopped here would say, for dlt to commit.

    During an ``early`` checkpoint, which the requests in flight should hide, the fetch
    threads may fetch further ahead than usual.
    """
    _save_progress(run, complete=False)
    run.checkpoints.pausing(len(run.loaded))
    run.report.outcome = "checkpoint"
    run.report.checkpoints += 1
    run.report.checkpointed = len(run.loaded)
    logger.info("checkpoint after %d opportunities", len(run.loaded))
    if early:
        run.lookahead.widen()
    try:
        resumed = yield CHECKPOINT
    finally:
        run.lookahead.narrow()
    run.checkpoints.resumed()
    run.report.outcome = "running"
    if resumed is not None:
        run.state = SyncState(resumed)


def _save_progress(run: _Run, *, complete: bool) -> None:
    """Write the state as of the batches handed out so far.

    Idempotent, from what the run began with plus what it handed out, so that a
    checkpoint and the end of the run write alike. Unless the run completed, the state
    is the one of a run stopped here: the next run resumes the ranges left.
    """
    run.report.requests = run.client.request_count
    run.state.set_requests_today(run.today, run.requests_before + run.client.request_count)
    scan = run.scan
    loaded = pa.array(run.loaded, pa.int64())
    if not complete or scan.kind != "full":
        run.state.known_ids = pa.concat_arrays([run.known_before, loaded])
    if not complete:
        seen = pa.concat_arrays([scan.seen_before, loaded]) if scan.kind == "full" else loaded[:0]
        run.state.save_unfinished_sweep(scan, run.ranges.remaining(), seen)


def _query_params(settings: SyncSettings, scan: Scan) -> dict[str, str | int]:
    params: dict[str, str | int] = {
        "sort_by": "id",
        "sort_order": "ascending",
        "limit": settings.page_size,
        "output": "full",
    }
    if scan.created_after is not None:
        params["created_after"] = scan.created_after
    return params


def _gather(run: _Run, fetched: Fetched) -> None:
    """Add one fetched page to the batch (in this thread) and note its progress."""
    page = fetched.page
    if isinstance(page, NativePage):
        info = run.batch.add_page(page)
    else:
        _walked_page(run.report, page.reason)
        info = run.batch.add_result(page.result)
    run.ranges.gathered(fetched.range_index, fetched.after, info.ids, fetched.finished)
    settings = run.settings
    if settings.fetch_activities_by_read and info.ids and not info.carries_activities:
        _read_activities(run, info.ids)
    run.pending.extend(info.ids)
    if info.last_id is not None and (run.pending_top is None or info.last_id > run.pending_top[0]):
        run.pending_top = (info.last_id, info.last_created_at)
    report = run.report
    report.pages += 1
    report.opportunities += len(info.ids)
    report.requests = run.client.request_count
    if run.progress:
        run.progress(report)


def _walked_page(report: SyncReport, reason: str) -> None:
    """Count a page the native reader declined; say why the first time in a run, so that a
    new element from Pardot does not move every page to the slower path unnoticed."""
    report.pages_walked += 1
    if report.pages_walked == 1:
        logger.warning(
            "a page took the slower general walk: %s; further such pages are counted in "
            "the run summary (pages_walked)",
            reason,
        )


def _salvage(run: _Run) -> Iterator[tuple[str, pa.Table]]:
    """After a failure, hand out the whole pages gathered so far: they are good rows."""
    try:
        yield from _flush(run)
    except DataError as exc:
        logger.error("the pages fetched before the failure hold a bad value too: %s", exc)


def _flush(run: _Run) -> Iterator[tuple[str, pa.Table]]:
    if not len(run.batch) and not run.pending:
        return
    for name, table in run.batch.build().items():
        _count_rows(run.report, name, table)
        yield name, table
    run.loaded.extend(run.pending)
    run.pending.clear()
    run.ranges.handed_out()
    if run.pending_top is not None and (run.top is None or run.pending_top[0] > run.top[0]):
        run.top = run.pending_top
    run.pending_top = None
    if run.ranges.in_id_order and run.top is not None:
        # else the cursor moves when the scan completes
        run.state.advance(*run.top, timezone=run.settings.timezone)


def _count_rows(report: SyncReport, name: str, table: pa.Table) -> None:
    unlinked = 0
    if UNLINK_MARKER in table.column_names:
        unlinked = pc.sum(table[UNLINK_MARKER]).as_py() or 0
    report.rows[name] = report.rows.get(name, 0) + table.num_rows - unlinked


def _deletes(
    run: _Run, scan: Scan, read_loaded: ReadLoaded | None
) -> Iterator[tuple[str, pa.Table]]:
    """After a complete full sweep: loaded before, not seen now = deleted in Pardot."""
    seen = pa.concat_arrays([scan.seen_before, pa.array(run.loaded, pa.int64())])
    known = run.known_before
    gone = known.filter(pc.invert(pc.is_in(known, value_set=seen))).to_pylist()
    run.state.known_ids = seen  # exactly the live opportunities
    run.report.deleted = len(gone)
    if not gone:
        return
    logger.info("%d opportunities were deleted in Pardot since the last full sweep", len(gone))
    if run.settings.hard_delete:
        yield from hard_deletes(gone)
        return
    if read_loaded is None:
        raise PardotError("cannot mark deleted opportunities: no way to read the warehouse")
    for marked in marked_deleted(gone, read_loaded, scan.started):
        _count_rows(run.report, OPPORTUNITIES.name, marked)
        yield OPPORTUNITIES.name, marked


def _read_activities(run: _Run, ids: list[int]) -> None:
    """One ``do/read`` per opportunity, within the concurrency limit."""

    def read(opportunity_id: int) -> etree._Element | None:
        try:
            return run.client.read(opportunity_id, output="full")
        except NotFoundError:
            return None  # deleted since the query: nothing to read

    with ThreadPoolExecutor(max_workers=run.settings.max_concurrency) as pool:
        for element in pool.map(read, ids):
            if element is not None:
                run.batch.add_activities(element)
