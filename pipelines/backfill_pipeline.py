"""Backfill from a date into a separate dataset and pipeline (its own cursor).

``python pipelines/backfill_pipeline.py 2023-01-01``: loads every opportunity created
since that date into dataset ``pardot_backfill``, leaving the scheduled pipeline's state
untouched. Rerunning it continues where it stopped.
"""

import sys

from pipelines.runner import default_destination, report, run_sync

if __name__ == "__main__":
    start_date = sys.argv[1] if len(sys.argv) > 1 else "2020-01-01"
    summary = run_sync(
        destination=default_destination("duckdb"),
        dataset_name="pardot_backfill",
        pipeline_name="pardot_backfill",
        start_date=start_date,
    )
    sys.exit(report(summary))
