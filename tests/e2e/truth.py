"""Compare what a run loaded into DuckDB with what the emulator holds, row by row.

The expected timestamps are computed here with ``zoneinfo``, independently of the
connector's Arrow conversion: the emulator keeps true UTC instants and renders them in
local time; the connector documents that a local time in the repeated hour of a
fall-back transition reads as the earlier instant (``fold=0``). That is the only place
where what Pardot shows cannot tell two instants apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from sources.pardot_emulator import PardotEmulator

OPPORTUNITY_COLUMNS = (
    "id",
    "name",
    "value",
    "probability",
    "type",
    "stage",
    "status",
    "campaign_id",
    "closed_at",
    "created_at",
    "updated_at",
    "is_deleted",
)
ACTIVITY_COLUMNS = (
    "id",
    "opportunity_id",
    "prospect_id",
    "visitor_id",
    "type",
    "type_name",
    "details",
    "campaign_id",
    "created_at",
    "updated_at",
)
PROSPECT_COLUMNS = ("id", "first_name", "last_name", "email", "company")
TIMESTAMPS = {"closed_at", "created_at", "updated_at"}


class Warehouse:
    """Read-only view of the loaded DuckDB file."""

    def __init__(self, path: Path, dataset: str = "pardot") -> None:
        self.path = path
        self.dataset = dataset

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            con.execute(f"set search_path = '{self.dataset}'")
            return con.execute(sql).fetchall()

    def rows(self, table: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        listed = ", ".join(columns)
        return [
            dict(zip(columns, row, strict=True))
            for row in self.query(f"select {listed} from {table} order by all")
        ]

    def count(self, table: str) -> int:
        return int(self.query(f"select count(*) from {table}")[0][0])

    def ids(self) -> list[int]:
        return [row[0] for row in self.query("select id from opportunities order by id")]


def shown_instant(iso: str | None, timezone: str) -> datetime | None:
    """The instant a reader of Pardot's local rendering can recover (see module doc)."""
    if iso is None:
        return None
    zone = ZoneInfo(timezone)
    local = datetime.fromisoformat(iso).astimezone(zone).replace(tzinfo=None)
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _expected(row: dict[str, Any], columns: tuple[str, ...], timezone: str) -> dict[str, Any]:
    return {
        name: shown_instant(row.get(name), timezone) if name in TIMESTAMPS else row.get(name)
        for name in columns
    }


def _loaded(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.astimezone(UTC) if isinstance(value, datetime) else value
        for name, value in row.items()
    }


def _difference(loaded: dict[str, Any], expected: dict[str, Any]) -> str:
    fields = {k: (loaded.get(k), expected.get(k)) for k in expected if loaded.get(k) != expected[k]}
    return f"id {expected.get('id')}: (loaded, expected) differ in {fields}"


def assert_matches_ground_truth(
    warehouse: Warehouse,
    emulator: PardotEmulator,
    *,
    expected_ids: set[int] | None = None,
    deleted: set[int] = frozenset(),  # type: ignore[assignment]
    removed: set[int] = frozenset(),  # type: ignore[assignment]
    activities: bool = True,
) -> None:
    """Every loaded table equals the emulator's data for the loaded opportunities.

    Args:
        expected_ids: the live opportunities that must be loaded; default all live ones.
        deleted: opportunities deleted in Pardot that must be loaded, marked deleted.
        removed: opportunities deleted in Pardot and removed (``hard_delete``): no row,
            no links, but their visitor activities stay, as they do in Pardot.
        activities: whether visitor activities were loadable (query or read carried them).
    """
    truth = emulator.ground_truth()
    timezone = emulator.config.timezone
    everything = {o["id"]: o for o in truth["opportunities"]}
    live = {i for i, o in everything.items() if not o["is_deleted"]}
    assert not deleted & live, "opportunities expected deleted are live in the emulator"
    ids = (live if expected_ids is None else expected_ids) | deleted

    loaded = [
        _loaded(r) for r in warehouse.rows("opportunities", (*OPPORTUNITY_COLUMNS, "deleted_at"))
    ]
    assert [r["id"] for r in loaded] == sorted(ids), "loaded opportunity ids"
    for row in loaded:
        deleted_at = row.pop("deleted_at")
        assert (deleted_at is not None) == (row["id"] in deleted), row["id"]
        expected = _expected(everything[row["id"]], OPPORTUNITY_COLUMNS, timezone)
        if row["id"] in deleted:
            # Deleting bumps updated_at in Pardot, but a deleted opportunity can no
            # longer be read: the warehouse keeps the last version it saw.
            expected["updated_at"] = row["updated_at"]
        assert row == expected, _difference(row, expected)

    links = {
        (link["opportunity_id"], link["prospect_id"])
        for link in truth["opportunity_prospects"]
        if link["opportunity_id"] in ids
    }
    loaded_links = set(
        warehouse.query("select opportunity_id, prospect_id from opportunity_prospects")
    )
    assert loaded_links == links, "opportunity_prospects are exactly the current links"
    assert (
        warehouse.query("select count(*) from opportunity_prospects where _unlinked")[0][0] == 0
    ), "unlink markers are never inserted"

    prospect_ids = {prospect for _, prospect in links}
    prospects = {p["id"]: p for p in truth["prospects"]}
    loaded_prospects = warehouse.rows("prospects", PROSPECT_COLUMNS)
    assert {p["id"] for p in loaded_prospects} >= prospect_ids
    for row in loaded_prospects:
        assert row == _expected(prospects[row["id"]], PROSPECT_COLUMNS, timezone)

    campaigns = {c["id"]: c for c in truth["campaigns"]}
    referenced = {everything[i]["campaign_id"] for i in ids} - {None}
    loaded_campaigns = warehouse.rows("campaigns", ("id", "name", "cost"))
    assert {c["id"] for c in loaded_campaigns} >= referenced
    for row in loaded_campaigns:
        assert row["name"] == campaigns[row["id"]]["name"]
        if row["cost"] is not None:  # cost only where Pardot sends it, never wrong
            assert row["cost"] == campaigns[row["id"]]["cost"]

    if activities:
        expected_activities = sorted(
            (a for a in truth["visitor_activities"] if a["opportunity_id"] in ids | removed),
            key=lambda a: a["id"],
        )
        loaded_activities = [
            _loaded(r) for r in warehouse.rows("visitor_activities", ACTIVITY_COLUMNS)
        ]
        assert loaded_activities == [
            _expected(a, ACTIVITY_COLUMNS, timezone) for a in expected_activities
        ]


KEYS = {
    "opportunities": "id",
    "campaigns": "id",
    "prospects": "id",
    "visitor_activities": "id",
    "opportunity_prospects": "opportunity_id, prospect_id",
    "opportunity_history": "opportunity_id, version",
}


def assert_no_duplicates(warehouse: Warehouse) -> None:
    """``count(*) == count(distinct key)`` in every table."""
    for table, key in KEYS.items():
        try:
            total, distinct = warehouse.query(
                f"select (select count(*) from {table}), "
                f"(select count(*) from (select distinct {key} from {table}))"
            )[0]
        except duckdb.CatalogException:
            continue  # not created yet (no row of it loaded): nothing doubled
        assert total == distinct, f"{table}: {total} rows but {distinct} distinct ({key})"
