"""The ``pardot-sync`` command: ``run``, ``status`` and ``demo``.

Exit codes: 0 complete; 2 configuration or credential error (before any data is
fetched); 75 stopped early at the daily API limit or budget, progress saved; 1 anything
else. The last line printed to stdout is a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import dlt

from .progress import ProgressLine
from .runner import default_destination, report, run_sync
from .units import Unit, run_units


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "demo":
        from .demo import run_demo  # the emulator is only imported for the demo

        return run_demo(opportunities=args.opportunities, seed=args.seed, database=args.database)
    if args.command == "status":
        return _status(args)
    units = configured_units(args.business_unit)
    if units:
        return _run_units(args, units)
    progress = ProgressLine()
    try:
        summary = run_sync(
            destination=default_destination(args.destination),
            dataset_name=args.dataset_name,
            pipeline_name=args.pipeline_name,
            progress=progress,
            force_full_sweep=args.full_sweep,
            table_format=args.table_format,
        )
    finally:
        progress.close()
    return report(summary)


def configured_units(given: Sequence[str] | None) -> list[Unit]:
    """``--business-unit`` ids, else ``business_unit_ids`` from ``[sources.pardot]``."""
    ids: Any = list(given or []) or dlt.config.get("sources.pardot.business_unit_ids")
    if isinstance(ids, str):  # an environment variable: a TOML/JSON list or commas
        text = ids.strip()
        ids = json.loads(text) if text.startswith("[") else text.split(",")
    return [Unit.from_id(str(i)) for i in ids or [] if str(i).strip()]


def _run_units(args: argparse.Namespace, units: list[Unit]) -> int:
    """One run per business unit, each into its own dataset and pipeline."""
    _, total = run_units(
        units,
        destination=lambda: default_destination(args.destination),
        dataset_prefix=args.dataset_name,
        pipeline_prefix=args.pipeline_name,
        on_unit=report,
        force_full_sweep=args.full_sweep,
        table_format=args.table_format,
    )
    if total.failed:
        print(f"pardot-sync: units not complete: {', '.join(total.failed)}", file=sys.stderr)
    print(total.to_json(), flush=True)
    return total.exit_code


def _status(args: argparse.Namespace) -> int:
    from .status import pipeline_status, render

    status = pipeline_status(
        destination=None if args.destination is None else default_destination(args.destination),
        dataset_name=args.dataset_name,
        pipeline_name=args.pipeline_name,
    )
    print(json.dumps(status, sort_keys=True, default=str) if args.json else render(status))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pardot-sync",
        description="Sync Salesforce Account Engagement (Pardot) opportunities with dlt.",
    )
    levels = ["debug", "info", "warning", "error"]
    parser.add_argument("--log-level", default="warning", choices=levels)
    # Accepted after the command too (`pardot-sync run --log-level debug`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default=argparse.SUPPRESS, choices=levels)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", parents=[common], help="one incremental run with the configured account"
    )
    run.add_argument("--destination", default="duckdb", help="dlt destination (default duckdb)")
    run.add_argument("--dataset-name", default="pardot")
    run.add_argument("--pipeline-name", default="pardot")
    run.add_argument(
        "--business-unit",
        action="append",
        metavar="ID",
        help="sync this business unit into <dataset-name>_<id>; repeat for several "
        "(default: business_unit_ids in [sources.pardot], else the one business_unit_id)",
    )
    run.add_argument(
        "--table-format",
        choices=["delta"],
        default=None,
        help="filesystem destination: write Delta tables, which merge (plain Parquet appends)",
    )
    run.add_argument(
        "--full-sweep",
        action="store_true",
        help="re-read every opportunity this run (changes, deletes, undeletes)",
    )
    status = commands.add_parser(
        "status", parents=[common], help="cursors, sweeps, last run and rows of a pipeline"
    )
    status.add_argument(
        "--destination", default=None, help="default: where the pipeline's last run loaded"
    )
    status.add_argument("--dataset-name", default=None, help="default: the last run's")
    status.add_argument("--pipeline-name", default="pardot")
    status.add_argument("--json", action="store_true", help="one line of JSON")
    demo = commands.add_parser(
        "demo", parents=[common], help="the same pipeline against the built-in emulator"
    )
    demo.add_argument("--opportunities", type=int, default=3000)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--database", default="pardot_demo.duckdb")
    return parser


if __name__ == "__main__":
    sys.exit(main())
