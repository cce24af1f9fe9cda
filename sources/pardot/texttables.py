"""The rows of a batch as Pardot's text, before typing: the one form every parse path gives.

A parse path (the native reader in ``native``, the tree walk in ``walk``, or any reader
added later) turns pages into ``TextTables``: per warehouse table, an Arrow table
of text columns as Pardot sent them (NULL for an empty or absent element; the unlink
marker and ``is_deleted`` as booleans) and an ``OWNER`` column, the id of the
opportunity each row came with (for ``opportunities``, its own id). What happens next
happens once, here, whichever path read the page: batches are concatenated, a rejected
opportunity is dropped with every row it brought (one filter on ``OWNER`` per table),
and whole columns are typed (``columns``), keeping the last sighting of each campaign
and prospect.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from .columns import checked_opportunities, typed_columns
from .schema import CAMPAIGNS, OPPORTUNITIES, PROSPECTS, TABLES

OWNER: Final = "_owner"
"""The column holding the id (int64) of the opportunity a row came with."""

_LAST_SIGHTING_WINS: Final = (CAMPAIGNS.name, PROSPECTS.name)
"""Tables of rows that many opportunities bring: the last sighting of an id is kept (a
destination's merge need not deduplicate the rows it is given)."""


@dataclass(frozen=True)
class TextTables:
    """Text tables by warehouse table name, each with an ``OWNER`` column."""

    tables: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def opportunities(self) -> int:
        """How many opportunity rows there are."""
        table = self.tables.get(OPPORTUNITIES.name)
        return 0 if table is None else table.num_rows

    @staticmethod
    def concat(parts: Sequence[TextTables]) -> TextTables:
        """The rows of ``parts``, in order; a column one part lacks is NULL there."""
        names = dict.fromkeys(name for part in parts for name in part.tables)
        return TextTables(
            {
                name: pa.concat_tables(
                    [part.tables[name] for part in parts if name in part.tables],
                    promote_options="default",
                )
                for name in names
            }
        )

    def without(self, owners: Collection[int]) -> TextTables:
        """These rows but those that the opportunities ``owners`` brought."""
        if not owners:
            return self
        dropped = pa.array(sorted(owners), pa.int64())
        return TextTables(
            {
                name: table.filter(pc.invert(pc.is_in(table[OWNER], value_set=dropped)))
                for name, table in self.tables.items()
            }
        )

    def typed(self, timezone: str) -> dict[str, pa.Table]:
        """One typed Arrow table per non-empty warehouse table.

        Args:
            timezone: the IANA zone in which Pardot rendered local timestamps.

        Raises:
            DataError: a value cannot be typed, a key is missing, or a probability is
                outside 0-100; names the opportunity and the field.
        """
        typed: dict[str, pa.Table] = {}
        for spec in TABLES:
            table = self.tables.get(spec.name)
            if table is None or not table.num_rows:
                continue
            owners = table[OWNER].combine_chunks()
            columns = {
                name: table[name].combine_chunks() for name in table.column_names if name != OWNER
            }
            result = typed_columns(spec, columns, owners, timezone)
            if spec.name in _LAST_SIGHTING_WINS:
                result = last_per_id(result)
            if spec is OPPORTUNITIES:
                result = checked_opportunities(result, owners)
            typed[spec.name] = result
        return typed


def last_per_id(table: pa.Table) -> pa.Table:
    """One row per ``id``: its last."""
    last = (
        table.select(["id"])
        .append_column("_position", positions(table.num_rows))
        .group_by("id", use_threads=False)
        .aggregate([("_position", "max")])
    )
    kept = last["_position_max"]
    return table.take(pc.take(kept, pc.sort_indices(kept)))


def positions(length: int) -> pa.Array:
    """0, 1, … ``length`` - 1 (uint64), made by a kernel rather than a Python range."""
    return pc.indices_nonzero(pc.is_null(pa.nulls(length)))
