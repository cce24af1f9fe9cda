"""Scheduled incremental run as a script: the same as ``pardot-sync run``.

Configure ``[sources.pardot]`` in ``.dlt/config.toml`` and credentials in
``.dlt/secrets.toml``, then run ``python pipelines/incremental_pipeline.py`` from cron.
"""

import sys

from pipelines.runner import default_destination, report, run_sync

if __name__ == "__main__":
    sys.exit(report(run_sync(destination=default_destination("duckdb"))))
