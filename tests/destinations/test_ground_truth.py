"""The same sync into DuckDB, PostgreSQL and Delta files, each checked row by row.

A first load, an incremental run, then a full sweep that carries an update and finds a
delete: after each, the destination equals the emulator's ground truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.runner import RunSummary, run_sync
from sources.pardot_emulator import EmulatorConfig
from tests.e2e.conftest import Harness, start_harness
from tests.e2e.truth import assert_matches_ground_truth

from .conftest import Target


@pytest.fixture
def live(isolated_environment: Path) -> Iterator[Harness]:
    config = EmulatorConfig(
        opportunities=250, seed=41, clock_start=datetime.now(UTC), history_days=90
    )
    yield from start_harness(isolated_environment, config)


def run(harness: Harness, target: Target, **options: Any) -> RunSummary:
    harness.emulator.reset_request_log()
    summary = run_sync(
        destination=target.destination(),
        pipelines_dir=str(harness.pipelines_dir),
        table_format=target.table_format,  # type: ignore[arg-type]
        **{**harness.source_options(), **options},
    )
    assert summary.exit_code == 0, summary.message
    return summary


def test_first_incremental_and_full_sweep_equal_ground_truth(live: Harness, target: Target) -> None:
    first = run(live, target)
    assert first.scan == "full"
    assert_matches_ground_truth(target.warehouse(), live.emulator)

    new_ids = live.emulator.add_opportunities(230)
    second = run(live, target)
    assert (second.scan, second.opportunities) == ("new", 230)
    assert_matches_ground_truth(target.warehouse(), live.emulator)

    truth = live.emulator.ground_truth()
    linked = {link["opportunity_id"] for link in truth["opportunity_prospects"]}
    ids = sorted(o["id"] for o in truth["opportunities"] if not o["is_deleted"])
    ids = [ids[0], ids[1], *(i for i in ids[2:] if i in linked)]
    live.emulator.update_opportunity(ids[0], name="Renamed", value=99.5, stage="Closed")
    live.emulator.update_opportunity(new_ids[-1], status="won", probability=100)
    live.emulator.delete_opportunity(ids[1])
    live.emulator.unlink_prospect(*first_link_of(live, ids[2]))
    # The Delta target removes deleted rows (hard_delete) here, so that Delta's removal
    # path is checked too; soft deletes on Delta are in test_delta_soft_delete.py.
    hard = target.table_format == "delta"
    third = run(live, target, full_sweep_every_hours=0, hard_delete=hard)
    assert (third.scan, third.deleted) == ("full", 1)
    if hard:
        assert_matches_ground_truth(target.warehouse(), live.emulator, removed={ids[1]})
    else:
        assert_matches_ground_truth(target.warehouse(), live.emulator, deleted={ids[1]})
        # the analysts' views exist on every SQL destination
        warehouse = target.warehouse()
        live_count = warehouse.query("select count(*) from opportunities where not is_deleted")
        assert warehouse.query("select count(*) from current_opportunities") == live_count
        assert warehouse.query("select sum(opportunities) from pipeline_by_stage") == live_count


def first_link_of(harness: Harness, opportunity_id: int) -> tuple[int, int]:
    links = harness.emulator.ground_truth()["opportunity_prospects"]
    return next(
        (link["opportunity_id"], link["prospect_id"])
        for link in links
        if link["opportunity_id"] == opportunity_id
    )
