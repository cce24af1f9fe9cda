"""The v5 update feed: which opportunities changed since a moment, by ``updatedAt``.

The v3/v4 opportunity query cannot filter by update time; API v5's can:
``fields=id,updatedAt&orderBy=updatedAt ASC&updatedAtAfterOrEqualTo=<moment>``, up to
1,000 a page, paged by ``nextPageToken``. So an edit that no event announces (stage,
value, probability, name, type, ``closed_at``) is found by the next run, at about one
request per run. What Pardot documents and this module does about it:

* v5 serves from a cache that may lag by up to about a minute: each window starts
  ``LAG_MARGIN`` before the run that ends the previous one began, its bounds are
  inclusive, and an opportunity read again with the same ``updatedAt`` is skipped (the
  caller keeps what it saw at or after the watermark).
* A chain of page tokens stops after 100,000 records, with ``Pardot-Warning: 203``: the
  window goes on from the last ``updatedAt`` it saw.
* Bounds are sent in the API user's zone with their offset (httpx encodes a ``+``).
* v5 has no prospect links: the opportunities it names are re-read through v3/v4 with
  full output, by the caller.
* Never a deep backfill ordered by ``updatedAt`` (reported to time out): the first run
  with the feed on only sets the watermark; the v3/v4 keyset scan is the backfill.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from .client import PardotClient
from .constants import V5_MAX_PAGE_SIZE
from .errors import PardotError

LAG_MARGIN: Final = timedelta(seconds=120)
"""How far before a run's start the next window begins: twice the documented lag."""
FIELDS: Final = "id,updatedAt"
MAX_PAGES: Final = 1_000_000
"""Hard cap of one window's pages: the chain must end."""


def read_updates(
    client: PardotClient, since: datetime, timezone: str
) -> Iterator[list[tuple[int, datetime]]]:
    """The (id, ``updatedAt``) of the opportunities updated at or after ``since``, a page
    at a time, oldest first (an opportunity may come twice: edited while paging).

    Raises:
        PardotError: a window's chain ended at its cap within one second of
            ``updatedAt``: the window cannot move on (more than 100,000 edits a second).
    """
    start = since
    for _ in range(MAX_PAGES):
        params = {
            "fields": FIELDS,
            "orderBy": "updatedAt ASC",
            "limit": str(V5_MAX_PAGE_SIZE),
            "updatedAtAfterOrEqualTo": local_iso(start, timezone),
        }
        newest = start
        page = client.v5_opportunities(params)
        for _ in range(MAX_PAGES):
            yield page.updates
            newest = max([newest, *(at for _, at in page.updates)])
            if page.next_token is None:
                break
            page = client.v5_opportunities({"nextPageToken": page.next_token})
        if not page.capped:
            return
        if newest <= start:
            raise PardotError(
                f"v5 feed: more than a token chain's cap of opportunities were updated at "
                f"{start.isoformat()}: the window cannot move on; a full sweep finds them"
            )
        start = newest  # the chain stopped at its cap: go on from the last update seen
    raise PardotError(f"v5 feed: stopped after {MAX_PAGES} windows")


def local_iso(moment: datetime, timezone: str) -> str:
    """``moment`` as ISO-8601 in ``timezone``, with its offset, whole seconds."""
    return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")
