"""Seeded fault injection: the real pipeline over loopback against a misbehaving Pardot.

For each (scenario, seed): a first run (a full backfill) and an incremental run go
through the emulator with its fault switches on. Each run must either complete with the
loaded tables equal to the ground truth, or exit non-zero with a message that names the
failed operation; whatever a failed run left loaded is exact. A later clean run (faults
off) must then complete exactly. No row lost, none doubled: every table also has
``count(*) == count(distinct key)``.

A handful of seeds run by default; ``pytest -m soak`` runs many more.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipelines.runner import RunSummary
from sources.pardot_emulator import EmulatorConfig, FaultConfig
from tests.e2e.conftest import Harness
from tests.e2e.truth import assert_matches_ground_truth

from .conftest import (
    assert_loaded_rows_are_exact,
    assert_no_duplicates,
    refresh_credentials,
    serve,
)

PAGE_SIZE = 50
NEW_OPPORTUNITIES = 120


@dataclass(frozen=True)
class Scenario:
    """Fault switches (the random seed is set per case), and how the account answers 184."""

    faults: dict[str, Any]
    token_error_status: int = 401
    refresh: bool = False
    """Refresh-capable credentials instead of a static access token."""
    options: dict[str, Any] = field(default_factory=dict)


SCENARIOS: dict[str, Scenario] = {
    "5xx-bursts": Scenario({"error_5xx_rate": 0.3}),
    "dropped-connections": Scenario({"drop_rate": 0.25}),
    "truncated-bodies": Scenario({"truncate_rate": 0.3}),
    "latency-spikes": Scenario({"latency_seconds": 0.005, "latency_jitter_seconds": 0.15}),
    "66-bursts": Scenario({"burst_66_rate": 0.35}, options={"max_concurrency": 5}),
    "proxy-html-pages": Scenario({"html_error_rate": 0.25}),
    "token-expiry-184-over-400": Scenario(
        {"token_expiry_after_requests": 3}, token_error_status=400, refresh=True
    ),
    "token-expiry-401": Scenario({"token_expiry_after_requests": 2}, refresh=True),
    "token-expiry-static-token": Scenario({"token_expiry_after_requests": 4}),
    "everything-at-once": Scenario(
        {
            "error_5xx_rate": 0.12,
            "drop_rate": 0.08,
            "truncate_rate": 0.1,
            "burst_66_rate": 0.1,
            "html_error_rate": 0.08,
            "latency_jitter_seconds": 0.05,
            "token_expiry_after_requests": 5,
        },
        token_error_status=400,
        refresh=True,
        options={"max_concurrency": 5},
    ),
    "storm-that-outlasts-the-retries": Scenario(
        {"error_5xx_rate": 0.75, "drop_rate": 0.1}, refresh=True
    ),
}

DEFAULT_CASES = [
    ("everything-at-once", 1),
    ("token-expiry-184-over-400", 2),
    ("token-expiry-401", 3),
    ("token-expiry-static-token", 4),
    ("storm-that-outlasts-the-retries", 5),
]
SOAK_SEEDS = int(os.environ.get("PARDOT_SOAK_SEEDS", "12"))


def cases() -> Iterator[Any]:
    """Default: a backfill under faults. Soak: a backfill and an incremental run."""
    for name, seed in DEFAULT_CASES:
        yield pytest.param(name, seed, ("backfill",), id=f"{name}-seed{seed}")
    for name in SCENARIOS:
        for seed in range(100, 100 + SOAK_SEEDS):
            steps = ("backfill", "incremental")
            yield pytest.param(name, seed, steps, id=f"{name}-seed{seed}", marks=pytest.mark.soak)


@pytest.fixture
def make_harness(isolated_environment: Path) -> Iterator[Any]:
    """Start the emulator for one scenario (one harness per test)."""
    servers: list[Generator[Harness, None, None]] = []

    def make(scenario: Scenario, seed: int) -> Harness:
        config = EmulatorConfig(
            opportunities=300,
            seed=seed,
            realtime_clock=False,
            token_error_status=scenario.token_error_status,
        )
        server = serve(isolated_environment, config, page_size=PAGE_SIZE, **scenario.options)
        servers.append(server)
        harness = next(server)
        if scenario.refresh:
            harness.options["credentials"] = refresh_credentials(harness)
        return harness

    yield make
    for server in servers:
        server.close()


def assert_clear_failure(summary: RunSummary, scenario: str) -> None:
    assert summary.exit_code in (1, 2), (scenario, summary)
    assert summary.outcome in ("error", "config_error")
    message = summary.message or ""
    assert "query" in message, f"the message names the failed operation: {message!r}"
    assert "Traceback" not in message and len(message) < 1000


@pytest.mark.usefixtures("quick_backoff")
@pytest.mark.parametrize(("scenario", "seed", "steps"), list(cases()))
def test_faulty_runs_end_exact_or_fail_clearly_and_a_clean_run_repairs(
    make_harness: Any, scenario: str, seed: int, steps: tuple[str, ...]
) -> None:
    spec = SCENARIOS[scenario]
    harness: Harness = make_harness(spec, seed)
    emulator = harness.emulator
    faults = FaultConfig(seed=seed, **spec.faults)
    failures = 0
    for step in steps:
        if step == "incremental":
            emulator.add_opportunities(NEW_OPPORTUNITIES)
        emulator.set_faults(faults)
        summary = harness.run()
        faulted = sum(1 for r in emulator.request_log if r.fault or r.error_code in (66, 184))
        if summary.exit_code == 0:
            assert_matches_ground_truth(harness.warehouse(), emulator)
            assert_no_duplicates(harness.warehouse())
        else:
            failures += 1
            assert_clear_failure(summary, scenario)
            assert faulted, "a failure without any injected fault"
            assert_loaded_rows_are_exact(harness)

        emulator.set_faults(FaultConfig())
        clean = harness.run(credentials=refresh_credentials(harness))
        assert clean.exit_code == 0, (step, clean.message)
        warehouse = harness.warehouse()
        assert_matches_ground_truth(warehouse, emulator)
        assert_no_duplicates(warehouse)
    if scenario == "token-expiry-static-token":
        assert failures == len(steps), "a static token that expires cannot be refreshed: exit 2"
