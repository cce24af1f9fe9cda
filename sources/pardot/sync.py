"""One sync run: its phases in order, batched Arrow tables, deletes.

The phases: the event feed (``changes``; on the first run, after the scan), the v5 update
feed (``changes``, ``v5feed``), one keyset scan chosen by ``planner``, the deletes a
complete full sweep finds, the re-reads of what events (or v5) named, and the delete
check (``changes``). The scan reads ``do/query`` sorted by id ascending with
``output=full``; ``fetch`` does the keyset paging (one id range, or
several side by side). Pages gather in one thread, in an ``OpportunityBatch``, and are
handed out as Arrow tables a few thousand opportunities at a time (``runcontext``).

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

Every ``opportunities`` table handed out is followed by the history rows of the changes
it brings (``history``).

No dlt import: this module is driven by ``sources.pardot`` and tested on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from .changes import check_phase, feed_phase, refresh_phase, v5_phase
from .checkpoints import CheckpointClock
from .client import PardotClient
from .config import SyncSettings
from .deletes import ReadLoaded
from .errors import DailyLimitError, DataError, PardotError
from .feed import newest_event_id
from .fetch import Fetched, fetch_pages
from .history import HistoryStore, Recorder
from .lookahead import Lookahead
from .parsing import OpportunityBatch
from .planner import Scan, SyncState, local_day, plan_scan
from .ranges import RangeQueue
from .report import CHECKPOINT, Checkpoint, Item, Progress, State, SyncReport, SyncRun
from .runcontext import (
    Run,
    Tables,
    add_page,
    arrived,
    count_rows,
    flush,
    mark_gone,
    progressed,
    read_activities,
    salvage,
    save_progress,
)
from .schema import OPPORTUNITIES, OPPORTUNITY_HISTORY

logger = logging.getLogger(__name__)


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
    history: HistoryStore | None = None,
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
        history: where the recorded versions are read; no history without it.
    """
    started = now or datetime.now(UTC)
    sync_state = SyncState(state)
    cursor_before = sync_state.last_id
    today = local_day(started, settings.timezone)
    used = sync_state.requests_today(today)
    if settings.daily_request_budget is not None:
        client.limit_requests(max(settings.daily_request_budget - used, 0))
    scan = plan_scan(sync_state, settings, started, force_full=force_full_sweep)
    batch = OpportunityBatch(settings.timezone, reject_bad_rows=settings.reject_bad_rows)
    lookahead = Lookahead(settings.max_concurrency)
    run = Run(
        client, settings, sync_state, report, progress, batch, scan,
        today=today, requests_before=used, known_before=sync_state.known_ids,
        cursor_before=cursor_before,
        lookahead=lookahead,
        checkpoints=CheckpointClock(settings.checkpoint_every, lookahead.most_while_paused),
        ranges=RangeQueue(scan.ranges, page_size=settings.page_size),
        feed_read=sync_state.feed_cursor, feed_handed_out=sync_state.feed_cursor,
        refresh=set(sync_state.refresh_ids.to_pylist()),
        refresh_prospects=set(sync_state.refresh_prospects),
        nested_activities=sync_state.nested_activities,
        v5_watermark=sync_state.v5_watermark, v5_seen=sync_state.v5_seen,
        v5_refused_at=sync_state.v5_refused_at,
    )  # fmt: skip
    report.scan = scan.kind
    logger.info("scan %s (created_after=%s, ranges=%s)", scan.kind, scan.created_after, scan.ranges)
    phases = _phases(run, started, read_loaded)
    if history is None or not settings.history:
        sync_state.stop_history()
        yield from phases
        return
    known = run.known_before
    known_up_to = (
        max(cursor_before or 0, pc.max(known).as_py() or 0) if len(known) else cursor_before
    )
    recorder = Recorder(
        history, started=started, known_up_to=known_up_to, status_events=run.status_events
    )
    yield from _recorded(run, phases, recorder)


