"""State survives a new process: the real ``pardot-sync run`` command, run again and again.

Each run is a fresh Python process configured only through environment variables, as a
scheduler would start it; the emulator serves on loopback in the test process. The
DuckDB file is the command's default, ``pardot_sync.duckdb`` in the working directory.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.runner import DEFAULT_DUCKDB_FILE
from sources.pardot_emulator import EmulatorConfig

from .conftest import Harness, start_harness
from .truth import Warehouse, assert_matches_ground_truth

TOKEN = "e2e-secret-token-7Qx9Zr"  # a fake, unique enough to grep for
PAGE = 200


@pytest.fixture
def harness(isolated_environment: Path) -> Iterator[Harness]:
    """600 opportunities; the token is one that no other text could contain by chance."""
    config = EmulatorConfig(opportunities=600, seed=11, default_token=TOKEN)
    yield from start_harness(isolated_environment, config)


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        """The last stdout line, a one-line JSON summary."""
        lines = self.stdout.strip().splitlines()
        assert lines, f"no stdout; stderr: {self.stderr[-2000:]}"
        summary: dict[str, Any] = json.loads(lines[-1])
        return summary


def command() -> list[str]:
    script = shutil.which("pardot-sync", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "pipelines.cli"]


def environment(harness: Harness, **overrides: str | None) -> dict[str, str]:
    env = harness.environment(with_options=False)  # the command on its defaults
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def pardot_sync(harness: Harness, *options: str, **env: str | None) -> Finished:
    """Run ``pardot-sync [options] run`` in a new process; the request log is reset first."""
    harness.emulator.reset_request_log()
    process = subprocess.run(
        [*command(), *options, "run"],
        cwd=harness.root,
        env=environment(harness, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    finished = Finished(process.returncode, process.stdout, process.stderr)
    assert TOKEN not in finished.stdout, "the access token leaked to stdout"
    assert TOKEN not in finished.stderr, "the access token leaked to stderr"
    return finished


def live_count(harness: Harness) -> int:
    return sum(not o["is_deleted"] for o in harness.emulator.ground_truth()["opportunities"])


def test_cursor_survives_new_processes_and_a_lost_pipelines_folder(harness: Harness) -> None:
    warehouse = Warehouse(harness.root / DEFAULT_DUCKDB_FILE)
    pipelines = Path(os.environ["DLT_DATA_DIR"]) / "pipelines"

    first = pardot_sync(harness)
    assert first.returncode == 0, first.stderr[-3000:]
    live = live_count(harness)
    assert first.summary["outcome"] == "complete"
    assert first.summary["exit_code"] == 0
    feed = harness.emulator.request_count("visitor_activity_query")
    assert first.summary["requests"] == math.ceil(live / PAGE) + feed
    assert first.summary["opportunities"] == live
    assert harness.emulator.request_count("query") == math.ceil(live / PAGE)
    assert (pipelines / "pardot").is_dir(), "dlt kept its working folder in DLT_DATA_DIR"
    assert_matches_ground_truth(warehouse, harness.emulator)

    # The machine is replaced: the local pipeline state is gone, only the warehouse is left.
    harness.emulator.add_opportunities(450)
    shutil.rmtree(pipelines / "pardot")
    second = pardot_sync(harness)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.summary["outcome"] == "complete"
    assert second.summary["opportunities"] == 450
    changes = second.summary["changes"]
    assert changes["activity_feed"]["refreshed"] == 0, "the state came back from the warehouse"
    assert harness.emulator.request_count("query") == math.ceil(450 / PAGE) + 1  # + the count
    feed = harness.emulator.request_count("visitor_activity_query")
    assert changes["activity_feed"]["events"] < 200 * feed, "only the new events"
    assert second.summary["requests"] == math.ceil(450 / PAGE) + 1 + feed
    assert_matches_ground_truth(warehouse, harness.emulator)
    assert warehouse.count("opportunities") == len(set(warehouse.ids())), "no row doubled"

    # Nothing new: three requests (feed, new opportunities, the delete check's count).
    # Debug logging on, to look for the token in every log line.
    third = pardot_sync(harness, "--log-level", "debug")
    assert third.returncode == 0, third.stderr[-3000:]
    assert "DEBUG" in third.stderr, "debug logging was on"
    assert third.summary["outcome"] == "complete"
    assert third.summary["opportunities"] == 0
    assert harness.emulator.request_count("query") == 2
    assert harness.emulator.request_count("visitor_activity_query") == 1
    assert third.summary["requests"] == 3
    assert_matches_ground_truth(warehouse, harness.emulator)


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        pytest.param(
            {"SOURCES__PARDOT__BUSINESS_UNIT_ID": "abc"},
            "business_unit_id",
            id="malformed-business-unit-id",
        ),
        pytest.param(
            {"SOURCES__PARDOT__CREDENTIALS__ACCESS_TOKEN": None},
            "credentials",
            id="no-credentials",
        ),
    ],
)
def test_configuration_error_exits_2_before_any_request(
    harness: Harness, env: dict[str, str | None], mentions: str
) -> None:
    finished = pardot_sync(harness, **env)
    assert finished.returncode == 2, (finished.stdout, finished.stderr[-3000:])
    assert finished.summary["outcome"] == "config_error"
    assert finished.summary["exit_code"] == 2
    assert finished.summary["requests"] == 0
    message = [line for line in finished.stderr.splitlines() if line.startswith("pardot-sync: ")]
    assert message, finished.stderr[-3000:]
    assert mentions in message[-1]
    assert "Traceback" not in finished.stderr
    assert harness.emulator.request_count() == 0, "nothing reached the emulator"
    assert not (harness.root / DEFAULT_DUCKDB_FILE).exists()
