"""The Airflow DAG (``pipelines/airflow_dag.py``) run for real with ``dag.test()``.

The DAG runs in a separate Python process, an Airflow "worker" with a private
``AIRFLOW_HOME`` and SQLite metadata database, shared by the tests of this module:
Airflow configures logging and its ORM for the whole process when imported, and dlt's
helper rewrites dlt's folders in ``os.environ``, so none of it may run in the suite's
own process; and Airflow's in-process execution API takes about 10 s to warm up, after
which a DAG run takes about a second. The worker reads one request per line (the
``SOURCES__PARDOT__…`` and ``DESTINATION__DUCKDB__CREDENTIALS`` variables a deployment
would set), builds the default DAG as the DAGs-folder file does, runs it and prints the
states of the run and its task. The emulator runs here, over loopback HTTP, so its
request log and ground truth are checked directly.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.runner import EXIT_CONFIG, EXIT_DAILY_LIMIT, EXIT_OK
from sources.pardot_emulator import EmulatorConfig
from tests.e2e.conftest import Harness, start_harness
from tests.e2e.truth import assert_matches_ground_truth

WARNINGS = (
    "-W",
    "error",
    # dag.test() runs the task through Airflow's in-process execution API, which imports
    # starlette's TestClient, and starlette now wants httpx2 there. Airflow's, not ours.
    "-W",
    "ignore:Using `httpx` with `starlette.testclient` is deprecated",
)
"""The suite's ``filterwarnings = error`` for the worker, less one known warning."""

WORKER = """
import json, os, sys
from airflow.utils.db import initdb
initdb()
from pipelines.airflow_dag import build_pardot_dag
print("READY", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    for name in [n for n in os.environ if n.startswith(("SOURCES__", "DESTINATION__"))]:
        del os.environ[name]
    os.environ.update(request["env"])
    dag = build_pardot_dag(local_data_folder=request["scratch"])
    run = dag.test()
    (ti,) = run.get_task_instances()
    states = {"run": str(run.state), "task": str(ti.state), "tries": ti.try_number}
    print("DAG-RUN " + json.dumps(states), flush=True)
"""
"""Set up the metadata database, then run the default DAG once per request line."""

DAG_FILE = "from pipelines.airflow_dag import dag  # noqa: F401\n"
"""The DAGs-folder file of the README; ``dag.test()`` registers the DAG from it."""

TIMEOUT = 120.0
"""Seconds a DAG run (or the worker's start) may take before the test fails."""


@dataclass
class DagRun:
    """What one ``dag.test()`` left: run and task states, and the task's summary line."""

    run: str
    task: str
    tries: int
    summary: dict[str, Any]
    output: str


class AirflowWorker:
    """The worker process; ``run`` sends one request and waits for its result line."""

    def __init__(self, root: Path) -> None:
        home = root / "airflow_home"
        (home / "dags").mkdir(parents=True)
        (home / "dags" / "pardot.py").write_text(DAG_FILE)
        inherited = ("SOURCES__", "DESTINATION__", "PIPELINES__", "RUNTIME__", "PROVIDERS__")
        env = {k: v for k, v in os.environ.items() if not k.startswith((*inherited, "AIRFLOW"))}
        env |= {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "DLT_DATA_DIR": str(root / "dlt_data"),
            "TMPDIR": str(root),  # the default DAG's dlt folder, made when it is imported
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            # dlt's Airflow secrets provider would look every config key up as an Airflow
            # Variable, one execution-API call each; the README says to turn it off.
            "PROVIDERS__ENABLE_AIRFLOW_SECRETS": "false",
        }
        self.process = subprocess.Popen(
            [sys.executable, *WARNINGS, "-c", WORKER],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self._until("READY")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _until(self, marker: str) -> tuple[str, str]:
        """Lines up to the one that starts with ``marker``; that line's remainder."""
        seen: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no {marker!r} within {TIMEOUT} s:\n" + "\n".join(seen[-80:]))
            if line is None:
                pytest.fail("the Airflow worker exited:\n" + "\n".join(seen[-80:]))
            if line.startswith(marker):
                return line[len(marker) :].strip(), "\n".join(seen)
            seen.append(line)

    def run(self, harness: Harness, **variables: str) -> DagRun:
        """One DAG run against the harness; the emulator's request log is reset first."""
        harness.emulator.reset_request_log()
        env = {k: v for k, v in harness.environment().items() if k.startswith("SOURCES__")}
        env["DESTINATION__DUCKDB__CREDENTIALS"] = str(harness.database)
        scratch = harness.root / "airflow_tmp"
        scratch.mkdir(exist_ok=True)
        request = {"env": env | variables, "scratch": str(scratch)}
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        states, output = self._until("DAG-RUN ")
        summaries = [line for line in output.splitlines() if "pardot-sync summary: " in line]
        assert len(summaries) == 1, output
        summary = summaries[0].split("pardot-sync summary: ", 1)[1].split(" [", 1)[0]
        return DagRun(**json.loads(states), summary=json.loads(summary), output=output)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowWorker]:
    started = AirflowWorker(tmp_path_factory.mktemp("airflow"))
    yield started
    started.close()


