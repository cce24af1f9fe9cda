"""Run the Pardot source through a dlt pipeline and sum up how it went.

Thin on purpose: build ``dlt.pipeline``, run ``pardot_source``, turn the outcome into an
exit code (0 complete, 2 configuration, 75 daily limit, 1 anything else) and a one-line
JSON summary for orchestrators. No HTTP and no parsing here.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import dlt
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.schema.typing import TTableFormat
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from sources.pardot import (
    DEFAULT_CHECKPOINT_EVERY,
    TABLES_BY_NAME,
    AuthenticationError,
    ConfigurationError,
    DailyLimitError,
    PardotError,
    SyncReport,
    pardot_source,
    run_checkpointed,
)

from .delta_links import reconcile_links, stamped_loads
from .views import create_views

DEFAULT_DUCKDB_FILE: Final = "pardot_sync.duckdb"
"""Not ``pardot.duckdb``: DuckDB cannot bind a dataset named like its database file."""

logger = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2
EXIT_DAILY_LIMIT: Final = 75


@dataclass
class RunSummary:
    """The closing line of a run: what it loaded, what it cost, how it ended."""

    outcome: str
    exit_code: int
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    scan: str = ""
    pages: int = 0
    pages_walked: int = 0
    """Pages the native reader declined and the slower general walk read."""
    opportunities: int = 0
    deleted: int = 0
    """Found deleted by this run: its full sweep, the delete check, or the event feed."""
    undeleted: int = 0
    """Found undeleted by the delete check (a full sweep reads them like any other)."""
    changes: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per mechanism beside the scan, its requests and findings (see README)."""
    checkpoints: int = 0
    """Load packages committed before the last one (``checkpoint_every``)."""
    seconds: float = 0.0
    pipeline: str = ""
    dataset: str = ""
    destination: str = ""
    message: str | None = None

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def run_sync(
    *,
    destination: Any = "duckdb",
    dataset_name: str = "pardot",
    pipeline_name: str = "pardot",
    pipelines_dir: str | None = None,
    progress: Callable[[SyncReport], None] | None = None,
    table_format: TTableFormat | None = None,
    checkpoint_every: int | None = None,
    **source_options: Any,
) -> RunSummary:
    """One incremental run; never raises for a Pardot or configuration failure.

    Args:
        destination: a dlt destination name or object (DuckDB by default).
        dataset_name: the dataset (schema) the tables go to.
        pipeline_name: dlt pipeline name; its state holds the cursors.
        pipelines_dir: where dlt keeps pipeline working folders (dlt's default if None).
        progress: called after every page with the report so far.
        table_format: ``"delta"`` (or ``"iceberg"``) for the filesystem destination, whose
            plain Parquet files cannot merge: Delta tables can, so the files stay exact.
        checkpoint_every: load and commit every this many opportunities while fetching
            goes on, so that a kill loses at most that much work (0: one load at the end).
            None: ``checkpoint_every`` in ``[sources.pardot]``, else 500,000.
        **source_options: passed to ``pardot_source`` (overrides config and secrets).
    """
    started = time.monotonic()
    report = SyncReport()
    summary = RunSummary(
        outcome="error",
        exit_code=EXIT_FAILED,
        pipeline=pipeline_name,
        dataset=dataset_name,
        destination=str(getattr(destination, "destination_name", destination)),
    )
    pipeline: dlt.Pipeline | None = None
    try:
        if checkpoint_every is None:
            configured = dlt.config.get("sources.pardot.checkpoint_every", int)
            checkpoint_every = DEFAULT_CHECKPOINT_EVERY if configured is None else configured
        source = pardot_source(
            report=report, progress=progress, checkpoint_every=checkpoint_every, **source_options
        )
        pipeline = dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=destination,
            dataset_name=dataset_name,
            pipelines_dir=pipelines_dir,  # type: ignore[arg-type]  # None = dlt's default
        )
        delta = table_format == "delta"
        with stamped_loads() if delta else nullcontext():
            if pipeline.has_pending_data:
                # A run was interrupted after extract: finish loading its packages first,
                # or dlt would load only them and silently skip this run's new data. (If
                # the dataset was never created, dlt's destination sync has already wiped
                # the working folder, packages and cursor together: the source refetches.)
                logger.warning("finishing the load packages of an interrupted run first")
                pipeline.run()
            run_checkpointed(pipeline, source, report, table_format=table_format)
        if delta:
            reconcile_links(pipeline)
        refresh_views(pipeline)
    except Exception as exc:
        report.outcome, report.error = "error", root_cause(exc)
    summary.seconds = round(time.monotonic() - started, 3)
    finish_summary(summary, report)
    if pipeline is not None:
        _remember(pipeline, summary)
    return summary


def refresh_views(pipeline: dlt.Pipeline) -> None:
    """Analysts' views after every load that got through; a failure is only logged."""
    try:
        create_views(pipeline)
    except Exception as exc:
        logger.warning("could not create the analysts' views: %s", exc)


LAST_RUN_KEY: Final = "pardot_last_run"
"""Key in the pipeline's local state (the working folder) of the last run's summary."""


def _remember(pipeline: dlt.Pipeline, summary: RunSummary) -> None:
    """Keep the summary for ``pardot-sync status``: dlt's trace calls a run that the
    source stopped cleanly (daily limit, rejected token) complete."""
    record = {
        "finished_at": datetime.now(UTC).isoformat(),
        "outcome": summary.outcome,
        "exit_code": summary.exit_code,
        "scan": summary.scan,
        "requests": summary.requests,
        "opportunities": summary.opportunities,
        "deleted": summary.deleted,
        "undeleted": summary.undeleted,
        "changes": summary.changes,
        "message": summary.message,
        "destination": destination_record(pipeline),
    }
    try:
        pipeline.set_local_state_val(LAST_RUN_KEY, record)
    except Exception:  # a status nicety must never fail a run
        logger.warning("could not record the last run in the pipeline's working folder")


