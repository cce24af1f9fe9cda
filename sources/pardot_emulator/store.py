"""The account's data in memory, indexed for fast queries, guarded by one lock.

Opportunity ids grow with ``created_at`` (new records are created "now" on a clock that
only moves forward), so one id-sorted list of live opportunities, with a parallel list of
their creation instants, answers id and creation-time ranges by bisection: keyset paging
costs O(page), not O(N).

Writes record the visitor activities Pardot records for opportunity events (created,
won, lost, reopened, a prospect linked or unlinked), in the opportunity's activities
and in the account's :class:`ActivityIndex`, which the visitor activity query reads.
"""

import bisect
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sources.pardot.constants import (
    ACTIVITY_NEW_OPPORTUNITY,
    ACTIVITY_OPPORTUNITY_LINKED,
    ACTIVITY_OPPORTUNITY_LOST,
    ACTIVITY_OPPORTUNITY_REOPENED,
    ACTIVITY_OPPORTUNITY_UNLINKED,
    ACTIVITY_OPPORTUNITY_WON,
    OPPORTUNITY_ACTIVITY_TYPES,
)

from .activityindex import ActivityIndex
from .clock import AccountTime, VirtualClock
from .config import EmulatorConfig
from .errors import ApiError
from .generator import Generator, initial_data
from .models import Campaign, Opportunity, Prospect, VisitorActivity


