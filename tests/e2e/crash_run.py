"""One pipeline run that SIGKILLs its own process at a chosen point (for ``test_crash``).

Started by the tests as ``python tests/e2e/crash_run.py KILL_POINT --database … --pipelines-dir
… --marker …``. The source is configured only through ``SOURCES__PARDOT__…`` environment
variables, as in production. Just before the kill, the script writes a JSON marker (the
kill point and the load package it interrupted), so the test knows the kill happened
where it was meant to, and not earlier or never.

With ``--wait``, the script imports everything and then waits for a line on stdin before
it touches the pipeline: the test starts it early, so that a second of imports overlaps
with the test's own setup run.

Kill points:

``mid_extract``
    from the ``progress`` callback after page 2; the page size doubles as the batch size
    here, so page 1 was already handed to dlt (and the cursor moved in memory).
``after_extract``
    ``pipeline.extract`` finished (package extracted, state saved locally), nothing else.
``after_normalize``
    extract and normalize finished, the normalized package not loaded.
``mid_load``
    all load jobs (data copied and merged) done, but ``complete_load`` (the ``_dlt_loads``
    row that commits the load and its state) never written.
``after_first_job``
    right after dlt moved the first load job of the package to ``completed_jobs``.
``after_checkpoint``
    with a checkpoint every ``--checkpoint-pages`` pages (batches of one page), from the
    ``progress`` callback at the second page after the first checkpoint: its package
    was loaded and committed, the next one only begun.
``checkpoint_mid_load``
    as ``mid_load``, in the load of the first checkpoint's package.

Not a test module: it imports only the project's packages and dlt, not ``tests``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import dlt
import dlt.destinations.impl.duckdb.duck
import dlt.load
import dlt.normalize
import duckdb  # noqa: F401 (imported before --wait, like the modules above)
import pyarrow  # noqa: F401
from dlt.common.storages.load_package import PackageStorage
from dlt.destinations.job_client_impl import SqlJobClientBase

from pipelines.runner import run_sync
from sources.pardot import SyncReport, pardot_source
from sources.pardot.config import SyncSettings

KILL_POINTS = (
    "mid_extract",
    "after_extract",
    "after_normalize",
    "mid_load",
    "after_first_job",
    "after_checkpoint",
    "checkpoint_mid_load",
)
PIPELINE_NAME = "pardot"
DATASET_NAME = "pardot"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kill_point", choices=KILL_POINTS)
    parser.add_argument("--database", required=True)
    parser.add_argument("--pipelines-dir", required=True)
    parser.add_argument("--marker", required=True)
    parser.add_argument("--kill-after-page", type=int, default=2)
    parser.add_argument("--checkpoint-pages", type=int, default=2)
    parser.add_argument("--wait", action="store_true", help="start on a line from stdin")
    args = parser.parse_args(argv)
    if args.wait and not sys.stdin.readline():
        return 4  # the test went away before it said go
    marker = Path(args.marker)

    def die(**details: Any) -> NoReturn:
        marker.write_text(json.dumps({"kill_point": args.kill_point, **details}))
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("SIGKILL did not kill the process")  # pragma: no cover

    destination = dlt.destinations.duckdb(args.database)
    if args.kill_point == "mid_extract":
        _batches_of_one_page()

        def progress(report: SyncReport) -> None:
            if report.pages >= args.kill_after_page:
                die(pages=report.pages, opportunities=report.opportunities)

        summary = run_sync(
            destination=destination, pipelines_dir=args.pipelines_dir, progress=progress
        )
    elif args.kill_point == "after_checkpoint":
        _batches_of_one_page()
        page_size = int(os.environ["SOURCES__PARDOT__PAGE_SIZE"])

        def progress_to_checkpoint(report: SyncReport) -> None:
            if report.checkpoints and report.pages >= args.checkpoint_pages + 2:
                die(pages=report.pages, checkpoints=report.checkpoints)

        summary = run_sync(
            destination=destination,
            pipelines_dir=args.pipelines_dir,
            progress=progress_to_checkpoint,
            checkpoint_every=args.checkpoint_pages * page_size,
        )
    elif args.kill_point in ("after_extract", "after_normalize"):
        pipeline = dlt.pipeline(
            pipeline_name=PIPELINE_NAME,
            destination=destination,
            dataset_name=DATASET_NAME,
            pipelines_dir=args.pipelines_dir,
        )
        assert not pipeline.has_pending_data, "the test starts from a finished pipeline"
        report = SyncReport()
        pipeline.extract(pardot_source(report=report))
        assert report.outcome == "complete", report
        if args.kill_point == "after_extract":
            die(load_ids=list(pipeline.list_extracted_load_packages()), pages=report.pages)
        pipeline.normalize()
        die(load_ids=list(pipeline.list_normalized_load_packages()), pages=report.pages)
    elif args.kill_point in ("mid_load", "checkpoint_mid_load"):
        original_complete_load = SqlJobClientBase.complete_load
        reports: list[SyncReport] = []  # the run's report, as the progress callback sees it

        def complete_load(self: SqlJobClientBase, load_id: str) -> None:
            if self.schema.name == "pardot":
                die(load_id=load_id, checkpoints=reports[0].checkpoints if reports else 0)
            original_complete_load(self, load_id)

        def remember(report: SyncReport) -> None:
            reports[:] = [report]

        SqlJobClientBase.complete_load = complete_load  # type: ignore[method-assign]
        checkpoints: dict[str, int] = {}
        if args.kill_point == "checkpoint_mid_load":
            _batches_of_one_page()
            page_size = int(os.environ["SOURCES__PARDOT__PAGE_SIZE"])
            checkpoints = {"checkpoint_every": args.checkpoint_pages * page_size}
        summary = run_sync(
            destination=destination,
            pipelines_dir=args.pipelines_dir,
            progress=remember,
            **checkpoints,
        )
    else:
        original_complete_job = PackageStorage.complete_job

        def complete_job(self: PackageStorage, load_id: str, file_name: str) -> str:
            original_complete_job(self, load_id, file_name)
            die(load_id=load_id, job=file_name)

        PackageStorage.complete_job = complete_job  # type: ignore[method-assign]
        summary = run_sync(destination=destination, pipelines_dir=args.pipelines_dir)
    # Reaching this line means the kill point was never hit: the test fails on exit code 3.
    print(summary.to_json(), flush=True)
    return 3


def _batches_of_one_page() -> None:
    """Make the source hand every page to dlt at once (the batch size is not a setting)."""
    original = SyncSettings.from_values.__func__  # type: ignore[attr-defined]

    def from_values(cls: type[SyncSettings], **values: Any) -> SyncSettings:
        settings = original(cls, **values)
        return original(cls, **values, batch_size=settings.page_size)

    SyncSettings.from_values = classmethod(from_values)  # type: ignore[method-assign,assignment]


if __name__ == "__main__":
    sys.exit(main())