def destination_record(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """Where ``pipeline`` loads, so that ``status`` finds the same place: the destination's
    name, the dataset, and a DuckDB file's path (its credentials are never kept)."""
    destination = pipeline.destination
    credentials = destination.config_params.get("credentials") if destination else None
    database = getattr(credentials, "database", None)
    is_duckdb = destination is not None and destination.destination_name == "duckdb"
    return {
        "name": destination.destination_name if destination else None,
        "dataset": pipeline.dataset_name,
        "duckdb_file": str(database) if is_duckdb and isinstance(database, str) else None,
    }


def destination_from(record: dict[str, Any] | None) -> Any:
    """The destination a ``destination_record`` names (None: it names none)."""
    if not record or not record.get("name"):
        return None
    if record.get("duckdb_file"):
        return duckdb_file(record["duckdb_file"])
    return record["name"]


def default_destination(name: str) -> Any:
    """``duckdb`` means the file ``pardot_sync.duckdb`` unless dlt config names another.

    The path is made absolute here: dlt resolves a relative DuckDB path against the
    directory of the pipeline's *previous* run (kept in its state), so the same command
    run from another folder would silently write to the old folder's file.
    """
    if name != "duckdb":
        return name
    configured: Any = dlt.config.get("destination.duckdb.credentials")
    if configured is None:
        return duckdb_file(DEFAULT_DUCKDB_FILE)
    if isinstance(configured, str) and "://" not in configured and configured != ":memory:":
        return duckdb_file(configured)
    return name


DUCKDB_SETTINGS: Final = {"memory_limit": "128MB", "preserve_insertion_order": False}
"""DuckDB spills to disk beyond this, so a large merge does not grow the process with N.

Without a limit the peak memory of a backfill, which is in its load step, grows with
the number of opportunities merged. With 128 MB it stays near half a gigabyte even for a
million; the price is a load about a fifth slower at that size.
"""


def duckdb_file(path: str) -> Any:
    """A DuckDB destination at ``path``, resolved against the current directory."""
    location = str(Path(path).expanduser().resolve())
    return dlt.destinations.duckdb(DuckDbCredentials(location, global_config=dict(DUCKDB_SETTINGS)))


def changes_of(report: SyncReport) -> dict[str, dict[str, int]]:
    """Each change-capture mechanism's requests and findings in a run."""
    return {
        "activity_feed": {
            "requests": report.feed_requests,
            "events": report.feed_events,
            "refresh_requests": report.refresh_requests,
            "refreshed": report.refreshed,
            "deleted": report.refresh_deleted,
        },
        "v5_feed": {
            "requests": report.v5_requests,
            "updated": report.v5_updated,
            "refused": int(report.v5_refused),
        },
        "delete_check": {
            "requests": report.delete_check_requests,
            "deleted": report.check_deleted,
            "undeleted": report.undeleted,
        },
    }


def finish_summary(summary: RunSummary, report: SyncReport) -> RunSummary:
    """Fill ``summary`` from the run's report: counts, outcome, exit code and message."""
    summary.requests, summary.pages = report.requests, report.pages
    summary.pages_walked = report.pages_walked
    summary.opportunities, summary.deleted = report.opportunities, report.deleted
    summary.undeleted = report.undeleted
    summary.changes = changes_of(report)
    summary.scan, summary.checkpoints = report.scan, report.checkpoints
    summary.rows = {name: report.rows.get(name, 0) for name in TABLES_BY_NAME}
    error = report.error
    if report.outcome == "complete":
        summary.outcome, summary.exit_code = "complete", EXIT_OK
    elif exit_code_of(error) == EXIT_DAILY_LIMIT:
        summary.outcome, summary.exit_code = "daily_limit", EXIT_DAILY_LIMIT
        summary.message = (
            f"{error} Progress is saved; run again after the daily limit resets "
            "(midnight in the Pardot account's time zone) to continue where this run stopped."
        )
    elif exit_code_of(error) == EXIT_CONFIG:
        summary.outcome, summary.exit_code = "config_error", EXIT_CONFIG
        summary.message = str(error)
    else:
        summary.outcome, summary.exit_code = "error", EXIT_FAILED
        summary.message = f"{type(error).__name__}: {error}" if error else "unknown failure"
    return summary


def exit_code_of(error: BaseException | None) -> int:
    """The exit code a run that failed with ``error`` ends with: 75 to stop for the day,
    2 for a setting or credential to fix, 1 for anything else."""
    if isinstance(error, DailyLimitError):
        return EXIT_DAILY_LIMIT
    if isinstance(error, ConfigurationError | AuthenticationError | ConfigurationException):
        return EXIT_CONFIG
    return EXIT_FAILED


def root_cause(exc: BaseException) -> BaseException:
    """The Pardot or configuration error behind dlt's wrapping, else ``exc`` itself."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, PardotError | ConfigurationException):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def report(summary: RunSummary) -> int:
    """Print the failure message (stderr) and the summary line (stdout); return the code."""
    if summary.message:
        print(f"pardot-sync: {summary.message}", file=sys.stderr)
    print(summary.to_json(), flush=True)
    return summary.exit_code