@pytest.fixture
def harness(isolated_environment: Path) -> Iterator[Harness]:
    yield from start_harness(isolated_environment, EmulatorConfig(opportunities=150, seed=9))


def test_the_dag_loads_ground_truth_then_an_incremental_run_costs_three_requests(
    worker: AirflowWorker, harness: Harness
) -> None:
    first = worker.run(harness)
    assert (first.run, first.task, first.tries) == ("success", "success", 1), first.output
    assert first.summary["exit_code"] == EXIT_OK
    assert first.summary["outcome"] == "complete"
    warehouse = harness.warehouse()
    assert_matches_ground_truth(warehouse, harness.emulator)
    assert first.summary["opportunities"] == warehouse.count("opportunities")
    # dlt's log collector, which its Airflow helper installs, shows the source's counters
    assert "Pardot opportunities" in first.output, first.output
    assert warehouse.count("current_opportunities") == len(warehouse.ids()), "views created"
    assert not list((harness.root / "airflow_tmp").glob("dlt_*/pipelines/*")), (
        "the helper wipes the pipeline's working folder after the run"
    )

    second = worker.run(harness)
    assert (second.run, second.task) == ("success", "success"), second.output
    # nothing new: the event feed, the new opportunities, the delete check's count
    assert harness.emulator.request_count() == 3, "three requests, nothing new"
    assert (second.summary["requests"], second.summary["opportunities"]) == (3, 0)
    assert_matches_ground_truth(harness.warehouse(), harness.emulator)


@pytest.fixture
def limited(isolated_environment: Path) -> Iterator[Harness]:
    """About 580 live opportunities (3 pages) and a daily limit of 2 requests."""
    config = EmulatorConfig(
        opportunities=600,
        seed=12,
        daily_limit=2,
        realtime_clock=False,
        query_includes_activities=True,  # scan only (below): the scan loads the activities
    )
    yield from start_harness(isolated_environment, config)


def test_the_daily_limit_skips_the_task_and_the_next_day_resumes(
    worker: AirflowWorker, limited: Harness
) -> None:
    # The scan alone meets the limit here; the event feed's own stop and resume at the
    # limit is tests/e2e/test_limits.py's.
    scan_only = {
        "SOURCES__PARDOT__ACTIVITY_FEED": "false",
        "SOURCES__PARDOT__DELETE_CHECK": "false",
    }
    stopped = worker.run(limited, **scan_only)
    assert (stopped.run, stopped.task, stopped.tries) == ("success", "skipped", 1)
    assert stopped.summary["exit_code"] == EXIT_DAILY_LIMIT
    assert "run again after the daily limit resets" in stopped.summary["message"]
    assert limited.warehouse().count("opportunities") == 400, "two pages are kept"

    limited.emulator.advance_clock(days=1)
    resumed = worker.run(limited, **scan_only)
    assert (resumed.run, resumed.task) == ("success", "success"), resumed.output
    assert_matches_ground_truth(limited.warehouse(), limited.emulator)


def test_a_rejected_token_fails_the_task_without_retries(
    worker: AirflowWorker, harness: Harness
) -> None:
    failed = worker.run(harness, SOURCES__PARDOT__CREDENTIALS__ACCESS_TOKEN="revoked")
    assert (failed.run, failed.task, failed.tries) == ("failed", "failed", 1), failed.output
    assert failed.summary["exit_code"] == EXIT_CONFIG