def _phases(run: Run, started: datetime, read_loaded: ReadLoaded | None) -> SyncRun:
    """The run's phases in order (see the module docstring); how it ended goes to the report."""
    settings, client, report, scan = run.settings, run.client, run.report, run.scan
    sync_state, lookahead = run.state, run.lookahead
    try:
        # The first run reads the feed's history after its backfill: then only the
        # events of opportunities it loaded become rows (see ``changes.feed_phase``).
        feed_first = settings.activity_feed and run.feed_read is not None
        if feed_first:
            yield from feed_phase(run)
        elif settings.activity_feed and scan.kind == "full" and scan.started == started:
            # The feed comes after this sweep: what was recorded before it began is read.
            sync_state.sweep_event_mark = newest_event_id(client)
            report.feed_requests += 1
        if settings.v5_feed:
            v5_phase(run, started)
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
                yield from flush(run)
                if due:
                    yield from _checkpoint(run, early=due == "early")
        yield from flush(run)
        if run.top is not None:
            run.state.advance(*run.top, timezone=settings.timezone)
        if scan.kind == "full":
            yield from _deletes(run, scan, read_loaded)
            if scan.started == started:
                # A sweep begun by this run read every live opportunity after the events
                # earlier runs read: nothing they named is stale.
                run.refresh.clear()
        run.state.finish_sweep(scan)
        run.scan_done = True
        if settings.activity_feed and not feed_first:
            yield from feed_phase(run)
        if settings.activity_feed or settings.v5_feed:
            yield from refresh_phase(run, read_loaded)
        if settings.delete_check and scan.kind != "full":
            yield from check_phase(run, read_loaded)
        yield from flush(run)
        progressed(run)
        report.outcome = "complete"
    except DailyLimitError as exc:
        logger.warning("stopping early: %s", exc)
        report.outcome, report.error = "daily_limit", exc
        yield from salvage(run)
    except DataError as exc:
        # The batch holds the value that cannot be typed: none of it is handed out, and
        # the state stays before it.
        logger.error("stopping: %s", exc)
        report.outcome, report.error = "error", exc
    except PardotError as exc:
        logger.error("stopping: %s", exc)
        report.outcome, report.error = "error", exc
        yield from salvage(run)
    finally:
        save_progress(run, complete=report.outcome == "complete")


def _recorded(run: Run, phases: SyncRun, recorder: Recorder) -> SyncRun:
    """The phases' items, each ``opportunities`` table followed by the history rows of
    the changes it brings; at the end of a run that starts the history, the rows of the
    loaded opportunities the run did not read (``history``)."""
    starting = run.state.history_since is None
    sent: State | None = None
    try:
        while True:
            try:
                item = phases.send(sent)
            except StopIteration:
                break
            sent = None
            if isinstance(item, Checkpoint):
                sent = yield item
                recorder.package_loaded()
                continue
            yield item
            name, table = item
            if name == OPPORTUNITIES.name:
                began = time.perf_counter()
                rows = recorder.record(table)
                run.report.history_seconds += time.perf_counter() - began
                yield from _history_item(run, rows)
        if starting:
            seeded = recorder.seed(lambda: {*run.loaded, *run.gone})
            while True:
                began = time.perf_counter()
                rows = next(seeded, None)
                run.report.history_seconds += time.perf_counter() - began
                if rows is None:
                    break
                yield from _history_item(run, rows)
            run.state.start_history(recorder.observed_at())
    finally:
        phases.close()


def _history_item(run: Run, rows: pa.Table | None) -> Tables:
    if rows is not None and rows.num_rows:
        count_rows(run.report, OPPORTUNITY_HISTORY.name, rows)
        yield OPPORTUNITY_HISTORY.name, rows


def _counted(pages: Generator[Fetched, None, None], clock: CheckpointClock) -> Iterator[Fetched]:
    """The pages, counted on ``clock``."""
    try:
        for page in pages:
            clock.pages += 1
            yield page
    finally:
        pages.close()  # stops the fetch threads when the run ends early


def _checkpoint(run: Run, *, early: bool) -> Generator[Item, State | None, None]:
    """Pause: the state says what a run stopped here would say, for dlt to commit.

    During an ``early`` checkpoint, which the requests in flight should hide, the fetch
    threads may fetch further ahead than usual.
    """
    save_progress(run, complete=False)
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
    run.in_package.clear()  # the next batches go to a new load package
    run.report.outcome = "running"
    if resumed is not None:
        run.state = SyncState(resumed)


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


def _gather(run: Run, fetched: Fetched) -> None:
    """Add one fetched page of the scan to the batch (in this thread); note its progress."""
    info = add_page(run, fetched.page)
    run.ranges.gathered(fetched.range_index, fetched.after, info.ids, fetched.finished)
    if run.settings.fetch_activities_by_read and info.ids and not info.carries_activities:
        read_activities(run, info.ids)
    if info.last_id is not None and (run.pending_top is None or info.last_id > run.pending_top[0]):
        run.pending_top = (info.last_id, info.last_created_at)


def _deletes(run: Run, scan: Scan, read_loaded: ReadLoaded | None) -> Tables:
    """After a complete full sweep: loaded before, not seen now = deleted in Pardot; not
    loaded before, below the cursor, seen now = undeleted (or never loaded)."""
    seen = pa.concat_arrays([scan.seen_before, pa.array(run.loaded, pa.int64())])
    known = run.known_before
    gone = known.filter(pc.invert(pc.is_in(known, value_set=seen))).to_pylist()
    if run.cursor_before is not None:
        back = seen.filter(pc.invert(pc.is_in(seen, value_set=known)))
        back = back.filter(pc.less_equal(back, run.cursor_before)).to_pylist()
        yield from arrived(run, back)
    run.state.known_ids = seen  # exactly the live opportunities
    yield from mark_gone(run, gone, read_loaded, scan.started)
