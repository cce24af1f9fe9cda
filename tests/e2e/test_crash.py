"""A run killed mid-extract and mid-load, then rerun: nothing lost, nothing doubled.

The emulator serves on loopback in the test process; the killed run is a separate Python
process (``crash_run.py``) that SIGKILLs itself at a chosen point, with the same DuckDB
file and pipelines folder as the harness, so nothing of it survives but what dlt wrote
to disk. The rerun is the ordinary ``run_sync`` in this process.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sources.pardot.lookahead import most_requests_ahead
from sources.pardot_emulator import EmulatorConfig

from .conftest import Harness, start_harness
from .history_truth import assert_one_version_each
from .truth import assert_matches_ground_truth, assert_no_duplicates

CRASH_RUN = Path(__file__).with_name("crash_run.py")
PAGE_SIZE = 50
NEW_OPPORTUNITIES = 450

KILL_POINTS = [
    pytest.param("mid_extract", id="mid-extract-after-page-2"),
    pytest.param("after_extract", id="after-extract-before-normalize"),
    pytest.param("after_normalize", id="after-normalize-before-load"),
    pytest.param("mid_load", id="mid-load-data-merged-load-not-completed"),
    pytest.param("after_first_job", id="mid-load-after-first-completed-job"),
]
EXTRACTED = ("after_extract", "after_normalize")
"""Kill points after the extract committed, before anything reached the destination."""
RUNS = [
    pytest.param(False, id="first-run"),
    pytest.param(True, id="incremental-run"),
]


@pytest.fixture(params=[pytest.param(1, id="sequential")])
def harness(isolated_environment: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """400 opportunities paged 50 at a time, so one run is many pages.

    Sequential paging (max_concurrency 1) reads one range in order, so every complete
    run's request count is exact, and a kill leaves at most a few pages fetched ahead;
    ``test_killed_concurrent_run_then_rerun_is_exact`` covers ranges read side by side.
    """
    config = EmulatorConfig(opportunities=400, seed=29, realtime_clock=False)
    yield from start_harness(
        isolated_environment, config, page_size=PAGE_SIZE, max_concurrency=request.param
    )


def live_count(harness: Harness) -> int:
    return sum(not o["is_deleted"] for o in harness.emulator.ground_truth()["opportunities"])


def pages(new: int) -> int:
    """Query requests to fetch ``new`` opportunities: the last, short page ends the run."""
    return max(1, math.ceil(new / PAGE_SIZE))


def queries(harness: Harness) -> int:
    """Opportunity queries but the delete check's one count (a run with no deletes): the
    scan's pages, which a killed run's summary cannot tell apart."""
    return harness.emulator.request_count("query") - harness.counting_queries()


class KilledRun:
    """``crash_run.py`` in a new process, configured by environment, that must die by SIGKILL.

    ``start`` spawns it early (it imports, then waits for a line on stdin); ``finish``
    lets it run and waits for it to die.
    """

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.marker = harness.root / "killed.json"
        self.process: subprocess.Popen[str] | None = None

    def start(self, kill_point: str) -> None:
        harness = self.harness
        env = harness.environment()
        self.kill_point = kill_point
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(CRASH_RUN),
                kill_point,
                "--database",
                str(harness.database),
                "--pipelines-dir",
                str(harness.pipelines_dir),
                "--marker",
                str(self.marker),
                "--wait",
            ],
            cwd=harness.root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def start_after_setup(self, kill_point: str, *, incremental: bool) -> None:
        """``start``; for an incremental run, a complete run and new opportunities next."""
        self.start(kill_point)
        if incremental:
            assert self.harness.run().exit_code == 0
            self.harness.emulator.add_opportunities(NEW_OPPORTUNITIES)

    def finish(self) -> dict[str, Any]:
        """Let the run go; it must die by SIGKILL at its kill point. Returns its marker."""
        assert self.process is not None
        self.harness.emulator.reset_request_log()
        _, stderr = self.process.communicate("go\n", timeout=120)
        assert self.process.returncode == -signal.SIGKILL, (self.process.returncode, stderr[-3000:])
        killed: dict[str, Any] = json.loads(self.marker.read_text())
        assert killed["kill_point"] == self.kill_point
        return killed

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def killed_run(harness: Harness) -> Iterator[KilledRun]:
    run = KilledRun(harness)
    yield run
    run.close()


def has_table(harness: Harness, table: str) -> bool:
    """Whether the (possibly not yet created) warehouse holds ``table`` in its dataset."""
    if not harness.database.exists():
        return False
    with duckdb.connect(str(harness.database), read_only=True) as con:
        found = con.execute(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            ["pardot", table],
        ).fetchall()
    return bool(found)


def loaded_ids(harness: Harness) -> set[int]:
    if not has_table(harness, "opportunities"):
        return set()
    return set(harness.warehouse().ids())


def unloaded_live_ids(harness: Harness) -> list[int]:
    """The live opportunities not yet in the warehouse, in id order."""
    truth = harness.emulator.ground_truth()["opportunities"]
    return sorted({o["id"] for o in truth if not o["is_deleted"]} - loaded_ids(harness))


def completed_loads(harness: Harness) -> set[str]:
    if not has_table(harness, "_dlt_loads"):
        return set()
    rows = harness.warehouse().query("select load_id from _dlt_loads where status = 0")
    return {row[0] for row in rows}


@pytest.mark.parametrize("incremental", RUNS)
@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_killed_run_then_rerun_loses_and_doubles_nothing(
    harness: Harness, killed_run: KilledRun, kill_point: str, incremental: bool
) -> None:
    killed_run.start(kill_point)  # imports while this process sets up
    if incremental:
        assert harness.run().exit_code == 0
        new_ids = set(harness.emulator.add_opportunities(NEW_OPPORTUNITIES))
        new = NEW_OPPORTUNITIES
    else:
        new_ids = {
            o["id"] for o in harness.emulator.ground_truth()["opportunities"] if not o["is_deleted"]
        }
        new = live_count(harness)
    assert new > 3 * PAGE_SIZE, "many pages per run"
    ids_before, loads_before = loaded_ids(harness), completed_loads(harness)

    killed = killed_run.finish()

    # The kill happened where it was meant to: what the killed process fetched and wrote.
    if kill_point == "mid_extract":
        assert killed["pages"] == 2
        # Even one worker fetches ahead of the caller, by a bounded number of pages.
        assert 2 <= queries(harness) <= 2 + most_requests_ahead(1) < pages(new)
    else:
        assert queries(harness) == pages(new), "the killed run fetched everything new"
    if kill_point in EXTRACTED:
        assert len(killed["load_ids"]) == 1, killed
    if kill_point in ("mid_extract", *EXTRACTED):
        assert loaded_ids(harness) == ids_before, "nothing reached the warehouse"
    if kill_point == "mid_load":
        assert loaded_ids(harness) == ids_before | new_ids, "table data was merged"
    if kill_point in ("mid_load", "after_first_job"):
        assert killed["load_id"] not in completed_loads(harness), "load not completed"
    assert completed_loads(harness) == loads_before

    summary = harness.run()

    assert summary.exit_code == 0, summary.message
    if kill_point == "mid_extract" or (kill_point in EXTRACTED and not incremental):
        # Nothing of the killed run is kept. Mid-extract, dlt never committed the package
        # nor the cursor. After extract or normalize of a first run, the package and the
        # cursor were saved locally, but the dataset was never created: dlt's destination
        # sync then wipes the working folder (package and state together) and the rerun
        # fetches the killed run's opportunities again, from the last committed cursor.
        assert queries(harness) == pages(new)
        assert summary.opportunities == new
        assert killed.get("load_ids", [None])[0] not in completed_loads(harness)
    else:
        # The package (and the cursor saved with it) survived: the rerun loads the pending
        # package first and then asks only for what is newer, once.
        assert queries(harness) == 1
        assert summary.opportunities == 0
        interrupted = killed["load_ids"][0] if "load_ids" in killed else killed["load_id"]
        assert interrupted in completed_loads(harness), "the interrupted load was completed"
    warehouse = harness.warehouse()
    assert_matches_ground_truth(warehouse, harness.emulator)
    assert_no_duplicates(warehouse)
    assert_one_version_each(warehouse)  # the history recorded nothing twice


@pytest.mark.parametrize("harness", [pytest.param(4, id="concurrent")], indirect=True)
@pytest.mark.parametrize(
    "kill_point",
    [
        pytest.param("mid_extract", id="mid-extract-after-page-2"),
        pytest.param("mid_load", id="mid-load-data-merged-load-not-completed"),
    ],
)
@pytest.mark.parametrize("incremental", RUNS)
def test_killed_concurrent_run_then_rerun_is_exact(
    harness: Harness, killed_run: KilledRun, kill_point: str, incremental: bool
) -> None:
    killed_run.start_after_setup(kill_point, incremental=incremental)
    killed = killed_run.finish()
    if kill_point == "mid_extract":
        assert killed["pages"] >= 2
    summary = harness.run()
    assert summary.exit_code == 0, summary.message
    warehouse = harness.warehouse()
    assert_matches_ground_truth(warehouse, harness.emulator)
    assert_no_duplicates(warehouse)
    assert_one_version_each(warehouse)  # the history recorded nothing twice


@pytest.mark.parametrize(
    "harness",
    [pytest.param(1, id="sequential"), pytest.param(4, id="concurrent")],
    indirect=True,
)
@pytest.mark.parametrize("incremental", RUNS)
def test_run_killed_after_a_checkpoint_keeps_it_and_fetches_only_the_rest(
    harness: Harness, killed_run: KilledRun, incremental: bool
) -> None:
    """A checkpoint commits its package mid-run: the rerun reads only what came after."""
    killed_run.start_after_setup("after_checkpoint", incremental=incremental)
    ids_before, loads_before = loaded_ids(harness), completed_loads(harness)
    new_ids = unloaded_live_ids(harness)
    new = len(new_ids)

    killed = killed_run.finish()

    assert killed["checkpoints"] == 1
    committed = loaded_ids(harness) - ids_before
    assert len(committed) == 2 * PAGE_SIZE, "the checkpoint's two pages were committed"
    assert len(completed_loads(harness) - loads_before) == 1
    if harness.options["max_concurrency"] == 1:
        # One range in id order: the checkpoint holds exactly the first new ids.
        assert committed == set(new_ids[: 2 * PAGE_SIZE])

    summary = harness.run()

    assert summary.exit_code == 0, summary.message
    # The scan fetched only the rest. Events of opportunities the killed run had not
    # handed out when it checkpointed are read again, and the ones that the checkpoint
    # committed among them re-read (counted apart): out of id order, that can be a few.
    rereads = summary.changes["activity_feed"]["refreshed"]
    assert summary.opportunities - rereads == new - len(committed), "only the rest was fetched"
    if harness.options["max_concurrency"] == 1:
        assert queries(harness) == pages(new - len(committed))
    warehouse = harness.warehouse()
    assert_matches_ground_truth(warehouse, harness.emulator)
    assert_no_duplicates(warehouse)
    assert_one_version_each(warehouse)  # the history recorded nothing twice


@pytest.mark.parametrize("incremental", RUNS)
def test_run_killed_in_a_checkpoints_load_finishes_it_then_fetches_only_the_rest(
    harness: Harness, killed_run: KilledRun, incremental: bool
) -> None:
    """Killed before the first checkpoint's load completed: the rerun completes that
    package (rows and state), then resumes after it."""
    killed_run.start_after_setup("checkpoint_mid_load", incremental=incremental)
    loads_before = completed_loads(harness)
    new_ids = unloaded_live_ids(harness)

    killed = killed_run.finish()

    assert killed["checkpoints"] == 1, "killed in the checkpoint's load, not the last one"
    assert killed["load_id"] not in completed_loads(harness), "load not completed"
    assert completed_loads(harness) == loads_before

    summary = harness.run()

    assert summary.exit_code == 0, summary.message
    assert killed["load_id"] in completed_loads(harness), "the interrupted load was completed"
    checkpointed = 2 * PAGE_SIZE
    rereads = summary.changes["activity_feed"]["refreshed"]
    assert summary.opportunities - rereads == len(new_ids) - checkpointed, "only the rest"
    assert queries(harness) == pages(len(new_ids) - checkpointed)
    warehouse = harness.warehouse()
    assert_matches_ground_truth(warehouse, harness.emulator)
    assert_no_duplicates(warehouse)
    assert_one_version_each(warehouse)  # the history recorded nothing twice
