"""The same source into Parquet files in a local folder (dlt's filesystem destination).

``python pipelines/filesystem_pipeline.py ./pardot_delta``. Plain Parquet files cannot
be merged (dlt appends there), so the tables are written as Delta tables, which merge on
their keys; the runner then keeps ``opportunity_prospects`` exact (``delta_links.py``).
Read them with ``deltalake``, Polars, Spark or DuckDB's ``delta_scan``. Any other dlt
destination works the same way: pass its name or a configured ``dlt.destinations`` object.
"""

import sys

import dlt

from pipelines.runner import report, run_sync

if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "pardot_delta"
    summary = run_sync(
        destination=dlt.destinations.filesystem(bucket_url=folder),
        pipeline_name="pardot_files",
        table_format="delta",
    )
    sys.exit(report(summary))
