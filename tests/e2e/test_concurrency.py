"""Large scans read id ranges side by side within Pardot's limit of 5 in flight."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sources.pardot_emulator import EmulatorConfig, FaultConfig
from sources.pardot_emulator.requestlog import RequestRecord

from .conftest import Harness, start_harness
from .truth import assert_matches_ground_truth


def test_a_backfill_reads_ranges_concurrently_without_a_single_66(
    isolated_environment: Path,
) -> None:
    config = EmulatorConfig(opportunities=3000, seed=41, id_gap=7, realtime_clock=False)
    for harness in start_harness(isolated_environment, config):
        harness.emulator.set_faults(FaultConfig(latency_seconds=0.02))
        summary = harness.run(max_concurrency=5)
        assert summary.exit_code == 0, summary.message
        assert not [r for r in harness.emulator.request_log if r.error_code == 66], (
            "the gate never answered 66"
        )
        log = _scan_log(harness)
        live = summary.opportunities
        floor = math.ceil(live / 200)
        # first page + at most one short page per range (5 ranges)
        assert floor < len(log) <= floor + 1 + 5
        ranges = {r.params.get("id_less_than") for r in log}
        assert len(ranges) > 2, "the id span was split into ranges"
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)
        again = harness.run(max_concurrency=5)
        assert (again.scan, harness.scan_queries(again)) == ("new", 1)


def test_a_backfill_of_unevenly_spread_ids_cuts_the_long_ranges_for_idle_workers(
    isolated_environment: Path,
) -> None:
    # 2,000 old ids, then 2,000 fifty million higher: of 5 equal id slices, 2 hold rows
    config = EmulatorConfig(
        opportunities=4000, seed=43, id_jump=(2000, 50_000_000), realtime_clock=False
    )
    for harness in start_harness(isolated_environment, config):
        harness.emulator.set_faults(FaultConfig(latency_seconds=0.02))
        summary = harness.run(max_concurrency=5)
        assert summary.exit_code == 0, summary.message
        assert not [r for r in harness.emulator.request_log if r.error_code == 66]
        log = _scan_log(harness)
        bounds = {r.params["id_less_than"] for r in log if "id_less_than" in r.params}
        assert len(bounds) > 4, "ranges were cut beyond the 5 of the split"
        # first page + a short page per range, the 5 of the split and the cuts
        floor = math.ceil(summary.opportunities / 200)
        assert len(log) <= floor + 2 + 5 + (len(bounds) - 4)
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)


@pytest.mark.parametrize("id_jump", [None, (1500, 50_000_000)], ids=["even", "jump"])
def test_a_split_scan_stopped_at_the_limit_resumes_only_its_unfinished_ranges(
    isolated_environment: Path, id_jump: tuple[int, int] | None
) -> None:
    config = EmulatorConfig(
        opportunities=3000,
        seed=42,
        daily_limit=7,
        realtime_clock=False,
        id_jump=id_jump,
        query_includes_activities=True,  # the scan alone loads the activities here
    )
    for harness in start_harness(isolated_environment, config):
        # The scan's ranges alone: the event feed's history would take days of its own at
        # 7 requests a day (tests/e2e/test_limits.py stops and resumes the feed).
        harness.options.update(activity_feed=False, delete_check=False)
        first = harness.run(max_concurrency=4)
        assert first.exit_code == 75, first.message
        loaded = harness.warehouse().count("opportunities")
        assert 0 < loaded < first.opportunities + 1
        total_requests = len(harness.emulator.request_log)
        for _ in range(5):
            harness.emulator.advance_clock(days=1)
            summary = harness.run(max_concurrency=4)
            total_requests += len(harness.emulator.request_log)
            if summary.exit_code == 0:
                break
            assert summary.exit_code == 75, summary.message
        assert summary.exit_code == 0, summary.message
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)
        live = harness.warehouse().count("opportunities")
        refused = 6  # one 122 per stopped day, at most
        cuts = 6 if id_jump else 0  # a cut range ends on a short page: one request each
        assert total_requests <= math.ceil(live / 200) + 2 + 4 * 6 + refused + cuts


def _scan_log(harness: Harness) -> list[RequestRecord]:
    """The opportunity queries of a first run: its scan (the event feed has its own)."""
    return [r for r in harness.emulator.request_log if r.operation == "query"]
