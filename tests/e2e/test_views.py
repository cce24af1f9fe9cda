"""The analysts' views and the README's example queries, run against a loaded DuckDB file."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from .conftest import Harness

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_queries() -> list[str]:
    block = README.split("Example queries (DuckDB", 1)[1].split("```sql\n", 1)[1]
    sql = block.split("```", 1)[0]
    return [q.strip() for q in sql.split(";") if re.sub(r"--[^\n]*", "", q).strip()]


def query(harness: Harness, sql: str) -> list[tuple]:
    with duckdb.connect(str(harness.database), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_views_answer_like_the_tables_after_updates_and_deletes(harness: Harness) -> None:
    assert harness.run().exit_code == 0
    truth = harness.emulator.ground_truth()["opportunities"]
    live = sorted(o["id"] for o in truth if not o["is_deleted"])
    harness.emulator.delete_opportunity(live[0])
    harness.emulator.update_opportunity(live[1], stage="Negotiation", value=1000.0)
    summary = harness.run(full_sweep_every_hours=0)
    assert (summary.exit_code, summary.deleted) == (0, 1), summary.message

    current = query(harness, "select id from pardot.current_opportunities order by id")
    assert [i for (i,) in current] == live[1:]
    by_stage = query(
        harness,
        "select sum(opportunities), round(sum(total_value), 4) from pardot.pipeline_by_stage",
    )
    direct = query(
        harness,
        "select count(*), round(sum(value), 4) from pardot.opportunities where not is_deleted",
    )
    assert by_stage == direct
    assert (
        query(
            harness,
            "select opportunities, total_value from pardot.pipeline_by_stage "
            "where stage = 'Negotiation' and status = "
            f"(select status from pardot.opportunities where id = {live[1]})",
        )[0][1]
        >= 1000.0
    )
    with_prospects = query(
        harness, "select opportunity_id, prospect_id from pardot.opportunities_with_prospects"
    )
    links = query(
        harness,
        "select op.opportunity_id, op.prospect_id from pardot.opportunity_prospects op "
        "join pardot.opportunities o on o.id = op.opportunity_id where not o.is_deleted",
    )
    assert sorted(with_prospects) == sorted(links) and links
    assert live[0] not in {o for o, _ in with_prospects}


def test_readme_example_queries_run_and_return_rows(harness: Harness) -> None:
    assert harness.run().exit_code == 0
    queries = readme_queries()
    assert len(queries) >= 4
    for sql in queries:
        assert query(harness, sql), sql


def test_views_are_recreated_by_every_run(harness: Harness) -> None:
    harness.run()
    harness.emulator.add_opportunities(3)
    assert harness.run().exit_code == 0
    (count,) = query(harness, "select count(*) from pardot.current_opportunities")[0]
    assert count == len(harness.warehouse().ids())
