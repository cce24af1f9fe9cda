"""The v5 update feed against the emulator's API v5: edits no event announces, caught by
the next run; the cache lag, the token chain's cap, an account without v5, the daily
limit and a failure inside the feed; bounds sent with their offsets.

Every test runs on the emulator's clock (it moves only when told) with the sweeps off,
so what shows in the warehouse is what the event feed, the v5 feed and the delete check
found, and ends with the tables equal to the emulator's ground truth.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipelines.runner import RunSummary
from pipelines.status import pipeline_status, render
from sources.pardot import sync_state
from sources.pardot.v5feed import LAG_MARGIN
from sources.pardot_emulator import EmulatorConfig

from .conftest import Harness, start_harness
from .truth import assert_matches_ground_truth, assert_no_duplicates, shown_instant

V5 = {"v5_feed": True, "full_sweep_every_hours": -1, "recent_sweep_every_minutes": -1}
EDITS: list[dict[str, Any]] = [
    {"name": "Renamed by v5"},
    {"value": 777.25},
    {"probability": 13},
    {"type": "Renewal"},
    {"stage": "Negotiation/Review"},
    {"closed_at": "2024-05-01T10:00:00+00:00"},
]


def clocked_harness(root: Path, **config: Any) -> Iterator[Harness]:
    defaults: dict[str, Any] = {"opportunities": 400, "seed": 17, "realtime_clock": False}
    yield from start_harness(root, EmulatorConfig(**{**defaults, **config}))


@pytest.fixture
def clocked(isolated_environment: Path) -> Iterator[Harness]:
    yield from clocked_harness(isolated_environment)


def run(harness: Harness, **options: Any) -> RunSummary:
    return harness.run(now=harness.emulator.now(), **{**V5, **options})


def v5_requests(harness: Harness) -> int:
    return harness.emulator.request_count("v5_opportunity_query")


def old_live_ids(harness: Harness) -> list[int]:
    truth = harness.emulator.ground_truth()["opportunities"]
    return sorted(o["id"] for o in truth if not o["is_deleted"])


def edit(harness: Harness, ids: list[int], changes: list[dict[str, Any]]) -> None:
    """One edit per opportunity, a minute apart, none changing the status."""
    for opportunity_id, fields in zip(ids, changes, strict=True):
        values = dict(fields)
        if "closed_at" in values:
            values["closed_at"] = datetime.fromisoformat(values["closed_at"])
        harness.emulator.update_opportunity(opportunity_id, **values)
        harness.emulator.advance_clock(60)


def started(harness: Harness) -> RunSummary:
    """The first run with the feed on: a backfill that only sets the v5 watermark (an hour
    after the generated data's last edit, so that only the test's edits are new to v5)."""
    harness.emulator.advance_clock(3600)
    first = run(harness)
    assert first.exit_code == 0, first.message
    assert v5_requests(harness) == 0, "no deep v5 backfill: the watermark starts here"
    harness.emulator.advance_clock(600)
    return first


def test_edits_of_every_tracked_field_are_caught_by_the_next_run(clocked: Harness) -> None:
    started(clocked)
    ids = old_live_ids(clocked)[:: len(EDITS) * 7][: len(EDITS)]
    edit(clocked, ids, EDITS)
    clocked.emulator.advance_clock(300)

    second = run(clocked)

    assert second.exit_code == 0, second.message
    assert second.changes["activity_feed"]["events"] == 0, "no event announced these edits"
    assert second.changes["v5_feed"] == {"requests": 1, "updated": len(EDITS), "refused": 0}
    assert second.changes["activity_feed"]["refresh_requests"] <= len(EDITS)
    assert second.rows["opportunity_history"] == len(EDITS)
    assert_matches_ground_truth(clocked.warehouse(), clocked.emulator)

    clocked.emulator.advance_clock(600)
    idle = run(clocked)
    assert idle.changes["v5_feed"]["updated"] == 0, "the overlap of windows is not re-read"
    assert idle.requests == 4, "feed, v5, new opportunities, delete check"


def test_an_undelete_v5_names_comes_back_with_its_activities(clocked: Harness) -> None:
    """Found by the day of changes: v5 names an undeleted opportunity (its updatedAt moves),
    so its re-read, not the delete check, finds it back; its activities, never loaded
    (it was deleted before the first run), must come too."""
    (target,) = old_live_ids(clocked)[9:10]
    clocked.emulator.delete_opportunity(target)
    started(clocked)
    assert target not in clocked.warehouse().ids()
    clocked.emulator.undelete_opportunity(target)
    clocked.emulator.advance_clock(300)

    back = run(clocked)

    assert back.changes["v5_feed"]["updated"] == 1
    assert back.undeleted == 1
    assert_matches_ground_truth(clocked.warehouse(), clocked.emulator)
    sql = f"select count(*) from visitor_activities where opportunity_id = {target}"
    assert clocked.warehouse().query(sql)[0][0] > 0
    changes = clocked.warehouse().query(
        f"select change from opportunity_history where opportunity_id = {target} order by version"
    )
    assert changes == [("first_seen",)]


def test_an_edit_inside_the_cache_lag_is_caught_by_the_run_after(clocked: Harness) -> None:
    clocked.emulator.set_switches(v5_cache_lag_seconds=60)
    started(clocked)
    (target,) = old_live_ids(clocked)[5:6]
    clocked.emulator.update_opportunity(target, stage="Lagging behind")
    clocked.emulator.advance_clock(20)  # v5 does not show it yet

    second = run(clocked)
    assert second.changes["v5_feed"]["updated"] == 0
    loaded = clocked.warehouse().query(f"select stage from opportunities where id = {target}")
    assert loaded != [("Lagging behind",)]

    clocked.emulator.advance_clock(LAG_MARGIN.total_seconds() - 30)
    third = run(clocked)
    assert third.changes["v5_feed"]["updated"] == 1
    assert_matches_ground_truth(clocked.warehouse(), clocked.emulator)


def test_a_window_past_the_chain_cap_goes_on_from_the_last_update(clocked: Harness) -> None:
    clocked.emulator.set_switches(v5_chain_cap=40)
    started(clocked)
    ids = old_live_ids(clocked)[:130]
    edit(clocked, ids, [{"probability": 1 + i % 98} for i in range(len(ids))])

    second = run(clocked)

    assert second.changes["v5_feed"]["updated"] == len(ids)
    assert 4 <= second.changes["v5_feed"]["requests"] <= 5, "one window per chain of 40"
    assert_matches_ground_truth(clocked.warehouse(), clocked.emulator)


def test_an_account_without_v5_goes_on_without_it_and_says_so_once(
    clocked: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    started(clocked)
    clocked.emulator.set_switches(v5_enabled=False)
    ids = old_live_ids(clocked)
    clocked.emulator.update_opportunity(ids[0], status="won")  # the event feed still works
    caplog.set_level(logging.WARNING)

    second = run(clocked)
    assert second.exit_code == 0, second.message
    assert second.changes["v5_feed"] == {"requests": 1, "updated": 0, "refused": 1}
    warnings = [r for r in caplog.records if "v5" in r.getMessage()]
    assert len(warnings) == 1 and "not available" in warnings[0].getMessage()
    status = pipeline_status(pipelines_dir=str(clocked.pipelines_dir))
    assert status["v5_feed"]["refused_at"] is not None
    assert "refused by the account" in render(status)
    assert_matches_ground_truth(clocked.warehouse(), clocked.emulator)

    caplog.clear()
    clocked.emulator.advance_clock(3600)
    third = run(clocked)
    assert third.changes["v5_feed"] == {"requests": 0, "updated": 0, "refused": 1}
    assert not [r for r in caplog.records if "v5" in r.getMessage()], "said once"

    clocked.emulator.set_switches(v5_enabled=True)
    clocked.emulator.advance_clock(days=1)
    clocked.emulator.update_opportunity(ids[1], stage="Seen again")
    clocked.emulator.advance_clock(300)
    fourth = run(clocked)
    assert fourth.changes["v5_feed"]["refused"] == 0
    assert fourth.changes["v5_feed"]["updated"] >= 1
    assert_matches_ground_truth(clocked.warehouse(), clocked.emulator)


def test_the_daily_limit_inside_the_feed_stops_cleanly_and_the_next_day_resumes_exactly(
    clocked: Harness,
) -> None:
    emulator = clocked.emulator
    started(clocked)
    ids = old_live_ids(clocked)
    edit(clocked, ids[:3], [{"stage": "Before the limit"}] * 3)
    emulator.advance_clock(300)
    emulator.set_switches(v5_chain_cap=2)  # three windows, a request each
    # The event feed's request and the first v5 window pass; the second window is refused.
    emulator.daily.limit = emulator.daily.used(emulator.time.local_date(emulator.now())) + 2

    stopped = run(clocked)

    assert (stopped.exit_code, stopped.outcome) == (75, "daily_limit")
    assert stopped.changes["v5_feed"]["requests"] == 2
    waiting = sync_state_of(clocked)
    assert waiting.v5_watermark is not None
    assert set(waiting.refresh_ids.to_pylist()) <= set(ids[:3])

    emulator.daily.limit = None
    emulator.advance_clock(days=1)
    resumed = run(clocked)
    assert resumed.exit_code == 0, resumed.message
    assert_matches_ground_truth(clocked.warehouse(), emulator)
    assert_no_duplicates(clocked.warehouse())
    history = clocked.warehouse().query(
        "select count(*) from opportunity_history where change = 'updated'"
    )
    assert history == [(3,)], "each edit recorded once"


def test_a_run_failing_inside_the_feed_commits_nothing_and_the_next_run_is_exact(
    clocked: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    started(clocked)
    ids = old_live_ids(clocked)
    edit(clocked, ids[:2], [{"value": 1.5}, {"name": "Failed once"}])
    clocked.emulator.advance_clock(300)
    before = sync_state_of(clocked).v5_watermark
    from sources.pardot import changes

    def broken(*args: Any, **kwargs: Any) -> Iterator[Any]:
        yield [(ids[0], clocked.emulator.now())]
        raise RuntimeError("the machine went away")

    monkeypatch.setattr(changes, "read_updates", broken)
    failed = run(clocked)
    assert failed.exit_code == 1
    assert sync_state_of(clocked).v5_watermark == before, "nothing committed"
    monkeypatch.undo()

    again = run(clocked)
    assert again.changes["v5_feed"]["updated"] == 2
    assert_matches_ground_truth(clocked.warehouse(), clocked.emulator)
    assert_no_duplicates(clocked.warehouse())


@pytest.mark.parametrize("timezone", ["Asia/Kolkata", "America/Los_Angeles"])
def test_bounds_go_with_their_offset_and_v5_times_agree_with_the_tables(
    isolated_environment: Path, timezone: str
) -> None:
    for harness in clocked_harness(isolated_environment, timezone=timezone):
        started(harness)
        (target,) = old_live_ids(harness)[7:8]
        harness.emulator.update_opportunity(target, value=4242.0)
        harness.emulator.advance_clock(300)
        second = run(harness)
        assert second.changes["v5_feed"]["updated"] == 1
        (record,) = [
            r for r in harness.emulator.request_log if r.operation == "v5_opportunity_query"
        ]
        sent = datetime.fromisoformat(record.params["updatedAtAfterOrEqualTo"])
        offset = sent.utcoffset()
        assert offset == sent.astimezone(sent.tzinfo).utcoffset() and offset is not None
        assert (offset > timedelta(0)) == (timezone == "Asia/Kolkata")
        config = harness.emulator.config
        answer = httpx.get(
            f"{harness.base_url}/api/v5/objects/opportunities",
            params={"fields": "id,updatedAt", "idGreaterThanOrEqualTo": target, "limit": 1},
            headers={
                "Authorization": f"Bearer {config.default_token}",
                "Pardot-Business-Unit-Id": config.business_unit_id,
            },
        ).json()["values"][0]
        assert answer["id"] == target
        seen = datetime.fromisoformat(answer["updatedAt"])
        assert seen.utcoffset() == offset, "v5 renders the account's offset"
        (loaded,) = harness.warehouse().query(
            f"select updated_at from opportunities where id = {target}"
        )
        truth = next(
            o for o in harness.emulator.ground_truth()["opportunities"] if o["id"] == target
        )
        assert seen == loaded[0] == shown_instant(truth["updated_at"], timezone), "one instant"
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def sync_state_of(harness: Harness) -> Any:
    import dlt

    pipeline = dlt.pipeline("pardot", pipelines_dir=str(harness.pipelines_dir))
    return sync_state(pipeline)


@pytest.mark.parametrize("bumps", [False, True], ids=["link-keeps-updatedAt", "link-bumps-it"])
def test_a_link_is_read_once_whether_or_not_it_moves_updated_at(
    clocked: Harness, bumps: bool
) -> None:
    """Unknown for Pardot: whether linking a prospect moves ``updatedAt``. Either way the
    event feed names the opportunity, v5 may too, and it is re-read once."""
    clocked.emulator.set_switches(link_bumps_updated_at=bumps)
    started(clocked)
    (target,) = old_live_ids(clocked)[11:12]
    links = clocked.warehouse().query("select prospect_id from opportunity_prospects")
    linked = {prospect for (prospect,) in links}
    prospect = next(
        p["id"] for p in clocked.emulator.ground_truth()["prospects"] if p["id"] not in linked
    )
    clocked.emulator.link_prospect(target, prospect)
    clocked.emulator.advance_clock(300)

    second = run(clocked)

    assert second.changes["v5_feed"]["updated"] == (1 if bumps else 0)
    assert second.changes["activity_feed"]["events"] == 1
    assert second.changes["activity_feed"]["refresh_requests"] == 1, "one re-read"
    assert_matches_ground_truth(clocked.warehouse(), clocked.emulator)
