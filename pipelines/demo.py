"""``pardot-sync demo``: the real pipeline against the built-in emulator, no account needed.

The emulator serves generated opportunities on a loopback port; the same ``run_sync``
that ``pardot-sync run`` uses loads them into a local DuckDB file. Then the demo plays
six weeks of sales on the emulator's clock (opportunities won, lost, moved between
stages, re-valued, created and deleted), runs the sync once a week as a schedule would
(each run a weekly full sweep), and prints the pipeline as it stood on two dates, from
``opportunity_history``. The emulator's data depends only on the random seed, and each
demo starts its own database afresh.
"""

from __future__ import annotations

import random
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import dlt
import duckdb

from sources.pardot_emulator import EmulatorConfig, PardotEmulator, running_server

from .runner import RunSummary, duckdb_file, report, run_sync

PIPELINE_NAME: Final = "pardot_demo"
WEEKS: Final = 6

EXAMPLE_QUERY: Final = """
select status,
       count(*)                 as opportunities,
       round(sum(value), 2)     as total_value,
       round(avg(probability))  as avg_probability
from pardot.opportunities
where not is_deleted
group by status
order by total_value desc
"""

AS_OF_QUERY: Final = """
select stage, count(*) as opportunities, round(sum(value), 2) as total_value
from pardot.opportunity_versions
where valid_from <= ? and (valid_to is null or valid_to > ?)
  and status = 'open' and not is_deleted
group by stage order by total_value desc
"""


def run_demo(*, opportunities: int, seed: int, database: str) -> int:
    """Serve ``opportunities`` generated rows, sync them into ``database``, play six weeks
    of changes with a run each week, and show the results."""
    problem = _start_afresh(Path(database))
    if problem:
        print(f"pardot-sync: {problem}", file=sys.stderr)
        return 2
    config = EmulatorConfig(opportunities=opportunities, seed=seed, realtime_clock=False)
    emulator = PardotEmulator(config)
    with running_server(emulator) as base_url:
        print(
            f"Pardot emulator on {base_url} with {opportunities:,} opportunities", file=sys.stderr
        )

        def sync() -> RunSummary:
            return run_sync(
                destination=duckdb_file(database),
                dataset_name="pardot",
                pipeline_name=PIPELINE_NAME,
                base_url=base_url,
                business_unit_id=config.business_unit_id,
                credentials={"access_token": config.default_token},
                timezone=config.timezone,
                now=emulator.now(),
            )

        summary = sync()
        if summary.exit_code != 0:
            return report(summary)
        _show(database, summary.requests, summary.seconds)
        first_load = emulator.now()
        changes = random.Random(seed)
        print("Six weeks of sales, one run a week (the weekly full sweep):", file=sys.stderr)
        for week in range(1, WEEKS + 1):
            played = _play_week(emulator, changes)
            summary = sync()
            if summary.exit_code != 0:
                return report(summary)
            print(
                f"  week {week}: {played} changes in Pardot -> {summary.requests} requests, "
                f"{summary.rows.get('opportunity_history', 0)} history rows",
                file=sys.stderr,
            )
    _show_history(database, [first_load + timedelta(days=1), emulator.now()])
    return report(summary)


def _start_afresh(database: Path) -> str | None:
    """Remove the previous demo's database and pipeline state; refuse a file the demo did
    not write (the demo replaces its database: ``--database`` must not name a warehouse)."""
    if database.exists():
        try:
            with duckdb.connect(str(database), read_only=True) as con:
                names = {
                    name
                    for (name,) in con.execute(
                        "select distinct pipeline_name from pardot._dlt_pipeline_state"
                    ).fetchall()
                }
        except duckdb.Error:
            names = set()
        if names != {PIPELINE_NAME}:
            return f"{database} exists and was not written by the demo: choose another --database"
        database.unlink()
        database.with_name(database.name + ".wal").unlink(missing_ok=True)
    # the pipeline's working folder keeps the last demo's state
    working = Path(dlt.pipeline(pipeline_name=PIPELINE_NAME).working_dir)
    shutil.rmtree(working, ignore_errors=True)
    return None


def _play_week(emulator: PardotEmulator, changes: random.Random) -> int:
    """A week of sales, spread over its days: wins, losses, stage moves, new value,
    new opportunities and a delete. Returns how many changes were made."""
    made = 0
    stages = sorted({o["stage"] for o in emulator.ground_truth()["opportunities"] if o["stage"]})
    for _ in range(7):
        emulator.advance_clock(days=1)
        opened = [
            o["id"]
            for o in emulator.ground_truth()["opportunities"]
            if o["status"] == "open" and not o["is_deleted"]
        ]
        for opportunity in changes.sample(opened, min(len(opened), 12)):
            pick = changes.random()
            if pick < 0.15:
                emulator.update_opportunity(opportunity, status="won")
            elif pick < 0.25:
                emulator.update_opportunity(opportunity, status="lost")
            elif pick < 0.8:
                emulator.update_opportunity(opportunity, stage=changes.choice(stages))
            else:
                emulator.update_opportunity(opportunity, value=round(changes.uniform(1e3, 1e5)))
            made += 1
            emulator.advance_clock(changes.randint(60, 3600))
        emulator.add_opportunities(2)
        made += 2
    emulator.delete_opportunity(changes.choice(opened))
    return made + 1


def _show_history(database: str, dates: list[datetime]) -> None:
    """The open pipeline by stage as it stood on each of ``dates``."""
    with duckdb.connect(database, read_only=True) as con:
        (versions,) = con.execute("select count(*) from pardot.opportunity_history").fetchone()  # type: ignore[misc]
        print(f"\nopportunity_history holds {versions:,} versions. The open pipeline by stage:")
        print(AS_OF_QUERY.strip())
        for moment in dates:
            print(f"\n  as of {moment:%Y-%m-%d %H:%M} UTC")
            for stage, count, total in con.execute(AS_OF_QUERY, [moment, moment]).fetchall():
                print(f"  {stage!s:>15} | {count:>6,} | {total:>15,.2f}")
        print()


def _show(database: str, requests: int, seconds: float) -> None:
    with duckdb.connect(database, read_only=True) as con:
        print(f"\nLoaded into {database} ({requests} requests, {seconds:.2f} s):")
        for (table,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'pardot' and not starts_with(table_name, '_dlt') "
            "order by table_name"
        ).fetchall():
            (count,) = con.execute(f'select count(*) from pardot."{table}"').fetchone() or (0,)
            print(f"  {table:<24} {count:>8,} rows")
        print("\nExample query: open, won and lost pipeline")
        print(EXAMPLE_QUERY.strip())
        result = con.execute(EXAMPLE_QUERY)
        names = [d[0] for d in result.description]
        print("  " + " | ".join(f"{n:>15}" for n in names))
        for row in result.fetchall():
            print("  " + " | ".join(f"{v!s:>15}" for v in row))
        print()
