"""The opportunity event feed: the visitor activities Pardot records for opportunity events.

Pardot records an opportunity's creation, its status going to won or lost or back to
open, and a prospect linked or unlinked, as visitor activities (types 8, 9, 10, 18, 19,
38). The visitor activity query reads them incrementally by id, like opportunities:
``type=8,9,10,18,19,38&sort_by=id&sort_order=ascending&id_greater_than=<last id>``. A run
with nothing new costs one request. Each activity names its opportunity (where Pardot
sends ``<opportunity_id>``, which the v3/v4 documentation does not list) and its
prospect: the run re-reads what they name, so the warehouse shows the change after the
run that follows it.

Edits that keep the status (stage, value, probability, name) emit no event: the feed
makes change capture faster; the sweeps remain the reconciliation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from .client import PardotClient
from .constants import (
    ACTIVITY_OPPORTUNITY_LOST,
    ACTIVITY_OPPORTUNITY_REOPENED,
    ACTIVITY_OPPORTUNITY_WON,
    OPPORTUNITY_ACTIVITY_TYPES,
    PARDOT_TIMESTAMP_FORMAT,
)
from .errors import PardotError
from .parsing import OpportunityBatch
from .walk import FEED_ELEMENTS, FeedEvent, integer

EVENT_TYPES: Final = tuple(OPPORTUNITY_ACTIVITY_TYPES)
STATUS_EVENT_TYPES: Final = (
    ACTIVITY_OPPORTUNITY_WON,
    ACTIVITY_OPPORTUNITY_LOST,
    ACTIVITY_OPPORTUNITY_REOPENED,
)
"""Events that record a change of an opportunity's status."""
MAX_FEED_PAGES: Final = 1_000_000
"""Hard cap of one run's feed pages: the cursor must move, or the feed stops."""


@dataclass(frozen=True)
class FeedPage:
    """One page of the feed, gathered into the batch."""

    activities: int
    """Activities on the page (the feed ends on a short page)."""
    events: list[FeedEvent]
    last_id: int | None
    """The largest activity id read so far: where the next page, and run, start."""


def status_change_time(event: FeedEvent, timezone: str) -> datetime | None:
    """When ``event`` changed its opportunity's status (UTC), or None if it is another
    kind of event or its time is not readable (the history then uses ``updated_at``)."""
    if event.element.findtext("type", "").strip() not in {str(t) for t in STATUS_EVENT_TYPES}:
        return None
    text = event.element.findtext("created_at", "").strip()
    try:
        local = datetime.strptime(text, PARDOT_TIMESTAMP_FORMAT)
    except ValueError:
        return None
    return local.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def newest_event_id(client: PardotClient) -> int | None:
    """The id of the newest opportunity event (one request), or None without any."""
    params = {"type": EVENT_TYPES, "sort_by": "id", "sort_order": "descending", "limit": 1}
    result = client.query_activities(**params)
    for element in result.iterchildren(*FEED_ELEMENTS):
        return integer(element.findtext("id"), "visitor_activities.id")
    return None


def read_feed(
    client: PardotClient,
    batch: OpportunityBatch,
    *,
    after: int | None,
    created_after: str | None,
    page_size: int,
    keep: Callable[[int], bool],
) -> Iterator[FeedPage]:
    """Page through the opportunity events after activity id ``after``, gathering each
    page into ``batch``.

    Args:
        client: the Pardot client.
        batch: where the activities that name their opportunity go, as
            ``visitor_activities`` rows.
        after: the last activity id read by an earlier run; None on the first run,
            which reads the feed's history (from ``created_after``).
        created_after: Pardot's local time; only activities after it (``start_date``).
        page_size: activities a request.
        keep: whether an opportunity is (or will be) in the warehouse: the activities of
            one that is not (deleted before it was ever loaded) would name no row.
    """
    last = after
    for _ in range(MAX_FEED_PAGES):
        params: dict[str, object] = {
            "type": EVENT_TYPES,
            "sort_by": "id",
            "sort_order": "ascending",
            "limit": page_size,
        }
        if last is not None:
            params["id_greater_than"] = last
        if created_after is not None:
            params["created_after"] = created_after
        count, events = batch.add_feed(client.query_activities(**params), keep)
        if events:
            last = max(last or 0, max(event.id for event in events))
        yield FeedPage(count, events, last)
        if count < page_size or not events:
            return
    raise PardotError(f"stopped after {MAX_FEED_PAGES} feed pages: the cursor never moved")
