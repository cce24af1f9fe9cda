"""``pardot-sync run`` in a process the test SIGKILLs after a random delay.

Started as ``python tests/faults/killable_run.py [--log-level debug]``, configured only
through ``SOURCES__PARDOT__…`` and ``DESTINATION__DUCKDB__CREDENTIALS`` environment
variables. It imports everything first and then waits for a line on stdin, so the
test's delay is measured from the start of the sync itself, not from interpreter start.

Not a test module: it imports only the project's packages and dlt, not ``tests``.
"""

from __future__ import annotations

import sys

import dlt
import dlt.destinations.impl.duckdb.duck
import dlt.load
import dlt.normalize  # noqa: F401
import duckdb  # noqa: F401
import pyarrow  # noqa: F401

from pipelines.cli import main as cli_main


def main(argv: list[str]) -> int:
    if not sys.stdin.readline():
        return 4  # the test went away before it said go
    return cli_main([*argv, "run"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
