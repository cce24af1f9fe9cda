"""Airflow DAG: the Pardot sync as one task built with dlt's ``PipelineTasksGroup``.

Install with ``pip install -e '.[airflow]'`` (Airflow 3) and put a file in the DAGs
folder that holds ``from pipelines.airflow_dag import dag``, or ``dag =
build_pardot_dag(…)`` for another schedule, destination or unit. Configuration is dlt's:
``SOURCES__PARDOT__…`` variables, or ``.dlt/`` in the DAGs folder, which dlt's helper
makes the dlt project folder. The source reads it when the task runs; only the
destination is chosen when Airflow parses the file.

dlt's helper runs the pipeline and wipes its working folder, but it reports a run the
source stopped cleanly (daily limit, rejected token) as a success, and it only has a
hook *before* the run. So the task here wraps the helper's callable to do what
``run_sync`` does after ``pipeline.run``: create the analysts' views, build the same
one-line JSON summary as ``pardot-sync run`` (logged, and returned as the task's XCom),
and turn its exit code into an Airflow outcome:

- 0 complete: success.
- 75 daily limit or budget: ``AirflowSkipException``. Progress is committed; a retry
  before the limit resets (midnight in the account's time zone) would only spend
  requests, so the next scheduled run continues where this one stopped.
- 2 configuration or credential error: ``AirflowFailException``, no retries.
- 1 anything else: ``AirflowException``, retried as the task's ``retries`` say.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from tempfile import gettempdir
from typing import Any, Final

import dlt
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from dlt.helpers.airflow_helper import PipelineTasksGroup

from pipelines.runner import (
    EXIT_CONFIG,
    EXIT_DAILY_LIMIT,
    EXIT_FAILED,
    EXIT_OK,
    RunSummary,
    default_destination,
    finish_summary,
    refresh_views,
    root_cause,
)
from sources.pardot import SyncReport, pardot_source

logger = logging.getLogger(__name__)

START_DATE: Final = datetime(2024, 1, 1, tzinfo=UTC)
"""Any past date: ``catchup`` is off, and the connector keeps its own cursor, so the
data interval of a run does not matter."""


@dataclass
class PardotTask:
    """What one Airflow task runs: the helper's run of the source, then the outcome.

    ``source`` is handed to the helper as its data: a callable, so the source (and its
    configuration) is built when the task runs, with a fresh report to read afterwards.
    """

    pipeline: dlt.Pipeline
    source_options: dict[str, Any] = field(default_factory=dict)
    report: SyncReport = field(default_factory=SyncReport)

    def source(self) -> Any:
        """The Pardot source, reporting into a new ``SyncReport``."""
        self.report = SyncReport()
        # One load package per task run: the helper runs the source once.
        options = {"checkpoint_every": 0, **self.source_options}
        return pardot_source(report=self.report, **options)

    def wrap(self, helper_run: Callable[[], None]) -> Callable[[], dict[str, Any]]:
        """The task's callable: the helper's run, then views, summary and outcome."""

        def run_pardot_sync() -> dict[str, Any]:
            return self.finish(helper_run)

        return run_pardot_sync

    def finish(self, helper_run: Callable[[], None]) -> dict[str, Any]:
        """Run, sum up like ``run_sync``, and raise what Airflow should make of it."""
        started = time.monotonic()
        self.report = SyncReport()  # replaced by ``source``; this one if it is never called
        try:
            helper_run()
            refresh_views(self.pipeline)
        except Exception as exc:
            self.report.outcome, self.report.error = "error", root_cause(exc)
        summary = RunSummary(
            outcome="error",
            exit_code=EXIT_FAILED,
            pipeline=self.pipeline.pipeline_name,
            dataset=self.pipeline.dataset_name,
            destination=str(getattr(self.pipeline.destination, "destination_name", "")),
        )
        finish_summary(summary, self.report)
        summary.seconds = round(time.monotonic() - started, 3)
        logger.info("pardot-sync summary: %s", summary.to_json())
        return outcome(summary)


def outcome(summary: RunSummary) -> dict[str, Any]:
    """The summary as the task's return value (XCom), or the exception for its exit code."""
    if summary.exit_code == EXIT_OK:
        return asdict(summary)
    if summary.exit_code == EXIT_DAILY_LIMIT:
        raise AirflowSkipException(summary.message)
    if summary.exit_code == EXIT_CONFIG:
        raise AirflowFailException(summary.message)
    raise AirflowException(summary.message)


def build_pardot_dag(
    dag_id: str = "pardot_sync",
    *,
    schedule: str | timedelta | None = "@daily",
    destination: Any = None,
    dataset_name: str = "pardot",
    pipeline_name: str = "pardot",
    local_data_folder: str | None = None,
    retries: int = 2,
    retry_delay: timedelta = timedelta(minutes=15),
    **source_options: Any,
) -> DAG:
    """A DAG with one task, ``<pipeline_name>.<pipeline_name>``, that runs one sync.

    Args:
        schedule: an Airflow schedule (cron string, preset or ``timedelta``).
        destination: a dlt destination (default: the DuckDB file of ``pardot-sync run``,
            ``[destination.duckdb] credentials`` or ``pardot_sync.duckdb`` made absolute
            against the directory Airflow parses the file in; set it in production).
        local_data_folder: where the helper puts the pipeline's working folder, which it
            wipes after every run (default: the system's temporary directory).
        retries: retries after an error (exit 1); never after 2 or 75.
        source_options: passed to ``pardot_source`` when the task runs (override config).
    """
    # auto_register=False: a DAG built in a ``with`` block is otherwise registered with
    # whatever DAG file is being parsed, so merely importing this module from one would
    # add the default DAG next to the caller's.
    with DAG(
        dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # two runs at once would race for the same dlt state
        default_args={"retries": retries, "retry_delay": retry_delay},
        tags=["pardot", "dlt"],
        auto_register=False,
    ) as dag:
        # The group points dlt's data folder at a fresh directory: create it first.
        group = PipelineTasksGroup(
            pipeline_name, local_data_folder=local_data_folder or gettempdir()
        )
        pipeline = dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=destination if destination is not None else default_destination("duckdb"),
            dataset_name=dataset_name,
            # The task's log shows the extract (the source's pages, opportunities and
            # requests) beside dlt's normalize and load, every 30 s and at each step's end.
            progress=dlt.progress.log(log_period=30.0, logger=logger),
        )
        task = PardotTask(pipeline, source_options)
        (operator,) = group.add_run(pipeline, task.source, decompose="none")
        assert isinstance(operator, PythonOperator)
        operator.python_callable = task.wrap(operator.python_callable)
    return dag


dag = build_pardot_dag()
"""The default DAG: daily, DuckDB, configured by dlt config."""
