"""The phases of a run that find changes without re-reading everything.

* **The event feed** (``activity_feed``), first: the opportunity events recorded since
  the last run (``feed``). Their activities go to ``visitor_activities``; the
  opportunities they name are noted to be re-read.
* **The v5 feed** (``v5_feed``), next: the opportunities API v5 says were updated since
  the last window (``v5feed``), noted to be re-read like what events name.
* **Re-reads**, after the scan: every opportunity an event named that the run has not
  read since (the scan came after the feed, so what it read is newer than the events),
  in id ranges that hold several where their ids lie close (``ranges.clusters``). One
  that is no longer returned was deleted. An event that names no opportunity re-reads
  its prospect's opportunities, and reads each of them once (``do/read``) for the
  activities that the query does not carry.
* **The delete check** (``delete_check``), last, unless the run made a full sweep (which
  finds deletes itself): Pardot's count of live opportunities against the ids known to
  be live (``deletecheck``).

What is still to re-read is in the state, committed with the data: a run stopped
anywhere (the daily limit, a kill) leaves it for the next run, so no event is lost.
"""

from __future__ import annotations

import bisect
import logging
from array import array
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Final

import pyarrow as pa

from .client import DeclinedPage
from .deletecheck import DeleteCheck, page_ids
from .deletes import ReadLoaded
from .errors import DailyLimitError, V5UnavailableError
from .feed import read_feed, status_change_time
from .fetch import fetch_pages
from .native import NativePage, only_rows
from .planner import start_created_after
from .ranges import RangeQueue, clusters
from .runcontext import (
    Run,
    Tables,
    add_page,
    arrived,
    flush,
    mark_gone,
    progressed,
    read_activities,
)
from .v5feed import LAG_MARGIN, read_updates
from .walk import FeedEvent, integer

logger = logging.getLogger(__name__)

MAX_PROSPECT_PAGES: Final = 10_000
V5_RETRY_AFTER: Final = timedelta(days=1)
"""How long the v5 feed waits after API v5 refused the account before it asks again."""
"""Hard cap of the pages of one prospect's opportunities."""


def feed_phase(run: Run) -> Tables:
    """Read the events after the feed's cursor into the batch; note what they name.

    An event's activity becomes a row only for an opportunity the warehouse holds, or
    will: one known to be live, read by this run, or newer than everything read (a
    re-read brings it). Events of an opportunity deleted before it was ever loaded
    name no row, as its activities would name no opportunity. Where the opportunity
    query nests the activities, the feed makes no row at all: every opportunity an
    event names is read by this run or was read after the event, its activities nested
    (one row per activity and run: a destination's merge need not deduplicate).
    """
    settings, report = run.settings, run.report
    known = array("q", run.known_before.to_pylist())  # ascending
    read = run.read_ids()
    top = max(run.state.last_id or 0, max(read, default=0))

    def wanted(opportunity_id: int) -> bool:
        if opportunity_id in run.gone:
            return False
        if opportunity_id > top or opportunity_id in read:
            return True
        at = bisect.bisect_left(known, opportunity_id)
        return at < len(known) and known[at] == opportunity_id

    def row_now(opportunity_id: int) -> bool:
        # newer than anything read: its row waits for the re-read (``held``)
        return not run.nested_activities and opportunity_id <= top and wanted(opportunity_id)

    # Read after a full sweep (the first run): an event recorded before the sweep began
    # (its id at most the newest event id then) names an opportunity the sweep read after
    # it. Ids, not times: Pardot's clock and this machine's need not agree.
    mark = run.state.sweep_event_mark if run.scan_done and run.scan.kind == "full" else None

    def stale(event: FeedEvent) -> bool:
        return mark is None or event.id > mark

    before = run.client.request_count
    try:
        for page in read_feed(
            run.client,
            run.batch,
            after=run.feed_read,
            created_after=start_created_after(settings),
            page_size=settings.page_size,
            keep=row_now,
        ):
            run.feed_read = page.last_id
            for event in page.events:
                if not stale(event):
                    continue
                if event.opportunity_id is None:
                    if event.prospect_id is not None:
                        run.refresh_prospects.add(event.prospect_id)
                elif wanted(event.opportunity_id):
                    run.refresh.add(event.opportunity_id)
                    _note_status_change(run, event)
                    if event.opportunity_id > top and not run.nested_activities:
                        run.held.append(event)
            report.feed_events += len(page.events)
            progressed(run)
            if run.batch.activity_rows >= settings.batch_size:
                yield from flush(run)
    finally:
        report.feed_requests += run.client.request_count - before


