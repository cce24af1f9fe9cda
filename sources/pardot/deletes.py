"""The rows that record deletes: an opportunity gone from Pardot since the last full sweep.

A full sweep reads every live opportunity; one loaded before that it no longer returns
was deleted in Pardot. By default its row stays, marked ``is_deleted`` with
``deleted_at`` (when the sweep began: the delete happened before it), and every other
column as last loaded, read back from the warehouse. With ``hard_delete`` the row and
its prospect links are removed instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Final

import pyarrow as pa

from .schema import OPPORTUNITIES, OPPORTUNITY_PROSPECTS, UNLINK_MARKER, UTC_TIMESTAMP

DELETE_CHUNK: Final = 1_000
"""Deleted opportunities read back from the warehouse per query."""

ReadLoaded = Callable[[list[int]], pa.Table | None]
"""Reads the loaded ``opportunities`` rows with the given ids from the warehouse."""


def marked_deleted(
    gone: list[int], read_loaded: ReadLoaded, seen_deleted: datetime
) -> Iterator[pa.Table]:
    """The loaded rows of ``gone``, marked deleted, a chunk of them at a time."""
    for start in range(0, len(gone), DELETE_CHUNK):
        rows = read_loaded(gone[start : start + DELETE_CHUNK])
        if rows is not None and rows.num_rows:
            yield _marked_deleted(rows, seen_deleted)


def hard_deletes(gone: list[int]) -> Iterator[tuple[str, pa.Table]]:
    """Rows that remove the opportunities ``gone`` and all of their prospect links."""
    yield OPPORTUNITIES.name, _hard_deletes(gone)
    yield OPPORTUNITY_PROSPECTS.name, _unlink_all(gone)


def _marked_deleted(rows: pa.Table, seen_deleted: datetime) -> pa.Table:
    """The loaded rows with ``is_deleted`` true and ``deleted_at`` set; nothing else changes."""
    rows = rows.select([name for name in rows.column_names if not name.startswith("_dlt")])
    marks = {
        "is_deleted": pa.array([True] * rows.num_rows, pa.bool_()),
        "deleted_at": pa.array([seen_deleted] * rows.num_rows, UTC_TIMESTAMP),
    }
    for name, values in marks.items():
        if name in rows.column_names:
            rows = rows.drop_columns(name)
        rows = rows.append_column(name, values)
    # Declared columns get their declared types back (a warehouse may return others).
    declared = OPPORTUNITIES.arrow_schema
    return rows.cast(
        pa.schema(
            declared.field(name) if OPPORTUNITIES.column(name) else rows.schema.field(name)
            for name in rows.column_names
        )
    )


def _hard_deletes(ids: list[int]) -> pa.Table:
    """Rows whose true ``is_deleted`` (the hard-delete column then) removes them."""
    return pa.table(
        {"id": pa.array(ids, pa.int64()), "is_deleted": pa.array([True] * len(ids))},
        schema=pa.schema(
            [OPPORTUNITIES.arrow_schema.field("id"), OPPORTUNITIES.arrow_schema.field("is_deleted")]
        ),
    )


def _unlink_all(ids: list[int]) -> pa.Table:
    """One unlink marker per opportunity: the merge deletes all of its link rows."""
    return pa.Table.from_pydict(
        {
            "opportunity_id": ids,
            "prospect_id": [0] * len(ids),
            UNLINK_MARKER: [True] * len(ids),
        },
        schema=OPPORTUNITY_PROSPECTS.arrow_schema,
    )
