"""SIGKILL at random points of extract, normalize and load; the next run is exact.

Each seed picks, with its own ``random.Random``: a first or an incremental run, and either
a kill after a random delay (a whole ``pardot-sync run`` process, ``killable_run.py``) or
one of ``tests/e2e/crash_run.py``'s kill points, with a random page for ``mid_extract``.
The killed process shares the DuckDB file and the pipelines folder with the in-process
rerun, which must complete and leave every table equal to the ground truth, with no
key doubled. ``tests/e2e/test_crash.py`` covers the fixed kill points; two seeds run by
default, many more with ``pytest -m soak``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sources.pardot_emulator import EmulatorConfig
from tests.e2e.conftest import Harness, start_harness
from tests.e2e.crash_run import KILL_POINTS
from tests.e2e.truth import assert_matches_ground_truth

from .conftest import assert_no_duplicates

CRASH_RUN = Path(__file__).parents[1] / "e2e" / "crash_run.py"
KILLABLE_RUN = Path(__file__).with_name("killable_run.py")
PAGE_SIZE = 50
NEW_OPPORTUNITIES = 300
MAX_DELAY = 3.0
"""Seconds: about as long as a killable run takes, so kills land anywhere in it."""
SOAK_SEEDS = int(os.environ.get("PARDOT_SOAK_CRASH_SEEDS", "40"))

SEEDS = [
    pytest.param(1, id="seed1"),
    pytest.param(7, id="seed7"),
    *(pytest.param(s, id=f"seed{s}", marks=pytest.mark.soak) for s in range(100, 100 + SOAK_SEEDS)),
]


@pytest.fixture
def harness(isolated_environment: Path) -> Iterator[Harness]:
    config = EmulatorConfig(opportunities=400, seed=31, realtime_clock=False)
    yield from start_harness(isolated_environment, config, page_size=PAGE_SIZE)


def environment(harness: Harness) -> dict[str, str]:
    return {
        **harness.environment(),  # page_size comes with the harness's options
        "DESTINATION__DUCKDB__CREDENTIALS": str(harness.database),
        "PIPELINES__PIPELINES_DIR": str(harness.pipelines_dir),
    }


def plan(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    how = rng.choice(["delay", "delay", *KILL_POINTS])
    return {
        "incremental": rng.random() < 0.5,
        "how": how,
        "delay": rng.uniform(0.0, MAX_DELAY),
        "page": rng.randint(1, 5),
    }


def killed_process(harness: Harness, chosen: dict[str, Any]) -> subprocess.Popen[str]:
    if chosen["how"] == "delay":
        args = [str(KILLABLE_RUN)]
    else:
        args = [
            str(CRASH_RUN),
            chosen["how"],
            "--database",
            str(harness.database),
            "--pipelines-dir",
            str(harness.pipelines_dir),
            "--marker",
            str(harness.root / "killed.json"),
            "--kill-after-page",
            str(chosen["page"]),
            "--wait",
        ]
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=harness.root,
        env=environment(harness),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_random_kill_then_rerun_is_exact(harness: Harness, seed: int) -> None:
    chosen = plan(seed)
    process = killed_process(harness, chosen)  # imports while this process sets up
    try:
        if chosen["incremental"]:
            assert harness.run().exit_code == 0
            harness.emulator.add_opportunities(NEW_OPPORTUNITIES)
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
        if chosen["how"] == "delay":
            time.sleep(chosen["delay"])
            process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    if chosen["how"] == "delay":
        # Killed, or finished before the delay ran out: both must leave a sane state.
        assert process.returncode in (-signal.SIGKILL, 0), (chosen, stderr[-3000:])
    else:
        assert process.returncode == -signal.SIGKILL, (chosen, stderr[-3000:])

    summary = harness.run()

    assert summary.exit_code == 0, (chosen, summary.message)
    warehouse = harness.warehouse()
    assert_matches_ground_truth(warehouse, harness.emulator)
    assert_no_duplicates(warehouse)