def _note_status_change(run: Run, event: FeedEvent) -> None:
    """Keep the time of the newest status event of its opportunity (for the history)."""
    assert event.opportunity_id is not None
    changed = status_change_time(event, run.settings.timezone)
    if changed is not None:
        before = run.status_events.get(event.opportunity_id)
        run.status_events[event.opportunity_id] = max(changed, before or changed)


def v5_phase(run: Run, started: datetime) -> None:
    """Note what API v5 says was updated since the last window, to re-read (``v5feed``).

    The first run with the feed on only sets the watermark (the scan reads everything
    after it). A window read to its end moves the watermark to ``LAG_MARGIN`` before this
    run's start; one cut short (the daily limit) to the last update it saw, no later.
    Where the account has no v5, the run goes on without it, says so once, and asks
    again a day later.
    """
    client, report = run.client, run.report
    refused = run.v5_refused_at
    if refused is not None and started - refused < V5_RETRY_AFTER:
        report.v5_refused = True
        return
    end = started - LAG_MARGIN
    since = run.v5_watermark
    if since is None:
        run.v5_watermark = end
        return
    top = run.state.last_id or 0
    newest = since
    before = client.request_count
    try:
        for updates in read_updates(client, since, run.settings.timezone):
            for opportunity_id, updated_at in updates:
                newest = max(newest, updated_at)
                if run.v5_seen.get(opportunity_id) == updated_at:
                    continue  # named by an earlier window, unchanged since
                run.v5_seen[opportunity_id] = updated_at
                report.v5_updated += 1
                if opportunity_id <= top:  # a newer one is the scan's
                    run.refresh.add(opportunity_id)
        _move_v5_watermark(run, max(since, end))
        run.v5_refused_at = None
    except V5UnavailableError as exc:
        logger.warning("%s; the run goes on without the v5 feed (asked again in a day)", exc)
        run.v5_refused_at, report.v5_refused = started, True
    except DailyLimitError:
        _move_v5_watermark(run, max(since, min(newest, end)))
        raise
    finally:
        report.v5_requests += client.request_count - before


def _move_v5_watermark(run: Run, watermark: datetime) -> None:
    """The next window begins at ``watermark``; what it will see again is remembered."""
    run.v5_watermark = watermark
    run.v5_seen = {i: at for i, at in run.v5_seen.items() if at >= watermark}


def refresh_phase(run: Run, read_loaded: ReadLoaded | None) -> Tables:
    """Re-read what the events (or API v5) named and the run has not read since."""
    before = run.client.request_count
    try:
        yield from _refresh_named(run, read_loaded)
        yield from _refresh_prospects(run)
    finally:
        run.report.refresh_requests += run.client.request_count - before
    read = run.read_ids()
    run.batch.add_feed_events([e for e in run.held if e.opportunity_id in read])
    run.held.clear()
    yield from flush(run)


def _refresh_named(run: Run, read_loaded: ReadLoaded | None) -> Tables:
    targets = sorted(run.refresh - run.read_ids() - run.gone)
    if not targets:
        return
    known = _known(run)
    returned = yield from _reread(run, targets, known)
    missing = [target for target in targets if target not in returned]
    run.report.refreshed += len(targets) - len(missing)
    loaded_before = set(known)
    # Named by an event, no longer returned: deleted since (if it was ever loaded).
    gone = [target for target in missing if target in loaded_before]
    run.report.refresh_deleted += len(gone)
    yield from mark_gone(run, gone, read_loaded, datetime.now(UTC))
    # Returned, not known to be live, and older than the cursor: undeleted since (v5 names
    # an undelete by its updatedAt; no event does). Its activities come as for any undelete.
    cursor = run.cursor_before or 0
    back = [t for t in targets if t in returned and t not in loaded_before and t <= cursor]
    run.report.undeleted += len(back)
    yield from arrived(run, back)
    run.refresh.difference_update(targets)


