"""Soft deletes on Delta tables, with no DuckDB extension anywhere in the process.

Marking an opportunity deleted re-reads its loaded row. dlt's SQL client for the
filesystem destination reads a Delta table through DuckDB's ``delta`` extension, which
DuckDB downloads on first use: offline, soft deletes on Delta failed. The connector now
reads Delta tables with ``deltalake`` (``sources/pardot/loaded.py``).

The proof: every DuckDB connection opened during the test gets an empty extension
directory and has auto-install and auto-load switched off. DuckDB reads no environment
variable for these settings, and dlt's filesystem SQL client opens its in-memory DuckDB
with ``duckdb.connect(":memory:")`` and no configuration, so ``duckdb.connect`` itself is
wrapped. Under that, dlt's SQL client provably cannot read the Delta table (checked
first), the delete and undelete sweeps still equal the emulator's ground truth, and the
extension directory stays empty (nothing was downloaded either).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from pipelines.delta_links import LOAD_ID_SETTING, stamped_loads
from pipelines.runner import RunSummary, run_sync
from sources.pardot.loaded import read_delta_rows
from sources.pardot_emulator import EmulatorConfig
from tests.e2e.conftest import Harness, start_harness
from tests.e2e.truth import assert_matches_ground_truth

from .readers import DeltaWarehouse

NO_AUTOMATIC_EXTENSIONS = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


@pytest.fixture
def no_duckdb_extensions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every ``duckdb.connect`` of this test: empty extension folder, nothing automatic."""
    folder = tmp_path / "duckdb_extensions"
    folder.mkdir()
    connect = duckdb.connect

    def offline_connect(
        database: str | Path = ":memory:",
        read_only: bool = False,
        config: dict[str, Any] | None = None,
    ) -> duckdb.DuckDBPyConnection:
        settings = {**(config or {}), **NO_AUTOMATIC_EXTENSIONS, "extension_directory": str(folder)}
        return connect(database, read_only=read_only, config=settings)

    monkeypatch.setattr(duckdb, "connect", offline_connect)
    return folder


@pytest.fixture
def live(isolated_environment: Path) -> Iterator[Harness]:
    config = EmulatorConfig(
        opportunities=120, seed=43, clock_start=datetime.now(UTC), history_days=60
    )
    yield from start_harness(isolated_environment, config)


def lake(bucket: Path) -> Any:
    return dlt.destinations.filesystem(bucket_url=str(bucket))


def run(harness: Harness, bucket: Path, **options: Any) -> RunSummary:
    harness.emulator.reset_request_log()
    summary = run_sync(
        destination=lake(bucket),
        pipelines_dir=str(harness.pipelines_dir),
        table_format="delta",
        **{**harness.source_options(), **options},
    )
    assert summary.exit_code == 0, summary.message
    return summary


def test_soft_delete_and_undelete_on_delta_without_duckdb_extensions(
    live: Harness, no_duckdb_extensions: Path
) -> None:
    bucket = live.root / "lake"
    warehouse = DeltaWarehouse(bucket)
    assert run(live, bucket).scan == "full"
    assert_matches_ground_truth(warehouse, live.emulator)

    # The old way (dlt's SQL client, i.e. DuckDB's delta_scan) cannot read the table here.
    pipeline = dlt.pipeline(
        "pardot",
        destination=lake(bucket),
        dataset_name="pardot",
        pipelines_dir=str(live.pipelines_dir),
    )
    with pytest.raises(Exception, match="delta"), pipeline.sql_client() as client:
        client.execute_sql("select count(*) from opportunities")

    truth = live.emulator.ground_truth()["opportunities"]
    ids = sorted(o["id"] for o in truth if not o["is_deleted"])
    gone = {ids[0], ids[len(ids) // 2], ids[-1]}
    for opportunity_id in gone:
        live.emulator.delete_opportunity(opportunity_id)
    marked = run(live, bucket, full_sweep_every_hours=0)
    assert (marked.scan, marked.deleted) == ("full", 3)
    assert live.emulator.request_count("query") == math.ceil((len(ids) - 3) / 200)
    assert_matches_ground_truth(warehouse, live.emulator, deleted=gone)

    back = ids[len(ids) // 2]
    live.emulator.undelete_opportunity(back)
    again = run(live, bucket, full_sweep_every_hours=0)
    assert again.deleted == 0, "a deletion is reported once"
    assert_matches_ground_truth(warehouse, live.emulator, deleted=gone - {back})
    row = warehouse.query(f"select is_deleted, deleted_at from opportunities where id = {back}")
    assert row == [(False, None)]
    assert not any(no_duckdb_extensions.iterdir()), "DuckDB installed an extension"


def test_read_delta_rows_returns_only_the_asked_ids_from_every_file(tmp_path: Path) -> None:
    """Rows spread over several files (three appends); missing ids are simply absent."""
    location = str(tmp_path / "table")
    for start in (0, 100, 200):
        ids = pa.array(range(start, start + 100), pa.int64())
        write_deltalake(
            location, pa.table({"id": ids, "name": pc.cast(ids, pa.string())}), mode="append"
        )

    rows = read_delta_rows(DeltaTable(location), [5, 150, 299, 1000])

    assert rows.column_names == ["id", "name"]
    assert sorted(rows.to_pylist(), key=lambda r: r["id"]) == [
        {"id": 5, "name": "5"},
        {"id": 150, "name": "150"},
        {"id": 299, "name": "299"},
    ]


def test_load_ids_are_stamped_through_dlt_config_not_the_environment() -> None:
    environment = dict(os.environ)
    assert LOAD_ID_SETTING not in dlt.config
    with stamped_loads():
        assert dlt.config[LOAD_ID_SETTING] is True
        assert dict(os.environ) == environment, "the process environment is untouched"
    assert LOAD_ID_SETTING not in dlt.config, "restored on exit"
    assert dict(os.environ) == environment
