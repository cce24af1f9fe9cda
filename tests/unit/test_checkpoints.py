"""Checkpoints: when a run pauses, and that a paused run ends like an unbroken one.

``CheckpointClock`` on its own, with its clock set by hand; then ``sync_opportunities``
against the in-process emulator (``httpx.WSGITransport``). There the test plays dlt's
part: at each ``CHECKPOINT`` it keeps a deep copy of the state (what dlt commits with the
package) and resumes the run with another copy (what the next package starts from).
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sources.pardot import checkpoints
from sources.pardot.auth import Credentials
from sources.pardot.checkpoints import EARLY_MIN, FIRST_PAUSE, CheckpointClock
from sources.pardot.client import PardotClient
from sources.pardot.config import SyncSettings
from sources.pardot.planner import SyncState
from sources.pardot.sync import CHECKPOINT, SyncReport, sync_opportunities
from sources.pardot_emulator import EmulatorConfig, FaultConfig, PardotEmulator

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PAGE_SIZE = 50


@pytest.fixture(scope="module")
def emulator() -> PardotEmulator:
    return PardotEmulator(EmulatorConfig(opportunities=1000, seed=11, realtime_clock=False))


def _clock(
    *,
    every: int = 100_000,
    committed: int = 0,
    elapsed: float,
    busy: float = 0.0,
    pages: int = 10,
    ahead: int = 20,
) -> CheckpointClock:
    """A two-core clock whose last checkpoint was ``elapsed`` seconds ago, since which the
    process used ``busy`` seconds of CPU (this test's own CPU time is negligible)."""
    clock = CheckpointClock(every, ahead=ahead, cores=2, committed=committed, pages=pages)
    clock.since = time.monotonic() - elapsed
    clock.cpu_since = time.process_time() - busy
    return clock


def test_no_checkpoint_when_they_are_off() -> None:
    assert not _clock(every=0, elapsed=100).due(10**6)


def test_a_checkpoint_every_n_opportunities_whatever_the_run_does() -> None:
    busy = _clock(every=50_000, committed=50_000, elapsed=0.1, busy=0.2)
    assert not busy.due(99_999)
    assert busy.due(100_000) == "every"


def test_a_run_on_an_idle_machine_checkpoints_early() -> None:
    assert _clock(elapsed=4, busy=0.5).due(EARLY_MIN) == "early"
    assert not _clock(elapsed=4, busy=0.5).due(EARLY_MIN - 1), "too small a package"
    # 3.8 of 8 core-seconds: five requests in flight at 200 ms use about a third
    assert _clock(elapsed=4, busy=3.8).due(EARLY_MIN) == "early"
    # 4.2 of 8: bound by CPU, the load would take cores that the run needs
    assert not _clock(elapsed=4, busy=4.2).due(EARLY_MIN), "busy: the load would cost time"
    # The load would take more than a quarter of the time since the last checkpoint.
    assert not _clock(elapsed=3.9 * FIRST_PAUSE).due(EARLY_MIN)
    slow = _clock(elapsed=3)
    slow.pause = 1.0  # a destination that takes a second a load: wait 4 s
    assert not slow.due(EARLY_MIN)


def test_no_early_checkpoint_when_pages_arrive_faster_than_the_queue_holds_a_pause() -> None:
    # 40 pages a second for a 0.5 s pause: 20 pages, as many as the workers may fetch ahead
    assert _clock(elapsed=3, pages=120, ahead=20).due(EARLY_MIN)
    # 60 a second: the workers would stall during the pause, so it is not free
    assert not _clock(elapsed=3, pages=180, ahead=20).due(EARLY_MIN)


def test_early_checkpoints_grow_with_the_run_so_they_stay_few() -> None:
    assert not _clock(committed=100_000, elapsed=10).due(124_999)
    assert _clock(committed=100_000, elapsed=10).due(125_000)


def test_the_clock_measures_its_pauses_and_starts_afresh() -> None:
    clock = _clock(elapsed=5, busy=4)
    clock.pausing(7_000)
    time.sleep(0.05)
    clock.resumed()
    assert clock.committed == 7_000 and clock.pages == 0
    assert 0.05 <= clock.pause < 1 and time.monotonic() - clock.since < 1
    assert time.process_time() - clock.cpu_since < 0.5


def _client(emulator: PardotEmulator, workers: int) -> PardotClient:
    config = emulator.config
    return PardotClient(
        base_url="https://pi.pardot.test",
        business_unit_id=config.business_unit_id,
        credentials=Credentials(access_token=config.default_token),
        http=httpx.Client(transport=httpx.WSGITransport(app=emulator.app)),
        max_concurrency=workers,
    )


def _run(
    emulator: PardotEmulator, workers: int, checkpoint_every: int
) -> tuple[dict[str, Any], list[int], list[dict[str, Any]], SyncReport]:
    """(final state, opportunity ids handed out, committed states at checkpoints, report)."""
    settings = SyncSettings.from_values(
        timezone=emulator.config.timezone,
        page_size=PAGE_SIZE,
        max_concurrency=workers,
        batch_size=PAGE_SIZE,
        checkpoint_every=checkpoint_every,
    )
    client = _client(emulator, workers)
    report = SyncReport()
    state: dict[str, Any] = {}
    run = sync_opportunities(client, settings, state, report, now=NOW)
    ids: list[int] = []
    committed: list[dict[str, Any]] = []
    try:
        item = next(run)
        while True:
            if item is CHECKPOINT:
                assert report.outcome == "checkpoint"
                committed.append(copy.deepcopy(state))
                state = copy.deepcopy(committed[-1])
                item = run.send(state)
                continue
            name, table = item
            if name == "opportunities":
                ids += table.column("id").to_pylist()
            item = next(run)
    except StopIteration:
        pass
    finally:
        client.close()
    return state, ids, committed, report


@pytest.mark.parametrize("workers", [1, 4], ids=["sequential", "concurrent"])
def test_a_checkpointed_run_ends_with_the_state_and_rows_of_an_unbroken_one(
    emulator: PardotEmulator, workers: int
) -> None:
    whole_state, whole_ids, none, whole = _run(emulator, workers, checkpoint_every=0)
    state, ids, committed, report = _run(emulator, workers, checkpoint_every=200)

    assert none == [] and whole.checkpoints == 0
    live = sum(not row["is_deleted"] for row in emulator.ground_truth()["opportunities"])
    assert len(committed) == report.checkpoints == live // 200
    assert report.outcome == whole.outcome == "complete"
    assert sorted(ids) == sorted(whole_ids) and len(set(ids)) == live
    assert report.requests == whole.requests, "pausing costs no request"
    assert state == whole_state


@pytest.mark.parametrize("workers", [1, 4], ids=["sequential", "concurrent"])
def test_each_committed_state_resumes_exactly_after_what_was_handed_out(
    emulator: PardotEmulator, workers: int
) -> None:
    _, ids, committed, _ = _run(emulator, workers, checkpoint_every=200)
    handed_out = 0
    for state in committed:
        saved = SyncState(state)
        known = saved.known_ids.to_pylist()
        assert len(known) > handed_out, "each checkpoint commits more"
        handed_out = len(known)
        assert sorted(known) == sorted(ids[:handed_out])
        sweep = saved.unfinished_sweep()
        assert sweep is not None and sweep.kind == "full"
        assert sorted(sweep.seen_before.to_pylist()) == sorted(known)
        # Every id not yet handed out lies in a range left to read; no handed-out one does.
        rest = ids[handed_out:]
        assert all(_inside(i, sweep.ranges) for i in rest)
        assert not any(_inside(i, sweep.ranges) for i in known)


def _inside(opportunity_id: int, ranges: tuple[tuple[int | None, int | None], ...]) -> bool:
    return any(
        (lo is None or opportunity_id > lo) and (hi is None or opportunity_id < hi)
        for lo, hi in ranges
    )


def test_abandoning_a_paused_run_stops_its_threads_and_keeps_its_progress(
    emulator: PardotEmulator,
) -> None:
    settings = SyncSettings.from_values(
        timezone=emulator.config.timezone,
        page_size=10,  # 100 pages: far more than the workers may fetch ahead
        max_concurrency=4,
        checkpoint_every=200,
    )
    client = _client(emulator, 4)
    report = SyncReport()
    state: dict[str, Any] = {}
    run = sync_opportunities(client, settings, state, report, now=NOW)
    while next(run) is not CHECKPOINT:
        pass
    assert _fetch_threads(), "the paused run's workers are still there"
    report.paused = run
    report.abandon()
    client.close()

    assert report.paused is None
    assert not _fetch_threads()
    with pytest.raises(StopIteration):
        next(run)
    assert SyncState(state).unfinished_sweep() is not None


def _fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pardot-fetch")]


def test_a_run_slowed_by_latency_checkpoints_early_and_ends_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 100 ms a request (40 of them) the machine mostly waits: the run loads as it
    goes, far below ``checkpoint_every`` (the smallest early package scaled down to 500,
    and the first pause, before one is measured, to 50 ms)."""
    monkeypatch.setattr(checkpoints, "EARLY_MIN", 500)
    monkeypatch.setattr(checkpoints, "FIRST_PAUSE", 0.05)
    slow = PardotEmulator(EmulatorConfig(opportunities=2000, seed=3, realtime_clock=False))
    slow.set_faults(FaultConfig(latency_seconds=0.1))
    _, ids, committed, report = _run(slow, 1, checkpoint_every=1_000_000)
    live = sum(not row["is_deleted"] for row in slow.ground_truth()["opportunities"])
    assert report.checkpoints == len(committed) >= 2
    assert report.outcome == "complete" and sorted(ids) == sorted(set(ids)) and len(ids) == live
    sizes = [len(SyncState(s).known_ids) for s in committed]
    assert sizes[0] >= 500
    assert all(b - a >= max(500, a // 4) for a, b in itertools.pairwise(sizes))
