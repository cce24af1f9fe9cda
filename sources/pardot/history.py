"""Opportunity history: one row per observed version of an opportunity's tracked fields.

Pardot keeps no history of an opportunity, but every run sees what changed: the scan,
the sweeps, the re-reads that events ask for. Each opportunity row handed to dlt is
compared with the opportunity's last recorded version (``TRACKED_FIELDS``); a difference,
or no version yet, becomes a new row of ``opportunity_history`` in the same load package.
A run that re-reads an unchanged opportunity therefore adds nothing: the table grows
with changes, not with sweeps.

**Where the last version comes from.** The history table itself, in the warehouse, read
for the ids of each batch (``HistoryStore.versions``): nothing grows in the state, and
DuckDB, PostgreSQL and Delta tables answer the same question. Ids above everything loaded
before the run cannot have a version, so a backfill asks nothing. A load package holds
at most one row per opportunity (see ``runcontext.flush``), and dlt loads a package
before the run goes on past a checkpoint, so the warehouse always holds the versions the
run's earlier packages recorded; a killed run's package never loaded, and the next run
records the same versions again, once.

**``change``**: ``first_seen`` (no version before), ``deleted`` and ``undeleted``
(``is_deleted`` flipped), else ``updated``.

**``changed_at``**, the best known time of the change, is the first of these that lies
after the previous version was observed and not after this one was:

1. for a deleted opportunity, ``deleted_at`` (when the run found it gone);
2. for a change of the status alone (and ``closed_at``), the time of the newest won, lost
   or reopened event the event feed read for it in this run;
3. ``updated_at`` (Pardot's time of the last edit; for an opportunity not edited since
   its creation, ``created_at``);
4. else ``observed_at``, when the run saw the version.

So a version never starts before the connector could have known of it, and the versions
of one opportunity start in order.

**A pipeline loaded before the history existed** (or with ``history`` off for a while)
starts it at its next run: the opportunities that run does not read are compared from the
warehouse's ``opportunities`` rows (``HistoryStore.loaded``), with no request to Pardot.

No dlt import: the warehouse is reached through the two callables of ``HistoryStore``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from .schema import OPPORTUNITIES, OPPORTUNITY_HISTORY, TRACKED_FIELDS, UTC_TIMESTAMP

LOOKUP_CHUNK: Final = 5_000
"""Opportunity ids whose last version one warehouse query reads."""

FIRST_SEEN: Final = "first_seen"
UPDATED: Final = "updated"
DELETED: Final = "deleted"
UNDELETED: Final = "undeleted"
PREVIOUS: Final = ("version", "observed_at", *TRACKED_FIELDS)
"""What of the last version a new one is compared with and numbered after."""


@dataclass(frozen=True)
class HistoryStore:
    """How the warehouse answers the history's two questions."""

    versions: Callable[[list[int]], pa.Table | None]
    """The recorded ``opportunity_history`` rows of these opportunity ids (any versions),
    or None while the table does not exist."""
    loaded: Callable[[], Iterator[pa.Table]]
    """The loaded ``opportunities`` rows, a chunk at a time (none before the first load)."""


