"""The warehouse tables of the public contract, declared once.

Each table is described by its key, its Arrow schema (what the parser builds) and the
column hints dlt gets (what the destination creates). Both come from the same list of
``Column`` entries so that they cannot drift apart. No dlt import: the hints are plain
dictionaries in dlt's column-schema shape, so the parser stays testable without dlt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import pyarrow as pa

from .constants import (
    CAMPAIGNS_TABLE,
    OPPORTUNITIES_TABLE,
    OPPORTUNITY_HISTORY_TABLE,
    OPPORTUNITY_PROSPECTS_TABLE,
    PROSPECTS_TABLE,
    REJECTED_ROWS_TABLE,
    VISITOR_ACTIVITIES_TABLE,
    VISITOR_ACTIVITY_OPTIONAL_ID_FIELDS,
)

Kind = Literal["bigint", "double", "text", "timestamp", "bool"]

UTC_TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
ARROW_TYPES: Final[dict[Kind, pa.DataType]] = {
    "bigint": pa.int64(),
    "double": pa.float64(),
    "text": pa.string(),
    "timestamp": UTC_TIMESTAMP,
    "bool": pa.bool_(),
}

UNLINK_MARKER: Final = "_unlinked"
"""Hard-delete marker of ``opportunity_prospects``.

dlt's delete-insert merge replaces an opportunity's link rows only when the new data
holds at least one row for it. An opportunity whose last prospect was unlinked therefore
yields one marker row (``prospect_id`` 0, marker true): it deletes the old links and is
itself never inserted. Loaded rows always carry false.
"""


@dataclass(frozen=True)
class Column:
    """One declared column: name, kind, and whether it may be NULL."""

    name: str
    kind: Kind
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """One warehouse table: its name, key columns and declared columns."""

    name: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    merge_key: tuple[str, ...] = ()
    write_disposition: Literal["merge", "append"] = "merge"
    references: tuple[tuple[str, str, str], ...] = ()
    """(column, referenced table, referenced column) foreign keys."""

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the declared columns, in declared order."""
        return pa.schema(
            [pa.field(c.name, ARROW_TYPES[c.kind], nullable=c.nullable) for c in self.columns]
        )

    def column(self, name: str) -> Column | None:
        """The declared column called ``name``, if any."""
        return next((c for c in self.columns if c.name == name), None)

    def dlt_columns(self, hard_delete: str = UNLINK_MARKER) -> list[dict[str, Any]]:
        """Column hints in dlt's ``TColumnSchema`` shape.

        Args:
            hard_delete: the column whose true value makes dlt delete the row.
        """
        hints: list[dict[str, Any]] = []
        for column in self.columns:
            hint: dict[str, Any] = {
                "name": column.name,
                "data_type": column.kind,
                "nullable": column.nullable,
            }
            if column.kind == "timestamp":
                hint["timezone"] = True
            if column.name in self.primary_key:
                hint["primary_key"] = True
            if column.name == hard_delete:
                hint["hard_delete"] = True
            hints.append(hint)
        return hints

    def dlt_references(self) -> list[dict[str, Any]]:
        """Foreign keys in dlt's table-reference shape."""
        return [
            {"columns": [column], "referenced_table": table, "referenced_columns": [ref]}
            for column, table, ref in self.references
        ]


def _id(name: str = "id") -> Column:
    return Column(name, "bigint", nullable=False)


OPPORTUNITIES: Final = Table(
    name=OPPORTUNITIES_TABLE,
    primary_key=("id",),
    columns=(
        _id(),
        Column("name", "text"),
        Column("value", "double"),
        Column("probability", "bigint"),
        Column("type", "text"),
        Column("stage", "text"),
        Column("status", "text"),
        Column("campaign_id", "bigint"),
        Column("closed_at", "timestamp"),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp"),
        Column("is_deleted", "bool", nullable=False),
        Column("deleted_at", "timestamp"),
    ),
    references=(("campaign_id", CAMPAIGNS_TABLE, "id"),),
)

CAMPAIGNS: Final = Table(
    name=CAMPAIGNS_TABLE,
    primary_key=("id",),
    columns=(_id(), Column("name", "text"), Column("cost", "double")),
)

PROSPECTS: Final = Table(
    name=PROSPECTS_TABLE,
    primary_key=("id",),
    columns=(
        _id(),
        Column("email", "text"),
        Column("first_name", "text"),
        Column("last_name", "text"),
        Column("company", "text"),
    ),
)

OPPORTUNITY_PROSPECTS: Final = Table(
    name=OPPORTUNITY_PROSPECTS_TABLE,
    primary_key=("opportunity_id", "prospect_id"),
    merge_key=("opportunity_id",),
    columns=(
        _id("opportunity_id"),
        _id("prospect_id"),
        Column(UNLINK_MARKER, "bool", nullable=False),
    ),
    references=(
        ("opportunity_id", OPPORTUNITIES_TABLE, "id"),
        ("prospect_id", PROSPECTS_TABLE, "id"),
    ),
)

VISITOR_ACTIVITIES: Final = Table(
    name=VISITOR_ACTIVITIES_TABLE,
    primary_key=("id",),
    columns=(
        _id(),
        _id("opportunity_id"),
        Column("prospect_id", "bigint"),
        Column("visitor_id", "bigint"),
        Column("type", "bigint"),
        Column("type_name", "text"),
        Column("details", "text"),
        Column("campaign_id", "bigint"),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp"),
        *(Column(name, "bigint") for name in VISITOR_ACTIVITY_OPTIONAL_ID_FIELDS),
    ),
    references=(
        ("opportunity_id", OPPORTUNITIES_TABLE, "id"),
        ("prospect_id", PROSPECTS_TABLE, "id"),
        ("campaign_id", CAMPAIGNS_TABLE, "id"),
    ),
)

REJECTED_ROWS: Final = Table(
    name=REJECTED_ROWS_TABLE,
    primary_key=(),
    write_disposition="append",
    columns=(
        Column("opportunity_id", "bigint"),
        Column("field", "text"),
        Column("value", "text"),
        Column("reason", "text"),
        Column("rejected_at", "timestamp"),
    ),
)
"""Opportunities set aside by ``reject_bad_rows``: one row per rejection, appended."""

TRACKED_FIELDS: Final = (
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
"""The opportunity columns whose every change ``opportunity_history`` records."""

OPPORTUNITY_HISTORY: Final = Table(
    name=OPPORTUNITY_HISTORY_TABLE,
    primary_key=("opportunity_id", "version"),
    columns=(
        _id("opportunity_id"),
        Column("version", "bigint", nullable=False),
        Column("change", "text", nullable=False),
        Column("changed_at", "timestamp", nullable=False),
        Column("observed_at", "timestamp", nullable=False),
        *(c for c in OPPORTUNITIES.columns if c.name in TRACKED_FIELDS),
    ),
)
"""One row per observed version of an opportunity's tracked fields (``history``).

No foreign key to ``opportunities``: with ``hard_delete`` the history outlives the row.
"""

TABLES: Final = (OPPORTUNITIES, CAMPAIGNS, PROSPECTS, OPPORTUNITY_PROSPECTS, VISITOR_ACTIVITIES)
"""The tables of the public contract that Pardot's pages fill."""
TABLES_BY_NAME: Final = {
    table.name: table for table in (*TABLES, REJECTED_ROWS, OPPORTUNITY_HISTORY)
}
