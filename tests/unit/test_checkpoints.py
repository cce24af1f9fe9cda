"""Checkpoints: a run paused every N opportunities ends exactly like an unbroken one.

``sync_opportunities`` against the in-process emulator (``httpx.WSGITransport``). The
test plays dlt's part: at each ``CHECKPOINT`` it keeps a deep copy of the state (what
dlt commits with the package) and resumes the run with another copy (what the next
package starts from).
"""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sources.pardot.auth import Credentials
from sources.pardot.client import PardotClient
from sources.pardot.config import SyncSettings
from sources.pardot.planner import SyncState
from sources.pardot.sync import CHECKPOINT, SyncReport, sync_opportunities
from sources.pardot_emulator import EmulatorConfig, PardotEmulator

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PAGE_SIZE = 50


@pytest.fixture(scope="module")
def emulator() -> PardotEmulator:
    return PardotEmulator(EmulatorConfig(opportunities=1000, seed=11, realtime_clock=False))


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