class Recorder:
    """Turns the opportunity rows a run hands out into the history rows of their changes."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        started: datetime,
        known_up_to: int | None,
        status_events: Mapping[int, datetime],
    ) -> None:
        """
        Args:
            store: the warehouse's answers.
            started: the run's start (UTC); ``observed_at`` counts from it.
            known_up_to: the largest id loaded before the run: larger ids have no version.
            status_events: opportunity id -> time of the newest won, lost or reopened event
                read by this run (filled while the run goes on).
        """
        self._store = store
        self._started = started
        self._clock = time.monotonic()
        self._known_up_to = known_up_to
        self._status_events = status_events
        self._no_table = False

    def package_loaded(self) -> None:
        """A checkpoint's package is in the warehouse: its versions can be read now."""
        self._no_table = False

    def observed_at(self) -> datetime:
        """Now, on the run's clock (its start plus the time since, never this machine's
        wall clock: a run on the emulator's clock observes in the emulator's time)."""
        elapsed = timedelta(seconds=time.monotonic() - self._clock)
        return (self._started + elapsed).replace(microsecond=0)

    def record(self, rows: pa.Table) -> pa.Table | None:
        """The history rows of the changed ones among opportunity rows about to be loaded
        (a hard delete's rows carry only ``id`` and ``is_deleted``)."""
        if not rows.num_rows:
            return None
        if "status" not in rows.column_names:
            return self._hard_deleted(rows["id"].to_pylist())
        current = _declared(rows, ("id", *TRACKED_FIELDS, "updated_at", "deleted_at"))
        ids = current["id"]
        if self._known_up_to is None:
            previous = None
        else:
            older = ids.filter(pc.less_equal(ids, self._known_up_to))
            previous = self._latest(older.to_pylist())
        return self._versions(current, previous)

    def seed(self, skip: Callable[[], Collection[int]]) -> Iterator[pa.Table]:
        """History rows for the loaded opportunities this run did not read (``skip``, asked
        for only if the warehouse holds any): their warehouse rows, compared with the
        recorded versions."""
        skipped: set[int] | None = None
        for chunk in self._store.loaded():
            if not chunk.num_rows:
                continue
            if skipped is None:
                skipped = set(skip())
            wanted = [i not in skipped for i in chunk["id"].to_pylist()]
            chunk = chunk.filter(pa.array(wanted, pa.bool_()))
            current = _declared(chunk, ("id", *TRACKED_FIELDS, "updated_at", "deleted_at"))
            history = self._versions(current, self._latest(current["id"].to_pylist()))
            if history is not None:
                yield history

    def _hard_deleted(self, ids: list[int]) -> pa.Table | None:
        """A ``deleted`` version for each removed opportunity that had a version: its last
        version's fields, with ``is_deleted`` true."""
        previous = self._latest(ids)
        if previous is None or not previous.num_rows:
            return None
        live = previous.filter(pc.invert(previous["is_deleted"]))
        current = live.select(["opportunity_id", *TRACKED_FIELDS]).rename_columns(
            ["id", *TRACKED_FIELDS]
        )
        current = current.set_column(
            current.column_names.index("is_deleted"),
            "is_deleted",
            pa.array([True] * current.num_rows, pa.bool_()),
        )
        empty = pa.nulls(current.num_rows, UTC_TIMESTAMP)
        current = current.append_column("updated_at", empty).append_column("deleted_at", empty)
        return self._versions(current, previous)

    def _latest(self, ids: list[int]) -> pa.Table | None:
        """The last recorded version of each of ``ids`` that has one."""
        if not ids or self._no_table:
            return None
        found: list[pa.Table] = []
        for start in range(0, len(ids), LOOKUP_CHUNK):
            rows = self._store.versions(ids[start : start + LOOKUP_CHUNK])
            if rows is None:
                self._no_table = True  # until a package with history rows loads
                return None
            if rows.num_rows:
                found.append(_declared(rows, [c.name for c in OPPORTUNITY_HISTORY.columns]))
        if not found:
            return None
        every = pa.concat_tables(found)
        newest = every.group_by("opportunity_id").aggregate([("version", "max")])
        newest = newest.rename_columns(["opportunity_id", "version"])
        return every.join(newest, ["opportunity_id", "version"], join_type="inner")

    def _versions(self, current: pa.Table, previous: pa.Table | None) -> pa.Table | None:
        """The rows of ``current`` that differ from their ``previous`` version, as history."""
        if previous is None or not previous.num_rows:
            joined = current
            for name in PREVIOUS:
                joined = joined.append_column(f"prev_{name}", pa.nulls(len(current), _TYPES[name]))
        else:
            before = previous.select(["opportunity_id", *PREVIOUS])
            before = before.rename_columns(["id", *(f"prev_{name}" for name in PREVIOUS)])
            joined = current.join(before, "id", join_type="left outer")
        new = pc.is_null(joined["prev_version"])
        changed = new
        for name in TRACKED_FIELDS:
            changed = pc.or_(changed, _differs(joined[name], joined[f"prev_{name}"]))
        joined = joined.filter(changed)
        if not joined.num_rows:
            return None
        return self._history_rows(joined)

    def _history_rows(self, joined: pa.Table) -> pa.Table:
        count = joined.num_rows
        observed = self.observed_at()
        observed_at = pa.array([observed] * count, UTC_TIMESTAMP)
        new = pc.is_null(joined["prev_version"])
        was_deleted = pc.fill_null(joined["prev_is_deleted"], False)
        deleted = pc.and_(pc.invert(new), pc.and_(joined["is_deleted"], pc.invert(was_deleted)))
        undeleted = pc.and_(pc.invert(new), pc.and_(pc.invert(joined["is_deleted"]), was_deleted))
        change = pc.if_else(
            new,
            FIRST_SEEN,
            pc.if_else(deleted, DELETED, pc.if_else(undeleted, UNDELETED, UPDATED)),
        )
        # A status event dates a change of the status (and closed_at, which goes with it)
        # alone: another field that changed too may have changed later.
        status_changed = pc.and_(pc.invert(new), _differs(joined["status"], joined["prev_status"]))
        for name in TRACKED_FIELDS:
            if name not in ("status", "closed_at"):
                others = _differs(joined[name], joined[f"prev_{name}"])
                status_changed = pc.and_(status_changed, pc.invert(others))
        event_times = pa.array(
            [self._status_events.get(i) for i in joined["id"].to_pylist()], UTC_TIMESTAMP
        )
        after = joined["prev_observed_at"]
        changed_at = observed_at
        # The last candidate written wins: so they are written from the last rule to the first.
        for candidate, applies in (
            (joined["updated_at"], None),
            (event_times, status_changed),
            (joined["deleted_at"], deleted),
        ):
            fits = _within(pc.cast(candidate, UTC_TIMESTAMP), after, observed_at)
            if applies is not None:
                fits = pc.and_(fits, applies)
            changed_at = pc.if_else(fits, candidate, changed_at)
        changed_at = pc.if_else(_within(changed_at, after, observed_at), changed_at, observed_at)
        version = pc.add(pc.fill_null(joined["prev_version"], 0), 1)
        columns = {
            "opportunity_id": joined["id"],
            "version": version,
            "change": change,
            "changed_at": changed_at,
            "observed_at": observed_at,
            **{name: joined[name] for name in TRACKED_FIELDS},
        }
        return pa.table(columns).cast(OPPORTUNITY_HISTORY.arrow_schema)


