"""The daily API limit and daily_request_budget: stop cleanly, resume exactly."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.runner import EXIT_CONFIG, EXIT_DAILY_LIMIT
from sources.pardot_emulator import EmulatorConfig

from .conftest import Harness, start_harness
from .truth import assert_matches_ground_truth, assert_no_duplicates

SCAN_ONLY = {"activity_feed": False, "delete_check": False}
"""These tests count the scan's pages against the limit: the event feed's history and the
delete check have their own test below."""


@pytest.fixture
def limited(isolated_environment: Path) -> Iterator[Harness]:
    """About 970 live opportunities (5 pages) and a daily limit of 3 requests."""
    config = EmulatorConfig(
        opportunities=1000,
        seed=12,
        daily_limit=3,
        realtime_clock=False,
        query_includes_activities=True,  # the scan alone loads the activities here
    )
    for harness in start_harness(isolated_environment, config):
        harness.options.update(SCAN_ONLY)
        yield harness


def live(harness: Harness) -> int:
    return sum(not o["is_deleted"] for o in harness.emulator.ground_truth()["opportunities"])


def test_daily_limit_mid_backfill_saves_progress_and_resumes_with_what_is_left(
    limited: Harness,
) -> None:
    total = live(limited)
    first = limited.run()
    assert first.exit_code == EXIT_DAILY_LIMIT
    assert first.outcome == "daily_limit"
    assert "run again after the daily limit resets" in (first.message or "")
    assert limited.warehouse().count("opportunities") == 600, "three pages were loaded"
    assert limited.emulator.request_count("query") == 4, "the fourth was answered 122"

    same_day = limited.run()
    assert same_day.exit_code == EXIT_DAILY_LIMIT
    assert limited.warehouse().count("opportunities") == 600, "nothing lost, nothing doubled"

    limited.emulator.advance_clock(days=1)
    resumed = limited.run()
    assert resumed.exit_code == 0, resumed.message
    assert resumed.scan == "full", "the interrupted first sweep is resumed"
    assert limited.emulator.request_count("query") == math.ceil((total - 600) / 200)
    assert resumed.opportunities == total - 600
    assert_matches_ground_truth(limited.warehouse(), limited.emulator)


def test_request_budget_stops_before_the_limit_and_resumes_within_a_larger_one(
    isolated_environment: Path,
) -> None:
    config = EmulatorConfig(
        opportunities=1000, seed=12, realtime_clock=False, query_includes_activities=True
    )
    for harness in start_harness(isolated_environment, config):
        harness.options.update(SCAN_ONLY)
        total = live(harness)
        first = harness.run(daily_request_budget=2)
        assert first.exit_code == EXIT_DAILY_LIMIT
        assert harness.emulator.request_count("query") == 2, "no request past the budget"
        assert harness.warehouse().count("opportunities") == 400

        spent = harness.run(daily_request_budget=2)
        assert spent.exit_code == EXIT_DAILY_LIMIT
        assert harness.emulator.request_count("query") == 0, "today's budget is spent"

        more = harness.run(daily_request_budget=10)
        assert more.exit_code == 0, more.message
        assert harness.emulator.request_count("query") == math.ceil((total - 400) / 200)
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def test_a_deletion_is_found_by_a_sweep_resumed_across_days(limited: Harness) -> None:
    limited.run()  # stops at the limit after three pages
    ids = sorted(
        o["id"] for o in limited.emulator.ground_truth()["opportunities"] if not o["is_deleted"]
    )
    limited.emulator.advance_clock(days=1)
    assert limited.run().exit_code == 0
    limited.emulator.advance_clock(days=1)
    limited.emulator.delete_opportunity(ids[-1])  # in the part read on the second day
    limited.emulator.delete_opportunity(ids[0])  # in the part read on the first day
    swept = limited.run(full_sweep_every_hours=0)
    assert swept.exit_code == EXIT_DAILY_LIMIT
    limited.emulator.advance_clock(days=1)
    finished = limited.run(full_sweep_every_hours=0)
    assert finished.exit_code == 0, finished.message
    assert finished.deleted == 2
    assert_matches_ground_truth(limited.warehouse(), limited.emulator, deleted={ids[0], ids[-1]})


@pytest.mark.parametrize("status", [429, 503])
def test_a_daily_limit_at_http_429_or_503_stops_cleanly_and_the_next_day_is_exact(
    isolated_environment: Path, status: int
) -> None:
    """The body (error 122, here in JSON) decides, not the status: exit 75 at once, not
    a transient failure retried into exit 1."""
    config = EmulatorConfig(
        opportunities=1000,
        seed=12,
        daily_limit=3,
        daily_limit_status=status,
        json_errors=True,
        realtime_clock=False,
        query_includes_activities=True,
    )
    for harness in start_harness(isolated_environment, config):
        harness.options.update(SCAN_ONLY)
        total = live(harness)
        first = harness.run()
        assert first.exit_code == EXIT_DAILY_LIMIT, first.message
        assert harness.emulator.request_count("query") == 4, "the fourth met the limit, once"
        assert harness.warehouse().count("opportunities") == 600

        harness.emulator.advance_clock(days=1)
        resumed = harness.run()
        assert resumed.exit_code == 0, resumed.message
        assert resumed.opportunities == total - 600
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)


@pytest.mark.parametrize("max_concurrency", [1, 4])
def test_the_daily_limit_stops_the_event_feed_and_the_next_days_resume_it_exactly(
    isolated_environment: Path, max_concurrency: int
) -> None:
    """With the defaults (event feed and delete check on): a first run whose feed history
    outlasts the day's limit stops with exit 75; the next days go on from the last event
    read, never from the start, and end exact, nothing lost or doubled."""
    config = EmulatorConfig(opportunities=300, seed=12, daily_limit=4, realtime_clock=False)
    for harness in start_harness(isolated_environment, config):
        harness.options["max_concurrency"] = max_concurrency
        history = sum(
            1
            for a in harness.emulator.ground_truth()["visitor_activities"]
            if a["type"] in (8, 9, 10, 18, 19, 38)
        )
        assert history > 3 * 200, "the feed's history takes several days"
        summaries, feed_requests = [], 0
        for _ in range(8):
            summary = harness.run()
            summaries.append(summary)
            feed_requests += harness.feed_queries()
            if summary.exit_code == 0:
                break
            assert summary.exit_code == EXIT_DAILY_LIMIT, summary.message
            harness.emulator.advance_clock(days=1)
        assert summaries[-1].exit_code == 0, summaries[-1].message
        assert len(summaries) >= 3, "the limit stopped the feed on more than one day"
        days = len(summaries)
        # the newest event id when the sweep began, every page of the history once, and at
        # most one page a day asked again after 122
        assert feed_requests <= 1 + history // 200 + 1 + days
        assert sum(s.changes["activity_feed"]["events"] for s in summaries) == history
        warehouse = harness.warehouse()
        assert_matches_ground_truth(warehouse, harness.emulator)
        assert_no_duplicates(warehouse)


@pytest.mark.parametrize("json_errors", [False, True], ids=["xml", "json"])
def test_a_setting_only_an_administrator_can_change_exits_2_before_any_data(
    isolated_environment: Path, json_errors: bool
) -> None:
    config = EmulatorConfig(
        opportunities=300, seed=5, ip_allowlisted=False, json_errors=json_errors
    )
    for harness in start_harness(isolated_environment, config):
        summary = harness.run()
        assert summary.exit_code == EXIT_CONFIG
        assert summary.outcome == "config_error"
        assert "allowed IP addresses" in (summary.message or "")
        assert harness.emulator.request_count() == 1, "not retried"
        loaded = harness.warehouse().query(
            "select count(*) from information_schema.tables where table_name = 'opportunities'"
        )
        assert loaded == [(0,)], "no data loaded"