class DataStore:
    """Campaigns, prospects and opportunities; every public method takes the lock."""

    def __init__(self, config: EmulatorConfig, clock: VirtualClock, time: AccountTime) -> None:
        self.lock = threading.RLock()
        self.config = config
        self.clock = clock
        self.time = time
        self.gen = Generator(config.seed, time.tz, config.id_gap, config.id_jump)
        campaigns, prospects, opportunities = initial_data(
            self.gen, config.opportunities, config.clock_start, config.history_days
        )
        self.campaigns: dict[int, Campaign] = {c.id: c for c in campaigns}
        self.prospects: dict[int, Prospect] = {p.id: p for p in prospects}
        self.prospects_by_email: dict[str, list[int]] = {}
        for p in prospects:
            self.prospects_by_email.setdefault(p.email.lower(), []).append(p.id)
        self.opportunities: dict[int, Opportunity] = {o.id: o for o in opportunities}
        self.all_ids: list[int] = [o.id for o in opportunities]
        live = [o for o in opportunities if not o.deleted]
        self.live_ids: list[int] = [o.id for o in live]
        self.live_created: list[datetime] = [o.created_at for o in live]
        self._last_created = opportunities[-1].created_at if opportunities else None
        self.activities = ActivityIndex(a for o in opportunities for a in o.activities)
        """Every visitor activity, deleted opportunities' included (the activity query)."""
        self.listeners: list[Callable[[int], None]] = []
        """Called with an opportunity id after every change to it (cache invalidation)."""
        self.generation = 0
        """Moves on with every change, new opportunities included (cache invalidation)."""

    def touch(self, opp: Opportunity, now: datetime) -> datetime:
        """Move ``updated_at`` to ``now``, keeping the old value for v5's cache lag."""
        opp.previous_updated_at = opp.updated_at
        opp.updated_at = now
        return now

    def changed(self, opportunity_id: int) -> None:
        """Tell the listeners that an opportunity changed."""
        self.generation += 1
        for listener in self.listeners:
            listener(opportunity_id)

    # -- lookups -------------------------------------------------------------------------

    def live(self, opportunity_id: int) -> Opportunity:
        """A non-deleted opportunity, or error 35."""
        opp = self.opportunities.get(opportunity_id)
        if opp is None or opp.deleted:
            raise ApiError(35)
        return opp

    def any(self, opportunity_id: int) -> Opportunity:
        """An opportunity, deleted or not, or error 35."""
        opp = self.opportunities.get(opportunity_id)
        if opp is None:
            raise ApiError(35)
        return opp

    def resolve_prospects(
        self, prospect_id: int | None, prospect_email: str | None, version: int
    ) -> list[int]:
        """Prospect ids named by id and/or email (v4: all with that email); 3, 4 or 44."""
        by_id: list[int] | None = None
        if prospect_id is not None:
            if prospect_id not in self.prospects:
                raise ApiError(3)
            by_id = [prospect_id]
        if prospect_email is not None:
            matches = self.prospects_by_email.get(prospect_email.strip().lower())
            if not matches:
                raise ApiError(4)
            if by_id is not None:
                if by_id[0] not in matches:
                    raise ApiError(44)
                return by_id
            return sorted(matches) if version == 4 else [min(matches)]
        return by_id or []

    # -- index maintenance ---------------------------------------------------------------

    def _index_live(self, opp: Opportunity) -> None:
        i = bisect.bisect_left(self.live_ids, opp.id)
        self.live_ids.insert(i, opp.id)
        self.live_created.insert(i, opp.created_at)

    def _unindex_live(self, opp: Opportunity) -> None:
        i = bisect.bisect_left(self.live_ids, opp.id)
        if i < len(self.live_ids) and self.live_ids[i] == opp.id:
            del self.live_ids[i]
            del self.live_created[i]

    def _created_now(self) -> datetime:
        now = self.clock.now()
        if self._last_created is not None and now < self._last_created:
            now = self._last_created
        self._last_created = now
        return now

    def _add(self, opp: Opportunity) -> None:
        self.generation += 1
        self.opportunities[opp.id] = opp
        self.all_ids.append(opp.id)
        self._index_live(opp)

    # -- events --------------------------------------------------------------------------

    def _record(
        self, opp: Opportunity, code: int, prospect_id: int | None, now: datetime
    ) -> VisitorActivity:
        """One opportunity event as Pardot records it: a new visitor activity."""
        act = VisitorActivity(
            id=self.gen.new_activity_id(),
            opportunity_id=opp.id,
            prospect_id=prospect_id,
            visitor_id=None,
            type=code,
            type_name=OPPORTUNITY_ACTIVITY_TYPES[code],
            details=opp.name,
            campaign_id=opp.campaign_id,
            created_at=now,
            updated_at=now,
        )
        opp.activities.append(act)
        self.activities.add(act)
        return act

    def _record_each_prospect(self, opp: Opportunity, code: int, now: datetime) -> None:
        """One event per linked prospect, or one without a prospect when none is linked."""
        prospects: list[int | None] = [*opp.prospect_ids] or [None]
        for prospect_id in prospects:
            self._record(opp, code, prospect_id, now)

    def _record_status(self, opp: Opportunity, old: str, now: datetime) -> None:
        """Won (9), lost (10) or reopened (18) when the status changed; else nothing."""
        code = status_event(old, opp.status)
        if code is not None:
            self._record_each_prospect(opp, code, now)

    # -- changes -------------------------------------------------------------------------

    def add_opportunities(
        self,
        n: int,
        *,
        same_second: bool = False,
        prospects: int | None = None,
        activities: int | None = None,
    ) -> list[int]:
        """``n`` random opportunities created now; without ``same_second`` one a second.

        With ``same_second``, the instant is read once: a clock that also moves with real
        time would otherwise cross into the next second while it adds them.
        """
        ids: list[int] = []
        with self.lock:
            created = self._created_now()
            for i in range(n):
                if i and not same_second:
                    self.clock.advance(1)
                    created = self._created_now()
                opp = self.gen.make_opportunity(
                    created, created, prospects=prospects, activities=activities
                )
                opp.updated_at = created
                for act in opp.activities:
                    act.created_at = act.updated_at = created
                    self.activities.add(act)
                self._add(opp)
                self._record_each_prospect(opp, ACTIVITY_NEW_OPPORTUNITY, created)
                ids.append(opp.id)
        return ids

    def create(self, fields: dict[str, Any], prospect_ids: list[int]) -> Opportunity:
        """A new opportunity from validated ``fields``, linked to ``prospect_ids``."""
        with self.lock:
            now = self._created_now()
            opp = Opportunity(
                id=self.gen.new_opportunity_id(),
                name=fields["name"],
                value=fields["value"],
                probability=fields["probability"],
                type=fields.get("type", ""),
                stage=fields.get("stage", ""),
                status=fields.get("status", ""),
                campaign_id=fields.get("campaign_id"),
                closed_at=fields.get("closed_at"),
                created_at=now,
                updated_at=now,
                prospect_ids=sorted(set(prospect_ids)),
            )
            self._add(opp)
            self._record_each_prospect(opp, ACTIVITY_NEW_OPPORTUNITY, now)
            return opp

    def update(self, opportunity_id: int, fields: dict[str, Any]) -> Opportunity:
        """Apply validated ``fields`` to a live opportunity."""
        with self.lock:
            opp = self.live(opportunity_id)
            old_status = opp.status
            for name, value in fields.items():
                setattr(opp, name, value)
            now = self.touch(opp, self.clock.now())
            self._record_status(opp, old_status, now)
            self.changed(opp.id)
            return opp

    def delete(self, opportunity_id: int) -> None:
        """Soft delete; error 35 if unknown or already deleted."""
        with self.lock:
            opp = self.live(opportunity_id)
            opp.deleted = True
            self.touch(opp, self.clock.now())
            self._unindex_live(opp)
            self.changed(opp.id)

    def undelete(self, opportunity_id: int) -> Opportunity:
        """Restore a deleted opportunity (a live one is left as it is)."""
        with self.lock:
            opp = self.any(opportunity_id)
            if opp.deleted:
                opp.deleted = False
                self.touch(opp, self.clock.now())
                self._index_live(opp)
                self.changed(opp.id)
            return opp

    def _link_time(self, opp: Opportunity) -> datetime:
        """Now; moves ``updated_at`` only with ``link_bumps_updated_at`` (unknown for
        Pardot, off by default)."""
        now = self.clock.now()
        if self.config.link_bumps_updated_at:
            self.touch(opp, now)
        return now

    def link_prospect(self, opportunity_id: int, prospect_id: int) -> None:
        """Link a prospect (control action only)."""
        with self.lock:
            opp = self.any(opportunity_id)
            if prospect_id not in self.prospects:
                raise ApiError(3)
            if prospect_id not in opp.prospect_ids:
                opp.prospect_ids = sorted([*opp.prospect_ids, prospect_id])
                now = self._link_time(opp)
                self._record(opp, ACTIVITY_OPPORTUNITY_LINKED, prospect_id, now)
                self.changed(opp.id)

    def unlink_prospect(self, opportunity_id: int, prospect_id: int) -> None:
        """Remove a prospect link (control action only)."""
        with self.lock:
            opp = self.any(opportunity_id)
            if prospect_id not in opp.prospect_ids:
                raise ApiError(3)
            opp.prospect_ids = [p for p in opp.prospect_ids if p != prospect_id]
            now = self._link_time(opp)
            self._record(opp, ACTIVITY_OPPORTUNITY_UNLINKED, prospect_id, now)
            self.changed(opp.id)

    def add_activity(self, opportunity_id: int, **fields: Any) -> int:
        """A visitor activity on an opportunity; unspecified fields are generated."""
        with self.lock:
            opp = self.any(opportunity_id)
            now = self.clock.now()
            act = self.gen.make_activity(opp, now, now)
            optional = dict(fields.pop("optional_ids", None) or {})
            for name, value in fields.items():
                if name in VisitorActivity.__dataclass_fields__ and name not in ("id",):
                    setattr(act, name, value)
                elif name.endswith("_id") and isinstance(value, int):
                    optional[name] = value
                else:
                    raise ValueError(f"unknown visitor activity field {name!r}")
            if "created_at" in fields and "updated_at" not in fields:
                act.updated_at = act.created_at
            act.optional_ids.update(optional)
            act.opportunity_id = opp.id
            opp.activities.append(act)
            self.activities.add(act)
            self.touch(opp, now)
            self.changed(opp.id)
            return act.id

    def iter_all(self) -> Iterable[Opportunity]:
        """Every opportunity, deleted ones included, by id (call under the lock)."""
        return (self.opportunities[i] for i in sorted(self.all_ids))


def status_event(old: str, new: str) -> int | None:
    """The activity type a status change records: won 9, lost 10, back to open 18.

    An empty status counts as open (Pardot derives the status from closed and won, so
    an opportunity that is neither is open).
    """
    if old == new:
        return None
    if new == "won":
        return ACTIVITY_OPPORTUNITY_WON
    if new == "lost":
        return ACTIVITY_OPPORTUNITY_LOST
    if old in ("won", "lost"):
        return ACTIVITY_OPPORTUNITY_REOPENED
    return None
