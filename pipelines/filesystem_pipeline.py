"""The same source into Parquet files in a local folder (dlt's filesystem destination).

``python pipelines/filesystem_pipeline.py ./pardot_parquet``. Plain files cannot be
merged: dlt appends there, so a campaign or prospect seen again adds another row (dedupe
on the key when reading, or use ``table_format="delta"``). Any other dlt destination works
the same way: pass its name or a configured ``dlt.destinations`` object.
"""

import sys

import dlt

from pipelines.cli import report
from pipelines.runner import run_sync

if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "pardot_parquet"
    summary = run_sync(
        destination=dlt.destinations.filesystem(bucket_url=folder),
        pipeline_name="pardot_files",
    )
    sys.exit(report(summary))