def _differs(now: pa.ChunkedArray | pa.Array, before: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Element-wise "not the same value", NULL being a value like any other."""
    unequal = pc.not_equal(now, before)
    both_null = pc.and_(pc.is_null(now), pc.is_null(before))
    return pc.if_else(both_null, False, pc.fill_null(unequal, True))


def _within(
    moment: pa.ChunkedArray | pa.Array,
    after: pa.ChunkedArray | pa.Array,
    until: pa.ChunkedArray | pa.Array,
) -> pa.Array:
    """``after < moment <= until`` (no ``after``: no lower bound); false where ``moment``
    is NULL."""
    not_late = pc.less_equal(moment, until)
    not_early = pc.if_else(pc.is_null(after), True, pc.greater(moment, after))
    return pc.fill_null(pc.and_(not_late, not_early), False)


_TYPES: Final = {
    field.name: field.type
    for table in (OPPORTUNITIES, OPPORTUNITY_HISTORY)
    for field in table.arrow_schema
}
"""The declared Arrow type of every column the history reads or writes."""


def _declared(rows: pa.Table, names: Collection[str]) -> pa.Table:
    """``names`` of ``rows`` in their declared types (a warehouse may return others);
    a column the rows lack is NULL."""
    return pa.table(
        {
            name: pc.cast(rows[name], _TYPES[name])
            if name in rows.column_names
            else pa.nulls(rows.num_rows, _TYPES[name])
            for name in names
        }
    )
