"""Read loaded rows back from the destination: to mark deleted opportunities, and for the
history.

A deleted opportunity is marked ``is_deleted`` and keeps its other columns as last
loaded, so its rows are read back (``deletes.ReadLoaded``); the history compares what a
run reads with the last versions recorded in ``opportunity_history`` (``history``). SQL
destinations answer through dlt's SQL client, DuckDB straight into Arrow.

The filesystem destination's SQL client is DuckDB over the files, which reads a Delta
table with DuckDB's ``delta`` extension: DuckDB downloads it on first use, so a machine
without internet could not mark rows deleted. Delta tables are therefore read with the
``deltalake`` package (installed with ``dlt[deltalake]``), which needs no download:
dlt opens the table with the destination's credentials, and a pyarrow dataset filter on
the ids skips files and row groups whose statistics rule them out, so only the wanted
rows are materialised, not the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from dlt.common.destination.client import SupportsOpenTables
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from dlt import Pipeline

WANTED_IDS: Final = "_pardot_wanted_ids"
"""Name under which a lookup's ids are registered with DuckDB, for the query's length."""
ARROW_CHUNK: Final = 50_000
"""Rows a SQL cursor hands over as one Arrow table."""
FILESYSTEM: Final = "dlt.destinations.filesystem"
"""``destination_type`` of dlt's filesystem destination, whatever it was named."""


class WarehouseRows:
    """Reads rows back as Arrow, straight from the destination (no Python rows between),
    for one run: the connection of ``by_ids`` is opened at its first read and kept until
    ``close`` (opening a DuckDB file costs more than the read; a checkpoint's load in the
    same process shares the database, so later reads see it)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._sql: SqlClientBase[Any] | None = None
        self._jobs: Any = None

    def by_ids(self, table_name: str, ids: list[int], *, key: str) -> pa.Table | None:
        """The rows whose ``key`` is one of ``ids``; None while the table does not exist."""
        if _is_filesystem(self._pipeline):
            delta = self._delta(table_name)
            return None if delta is None else read_delta_rows(delta, ids, key=key)
        wanted = pa.table({"wanted_id": pa.array(sorted(ids), pa.int64())})
        client = self._sql_client()
        table = client.make_qualified_table_name(table_name)
        quoted = client.escape_column_name(key)
        # the id span lets the destination skip blocks by their min/max (ids come in runs)
        span = f"between {wanted['wanted_id'][0]} and {wanted['wanted_id'][-1]}"
        native = client.native_connection
        try:
            if isinstance(native, duckdb.DuckDBPyConnection):
                return _duckdb_semi_join(native, table, quoted, span, wanted)
            listed = ", ".join(str(int(i)) for i in ids)
            query = f"SELECT * FROM {table} WHERE {quoted} {span} AND {quoted} IN ({listed})"  # noqa: S608
            chunks = list(_arrow_chunks(client, query))
        except (DatabaseUndefinedRelation, duckdb.CatalogException):
            return None
        return pa.concat_tables(chunks) if chunks else pa.table({})  # no rows: the table exists

    def every(self, table_name: str, *, chunk: int) -> Iterator[pa.Table]:
        """Every row of ``table_name``, ``chunk`` rows at a time; none if it does not exist."""
        if _is_filesystem(self._pipeline):
            delta = self._delta(table_name)
            if delta is not None:
                for batch in delta.to_pyarrow_dataset().to_batches(batch_size=chunk):
                    yield pa.Table.from_batches([batch])
            return
        # its own client: lookups (``by_ids``) run while this one is suspended between chunks
        with self._pipeline.sql_client() as client:
            table = client.make_qualified_table_name(table_name)
            try:
                yield from _arrow_chunks(client, f"SELECT * FROM {table}", chunk)  # noqa: S608
            except (DatabaseUndefinedRelation, duckdb.CatalogException):
                return

    def _sql_client(self) -> SqlClientBase[Any]:
        if self._sql is None:
            client = self._pipeline.sql_client()
            client.open_connection()
            self._sql = client
        return self._sql

    def close(self) -> None:
        """Close the connection kept for ``by_ids`` (a DuckDB file stays open until then)."""
        if self._sql is not None:
            self._sql.close_connection()
            self._sql = None

    def _delta(self, table_name: str) -> DeltaTable | None:
        """The Delta table ``table_name`` of a filesystem destination; None if it was never
        written (or is not a Delta table: this connector writes only Delta tables there)."""
        if self._jobs is None:
            self._jobs = self._pipeline.destination_client()
        with self._jobs as client:
            if not isinstance(client, SupportsOpenTables):
                return None
            try:
                if not client.is_open_table("delta", table_name):
                    return None
                table: DeltaTable = client.load_open_table("delta", table_name)
            except DestinationUndefinedEntity:
                return None
            return table


def _duckdb_semi_join(
    native: duckdb.DuckDBPyConnection, table: str, key: str, span: str, wanted: pa.Table
) -> pa.Table:
    """The rows of ``table`` whose ``key`` is in ``wanted``: a semi-join with the ids as an
    Arrow table, several times faster than a literal list of thousands of ids."""
    native.register(WANTED_IDS, wanted)
    try:
        query = (
            f"SELECT t.* FROM {table} t SEMI JOIN {WANTED_IDS} w "  # noqa: S608
            f"ON t.{key} = w.wanted_id WHERE t.{key} {span}"
        )
        return native.sql(query).to_arrow_table()
    finally:
        native.unregister(WANTED_IDS)


def _arrow_chunks(
    client: SqlClientBase[Any], query: str, chunk: int = ARROW_CHUNK
) -> Iterator[pa.Table]:
    """The result of ``query`` as Arrow tables of at most ``chunk`` rows.

    DuckDB hands its relations to Arrow directly (dlt's cursor path asks duckdb 2 for a
    method it no longer has, or a copy it warns about); other destinations go through
    dlt's cursor.
    """
    native = client.native_connection
    if isinstance(native, duckdb.DuckDBPyConnection):
        for batch in native.sql(query).to_arrow_reader(chunk):
            yield pa.Table.from_batches([batch])
        return
    with client.execute_query(query) as cursor:
        yield from cursor.iter_arrow(chunk)


def read_delta_rows(table: DeltaTable, ids: list[int], *, key: str = "id") -> pa.Table:
    """The rows of a Delta table whose ``key`` is one of ``ids``.

    Filtered while scanning (a pyarrow dataset expression), not after reading the whole
    table; the current version of the table, as every reader of it sees it.
    """
    wanted = ds.field(key).isin(pa.array(ids, pa.int64()))
    return table.to_pyarrow_dataset().to_table(filter=wanted)


def _is_filesystem(pipeline: Pipeline) -> bool:
    destination = pipeline.destination
    return destination is not None and destination.destination_type == FILESYSTEM
