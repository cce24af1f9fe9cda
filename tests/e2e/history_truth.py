"""What ``opportunity_history`` must hold, from the emulator's ground truth alone.

``HistoryModel`` is told when a run has read every change (a full sweep, or a run whose
changes the events and the delete check all show); it then appends a version for each
opportunity whose tracked fields differ from its last one, as the connector must. It
shares no code with the connector: the tracked fields are listed here again, and the
timestamps come from ``truth.shown_instant``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sources.pardot_emulator import PardotEmulator

from .truth import Warehouse, shown_instant

TRACKED = (
    "name",
    "value",
    "probability",
    "type",
    "stage",
    "status",
    "campaign_id",
    "closed_at",
    "is_deleted",
)
HISTORY_COLUMNS = ("opportunity_id", "version", "change", *TRACKED)


class HistoryModel:
    """The versions a correct history holds after each run that read every change."""

    def __init__(self) -> None:
        self.versions: dict[int, list[tuple[Any, ...]]] = {}
        self.changes: dict[int, list[str]] = {}

    def observe(self, emulator: PardotEmulator) -> None:
        """A run read every opportunity's current fields."""
        timezone = emulator.config.timezone
        for row in emulator.ground_truth()["opportunities"]:
            fields = tuple(
                shown_instant(row[name], timezone) if name == "closed_at" else row[name]
                for name in TRACKED
            )
            before = self.versions.get(row["id"])
            if before is None:
                if not row["is_deleted"]:  # never loaded otherwise
                    self.versions[row["id"]] = [fields]
                    self.changes[row["id"]] = ["first_seen"]
                continue
            if before[-1] == fields:
                continue
            was, now = before[-1][-1], fields[-1]
            change = "updated" if was == now else ("deleted" if now else "undeleted")
            if change == "deleted":
                # a deleted opportunity cannot be read: its last fields, marked deleted
                fields = (*before[-1][:-1], True)
            before.append(fields)
            self.changes[row["id"]].append(change)

    def rows(self) -> list[tuple[Any, ...]]:
        """(opportunity_id, version, change, *tracked) in key order."""
        return [
            (opportunity_id, number, self.changes[opportunity_id][number - 1], *fields)
            for opportunity_id in sorted(self.versions)
            for number, fields in enumerate(self.versions[opportunity_id], start=1)
        ]


def loaded_history(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """The loaded history, in the model's shape (timestamps in UTC)."""
    listed = ", ".join(HISTORY_COLUMNS)
    rows = warehouse.query(f"select {listed} from opportunity_history order by 1, 2")
    return [tuple(v.astimezone(UTC) if isinstance(v, datetime) else v for v in row) for row in rows]


def assert_history_matches(warehouse: Warehouse, model: HistoryModel) -> None:
    """The loaded history equals the model, row by row."""
    loaded = loaded_history(warehouse)
    expected = model.rows()
    if loaded != expected:
        extra = sorted(set(loaded) - set(expected))[:5]
        missing = sorted(set(expected) - set(loaded))[:5]
        raise AssertionError(f"history differs: unexpected {extra}; missing {missing}")


def assert_one_version_each(warehouse: Warehouse) -> None:
    """Nothing changed in Pardot across the runs: one ``first_seen`` version per loaded
    opportunity, equal to its row."""
    listed = ", ".join(f"o.{name}" for name in TRACKED)
    history = ", ".join(f"h.{name}" for name in TRACKED)
    (opportunities, versions, first, equal) = warehouse.query(
        f"""select (select count(*) from opportunities),
                   (select count(*) from opportunity_history),
                   (select count(*) from opportunity_history
                     where version = 1 and change = 'first_seen'),
                   (select count(*) from opportunities o join opportunity_history h
                     on h.opportunity_id = o.id
                     where ({listed}) is not distinct from ({history}))"""
    )[0]
    assert opportunities == versions == first == equal, (opportunities, versions, first, equal)
