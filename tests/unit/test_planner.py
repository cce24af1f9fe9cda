"""Sweep planning and the compact id set kept in dlt's state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.pardot.config import SyncSettings
from sources.pardot.idset import decode_ids, encode_ids
from sources.pardot.planner import SyncState, local_day, plan_scan

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def state_after_first_run() -> SyncState:
    state = SyncState({})
    state.advance(500, "2024-06-01 07:59:00")
    state.mark_swept("full", NOW)
    return state


def test_first_run_is_a_full_sweep_from_start_date() -> None:
    settings = SyncSettings.from_values(timezone="America/New_York", start_date="2024-01-01")
    scan = plan_scan(SyncState({}), settings, NOW)
    assert (scan.kind, scan.created_after, scan.ranges) == (
        "full",
        "2023-12-31 23:59:59",
        ((None, None),),
    )


def test_nothing_due_means_new_opportunities_after_the_cursor() -> None:
    scan = plan_scan(state_after_first_run(), SyncSettings(), NOW + timedelta(minutes=5))
    assert (scan.kind, scan.ranges) == ("new", ((500, None),))
    assert scan.created_after == "2024-05-31 07:59:00", "one day of margin, local time"


def test_recent_and_full_sweeps_come_due_on_their_cadence() -> None:
    state = state_after_first_run()
    settings = SyncSettings(timezone="America/New_York", recent_sweep_days=30)
    recent = plan_scan(state, settings, NOW + timedelta(minutes=61))
    assert recent.kind == "recent"
    assert recent.created_after == "2024-05-02 09:01:00", "30 days before now, local"
    assert recent.ranges == ((None, None),)
    state.mark_swept("recent", NOW + timedelta(minutes=61))
    assert plan_scan(state, settings, NOW + timedelta(minutes=70)).kind == "new"
    assert plan_scan(state, settings, NOW + timedelta(hours=24)).kind == "recent"
    assert plan_scan(state, settings, NOW + timedelta(hours=168)).kind == "full", "weekly"


@pytest.mark.parametrize(
    ("every", "kind"),
    [pytest.param(0, "full", id="every-run"), pytest.param(-1, "new", id="never")],
)
def test_full_sweep_cadence_switches(every: int, kind: str) -> None:
    settings = SyncSettings(full_sweep_every_hours=every, recent_sweep_every_minutes=-1)
    assert plan_scan(state_after_first_run(), settings, NOW + timedelta(days=9)).kind == kind


def test_forced_full_sweep() -> None:
    scan = plan_scan(state_after_first_run(), SyncSettings(), NOW, force_full=True)
    assert scan.kind == "full"


def test_cursor_never_moves_back() -> None:
    state = state_after_first_run()
    state.advance(100, "2020-01-01 00:00:00")
    assert state.last_id == 500


def test_daily_request_tally_resets_on_a_new_local_day() -> None:
    state = SyncState({})
    day = local_day(NOW, "America/New_York")
    state.set_requests_today(day, 30)
    assert state.requests_today(day) == 30
    state.set_requests_today(day, 42)
    assert state.requests_today(day) == 42
    assert state.requests_today("2024-06-02") == 0
    assert local_day(datetime(2024, 6, 2, 3, 0, tzinfo=UTC), "America/New_York") == "2024-06-01"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**62), max_size=300))
def test_id_set_round_trips(ids: list[int]) -> None:
    assert decode_ids(encode_ids(ids)).to_pylist() == sorted(set(ids))


def test_id_set_of_a_million_opportunities_stays_small() -> None:
    """Measured sizes in the state: the figures the README quotes."""
    dense = pa.array(range(10_000_000, 11_000_000), pa.int64())
    assert len(encode_ids(dense)) < 5_000
    rng = random.Random(4)
    gaps = [rng.randint(1, 100) for _ in range(1_000_000)]
    sparse: list[int] = []
    total = 10_000_000
    for gap in gaps:
        total += gap
        sparse.append(total)
    encoded = encode_ids(sparse)
    assert len(encoded) < 1_300_000
    assert decode_ids(encoded).to_pylist() == sparse


def test_corrupt_id_set_is_refused() -> None:
    encoded = encode_ids([1, 2, 3])
    tag, count, rest = encoded.split(":", 2)
    with pytest.raises(ValueError, match="corrupt"):
        decode_ids(f"{tag}:{int(count) + 1}:{rest}")