def _reread(
    run: Run, targets: list[int], known: list[int]
) -> Generator[tuple[str, pa.Table], None, set[int]]:
    """Read ``targets`` (ascending) again with full output, in id ranges that hold several
    where they lie close; the ids returned (others in those ranges come along)."""
    settings = run.settings
    work = RangeQueue(clusters(targets, known, settings.page_size), page_size=settings.page_size)
    params: dict[str, str | int] = {
        "sort_by": "id",
        "sort_order": "ascending",
        "limit": settings.page_size,
        "output": "full",
    }
    read = run.read_ids()
    returned: set[int] = set()
    for fetched in fetch_pages(run.client, params, work, workers=settings.max_concurrency):
        page = fetched.page
        ids = page_ids(page)
        returned.update(ids)
        if read.intersection(ids):
            # One row per opportunity and run: a destination's merge need not deduplicate.
            page = _only(page, [i for i in ids if i not in read])
        add_page(run, page)
        if len(run.batch) >= settings.batch_size:
            yield from flush(run)
    yield from flush(run)
    return returned


def _only(page: NativePage | DeclinedPage, ids: list[int]) -> NativePage | DeclinedPage:
    """The page with only the opportunities ``ids``."""
    wanted = set(ids)
    if isinstance(page, NativePage):
        return only_rows(page, [row for row, i in enumerate(page.ids) if i in wanted])
    for element in list(page.result.iterchildren("opportunity")):
        if integer(element.findtext("id"), "id") not in wanted:
            page.result.remove(element)
    return page


def _refresh_prospects(run: Run) -> Tables:
    settings = run.settings
    for prospect in sorted(run.refresh_prospects):
        after = 0
        ids: list[int] = []
        for _ in range(MAX_PROSPECT_PAGES):
            page = run.client.query_page(
                prospect_id=prospect,
                id_greater_than=after,
                sort_by="id",
                sort_order="ascending",
                limit=settings.page_size,
                output="full",
            )
            info = add_page(run, page)
            ids += info.ids
            if info.count < settings.page_size or info.last_id is None:
                break
            after = info.last_id
        if ids and not info.carries_activities:
            read_activities(run, ids)  # the query does not nest the activities; a read does
        run.report.refreshed += len(ids)
        yield from flush(run)
        run.refresh_prospects.discard(prospect)


def check_phase(run: Run, read_loaded: ReadLoaded | None) -> Tables:
    """Find the ids deleted or undeleted since they were read, by counting."""
    top = run.state.last_id
    known = _known(run)
    if top is None:
        return
    began = datetime.now(UTC)
    check = DeleteCheck(
        run.client,
        known,
        top=top,
        created_after=start_created_after(run.settings),
        page_size=run.settings.page_size,
    )
    try:
        for _ in check.pages():
            pass  # what it tells is in check.deleted and check.undeleted
        progressed(run)
        if check.undeleted:  # their rows: read again, as what events name is
            before = run.client.request_count
            yield from _reread(run, check.undeleted, known)
            check.requests += run.client.request_count - before
    finally:
        run.report.delete_check_requests += check.requests
    yield from arrived(run, check.undeleted)
    run.report.undeleted += len(check.undeleted)
    run.report.check_deleted += len(check.deleted)
    yield from mark_gone(run, check.deleted, read_loaded, began)


def _known(run: Run) -> list[int]:
    """The ids known to be live now, ascending."""
    known = set(run.known_before.to_pylist()) | run.read_ids()
    return sorted(known - run.gone)
