"""Incremental sync over real loopback HTTP into DuckDB, checked against ground truth."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from pipelines.runner import DEFAULT_DUCKDB_FILE, default_destination, run_sync
from sources.pardot_emulator import EmulatorConfig

from .conftest import Harness, start_harness
from .truth import Warehouse, assert_matches_ground_truth


def live_count(harness: Harness) -> int:
    return sum(not o["is_deleted"] for o in harness.emulator.ground_truth()["opportunities"])


def queries(harness: Harness) -> int:
    return harness.emulator.request_count("query")


def test_first_load_equals_ground_truth_in_ceil_n_over_200_requests(harness: Harness) -> None:
    summary = harness.run()
    assert summary.exit_code == 0, summary.message
    live = live_count(harness)
    assert summary.opportunities == live
    assert queries(harness) == harness.scan_queries(summary) == math.ceil(live / 200)
    events = summary.changes["activity_feed"]["events"]
    assert harness.feed_queries() == summary.changes["activity_feed"]["requests"]
    # the newest event id when the sweep began, then the feed's history, read once
    assert harness.feed_queries() == 1 + events // 200 + 1
    assert summary.requests == queries(harness) + harness.feed_queries()
    assert summary.rows["opportunities"] == live
    assert summary.rows["opportunity_prospects"] == harness.warehouse().count(
        "opportunity_prospects"
    ), "the summary counts link rows, not unlink markers"
    assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def test_second_run_without_changes_costs_three_requests_and_loads_nothing(
    harness: Harness,
) -> None:
    harness.run()
    before = harness.warehouse().query("select * from opportunities order by id")
    summary = harness.run()
    assert summary.exit_code == 0, summary.message
    assert (harness.scan_queries(summary), queries(harness), summary.requests) == (1, 2, 3)
    assert summary.opportunities == 0
    assert sum(summary.rows.values()) == 0
    assert harness.warehouse().query("select * from opportunities order by id") == before


def test_450_new_opportunities_arrive_exactly_in_three_requests(harness: Harness) -> None:
    harness.run()
    new_ids = harness.emulator.add_opportunities(450)
    summary = harness.run()
    assert summary.exit_code == 0, summary.message
    assert summary.opportunities == 450
    assert harness.scan_queries(summary) == 3
    assert summary.changes["activity_feed"]["refreshed"] == 0, "the scan read them after"
    assert summary.rows["opportunities"] == 450
    loaded = set(harness.warehouse().ids())
    assert set(new_ids) <= loaded
    assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def test_opportunities_sharing_one_second_across_a_page_boundary_are_all_loaded(
    harness: Harness,
) -> None:
    harness.run()
    harness.emulator.add_opportunities(70)
    harness.run()
    same_second = harness.emulator.add_opportunities(330, same_second=True)
    truth = {o["id"]: o for o in harness.emulator.ground_truth()["opportunities"]}
    assert len({truth[i]["created_at"] for i in same_second}) == 1
    summary = harness.run()
    assert summary.opportunities == 330
    assert harness.scan_queries(summary) == 2, "200 + 130: the boundary falls in the second"
    assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def test_many_small_runs_equal_one_big_run(harness: Harness) -> None:
    for size in (1, 199, 200, 201, 0, 3):
        harness.emulator.add_opportunities(size)
        summary = harness.run()
        assert summary.exit_code == 0, summary.message
    count = harness.warehouse().count("opportunities")
    assert count == len(set(harness.warehouse().ids())), "no row doubled"
    assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def test_start_date_limits_the_first_run(harness: Harness) -> None:
    truth = sorted(
        (o for o in harness.emulator.ground_truth()["opportunities"] if not o["is_deleted"]),
        key=lambda o: o["id"],
    )
    pivot = truth[len(truth) // 2]["created_at"]
    summary = harness.run(start_date=pivot)
    assert summary.exit_code == 0, summary.message
    expected = {o["id"] for o in truth if o["created_at"] >= pivot}
    assert set(harness.warehouse().ids()) == expected
    assert_matches_ground_truth(harness.warehouse(), harness.emulator, expected_ids=expected)


def test_capitalised_status_and_omitted_closed_at_are_normalised(
    isolated_environment: Path,
) -> None:
    config = EmulatorConfig(
        opportunities=250,
        seed=5,
        status_case="capitalized",
        emit_empty_closed_at=False,
        top_level_campaign_id=True,
    )
    for harness in start_harness(isolated_environment, config):
        assert harness.run().exit_code == 0
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def test_activities_by_read_when_the_query_does_not_carry_them(
    isolated_environment: Path,
) -> None:
    config = EmulatorConfig(opportunities=120, seed=3, query_includes_activities=False)
    for harness in start_harness(isolated_environment, config):
        harness.options["activity_feed"] = False  # the one other way to the activities
        without = harness.run()
        assert without.exit_code == 0
        assert (
            harness.warehouse().count("visitor_activities") == 0
            if _has_table(harness, "visitor_activities")
            else True
        )
        harness.emulator.add_opportunities(40)
        summary = harness.run(fetch_activities_by_read=True)
        assert summary.exit_code == 0, summary.message
        assert harness.scan_queries(summary) == 1
        assert harness.emulator.request_count("read") == 40, "one read per new opportunity"
        new_ids = set(harness.warehouse().ids()[-40:])
        truth = harness.emulator.ground_truth()["visitor_activities"]
        expected = sorted(a["id"] for a in truth if a["opportunity_id"] in new_ids)
        loaded = [
            r[0] for r in harness.warehouse().query("select id from visitor_activities order by id")
        ]
        assert loaded == expected


@pytest.mark.parametrize(
    "shape",
    [
        {"query_includes_activities": False},
        {"query_includes_activities": False, "visitor_activity_element": "visitor_activity"},
        {"query_includes_activities": True},
    ],
    ids=["docs-shape", "other-element-name", "query-carries-activities"],
)
def test_the_event_feed_fills_visitor_activities_whatever_the_query_carries(
    isolated_environment: Path, shape: dict[str, Any]
) -> None:
    config = EmulatorConfig(opportunities=300, seed=13, **shape)
    for harness in start_harness(isolated_environment, config):
        first = harness.run()
        assert first.exit_code == 0, first.message
        assert harness.emulator.request_count("read") == 0
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)
        new = harness.emulator.add_opportunities(30)
        harness.emulator.update_opportunity(new[0], status="won")
        summary = harness.run()
        assert summary.exit_code == 0, summary.message
        assert harness.emulator.request_count("read") == 0, "no read: the feed names them"
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def _has_table(harness: Harness, table: str) -> bool:
    return bool(
        harness.warehouse().query(
            f"select 1 from information_schema.tables where table_schema = 'pardot' "
            f"and table_name = '{table}'"
        )
    )


def test_dst_zone_timestamps_are_utc(isolated_environment: Path) -> None:
    """Data spread over two years in New York crosses every DST transition."""
    config = EmulatorConfig(opportunities=900, seed=23, timezone="America/New_York")
    for harness in start_harness(isolated_environment, config):
        assert harness.run().exit_code == 0
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)
        offsets = harness.warehouse().query(
            "select count(distinct (timezone('America/New_York', created_at) - "
            "timezone('UTC', created_at))) from opportunities"
        )
        assert offsets[0][0] == 2, "both EST and EDT instants were loaded"


def test_a_new_or_deleted_warehouse_file_is_loaded_in_full(harness: Harness) -> None:
    """dlt keeps the cursor in a working folder named after the pipeline: pointed at an
    empty warehouse, a run must not trust it and load nothing."""
    harness.run()
    harness.database.unlink()
    summary = harness.run()
    assert summary.exit_code == 0, summary.message
    assert summary.opportunities == live_count(harness)
    assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def test_the_same_command_in_another_folder_fills_that_folders_warehouse(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt resolves a relative DuckDB path against the folder of the pipeline's previous
    run; ``pardot-sync run`` must write where it is run, and load it in full."""
    for folder in ("first", "second"):
        here = harness.root / folder
        here.mkdir()
        monkeypatch.chdir(here)
        summary = run_sync(
            destination=default_destination("duckdb"),
            pipelines_dir=str(harness.pipelines_dir),
            **harness.source_options(),
        )
        assert summary.exit_code == 0, summary.message
        warehouse = Warehouse(here / DEFAULT_DUCKDB_FILE)
        assert_matches_ground_truth(warehouse, harness.emulator)


@pytest.mark.parametrize("configured", [False, True], ids=["argument", "config-key"])
def test_a_checkpointed_run_commits_a_package_per_checkpoint_and_ends_exact(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, configured: bool
) -> None:
    """Loaded and committed every 300 opportunities, yet the same rows and requests."""
    if configured:
        monkeypatch.setenv("SOURCES__PARDOT__CHECKPOINT_EVERY", "300")
    summary = harness.run() if configured else harness.run(checkpoint_every=300)
    assert summary.exit_code == 0, summary.message
    live = live_count(harness)
    assert summary.checkpoints == live // 300
    loads = harness.warehouse().query("select count(*) from _dlt_loads where status = 0")
    assert loads == [(summary.checkpoints + 1,)], "one package per checkpoint, and the last"
    assert queries(harness) == math.ceil(live / 200), "checkpoints cost no request"
    assert_matches_ground_truth(harness.warehouse(), harness.emulator)
