"""``pardot-sync demo``: the real pipeline against the built-in emulator, no account needed.

The emulator serves generated opportunities on a loopback port; the same ``run_sync``
that ``pardot-sync run`` uses loads them into a local DuckDB file. The emulator's data
depends only on the random seed, so a second demo run finds nothing new: three requests
(the event feed, new opportunities, the delete check).
"""

from __future__ import annotations

import sys
from typing import Final

import duckdb

from sources.pardot_emulator import EmulatorConfig, PardotEmulator, running_server

from .runner import duckdb_file, report, run_sync

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


def run_demo(*, opportunities: int, seed: int, database: str) -> int:
    """Serve ``opportunities`` generated rows, sync them into ``database``, show results."""
    emulator = PardotEmulator(EmulatorConfig(opportunities=opportunities, seed=seed))
    with running_server(emulator) as base_url:
        print(
            f"Pardot emulator on {base_url} with {opportunities:,} opportunities", file=sys.stderr
        )
        summary = run_sync(
            destination=duckdb_file(database),
            dataset_name="pardot",
            pipeline_name="pardot_demo",
            base_url=base_url,
            business_unit_id=emulator.config.business_unit_id,
            credentials={"access_token": emulator.config.default_token},
            timezone=emulator.config.timezone,
        )
    if summary.exit_code == 0:
        _show(database, summary.requests, summary.seconds)
    return report(summary)


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
