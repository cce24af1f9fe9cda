"""The history on the emulator's clock: ``changed_at``, the README's queries, old pipelines.

The emulator's clock stands still unless a test moves it, and every run is told the
emulator's time (``now``), so each version's times can be asserted exactly. The
README's history queries run here and must answer what the emulator's own snapshots of
the past say.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines.runner import RunSummary
from sources.pardot_emulator import EmulatorConfig

from .conftest import Harness, start_harness
from .history_truth import HistoryModel, assert_history_matches, assert_one_version_each
from .test_views import README
from .truth import shown_instant

SWEEP = {"full_sweep_every_hours": 0}
NO_SWEEPS = {"full_sweep_every_hours": -1, "recent_sweep_every_minutes": -1}
README_DATE = "2024-03-31 23:59:59+00"


@pytest.fixture
def clocked(isolated_environment: Path) -> Iterator[Harness]:
    """300 opportunities; the clock starts 2024-03-09 12:00 UTC and moves only when told."""
    config = EmulatorConfig(opportunities=300, seed=23, realtime_clock=False)
    yield from start_harness(isolated_environment, config)


def run(harness: Harness, **options: Any) -> RunSummary:
    summary = harness.run(now=harness.emulator.now(), **options)
    assert summary.exit_code == 0, summary.message
    return summary


def history_queries() -> list[str]:
    block = README.split("History queries (DuckDB", 1)[1].split("```sql\n", 1)[1]
    sql = block.split("```", 1)[0]
    return [q.strip() for q in sql.split(";") if re.sub(r"--[^\n]*", "", q).strip()]


def version(harness: Harness, opportunity_id: int, number: int) -> dict[str, Any]:
    columns = ("change", "changed_at", "observed_at", "stage", "status")
    (row,) = harness.warehouse().query(
        f"select {', '.join(columns)} from opportunity_history "
        f"where opportunity_id = {opportunity_id} and version = {number}"
    )
    return dict(zip(columns, row, strict=True))


def instant(iso: str | None, harness: Harness) -> datetime | None:
    return shown_instant(iso, harness.emulator.config.timezone)


def open_pipeline(opportunities: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The README's first query, computed from a snapshot of the ground truth."""
    by_stage: dict[Any, list[Any]] = {}
    for o in opportunities:
        if o["status"] == "open" and not o["is_deleted"]:
            by_stage.setdefault(o["stage"], []).append(o["value"])
    in_order = sorted(by_stage.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return [(s, len(v), pytest.approx(sum(v))) for s, v in in_order]  # NULL stage last


def test_changed_at_follows_the_documented_rule_and_the_readme_queries_answer(
    clocked: Harness,
) -> None:
    emulator, model = clocked.emulator, HistoryModel()
    start = emulator.now()
    run(clocked)
    model.observe(emulator)
    before = emulator.ground_truth()["opportunities"]
    truth = {o["id"]: o for o in before}
    ids = sorted(i for i, o in truth.items() if not o["is_deleted"])
    opened = [i for i in ids if truth[i]["status"] == "open"]
    first = version(clocked, ids[0], 1)
    assert first["change"] == "first_seen"
    assert first["changed_at"] == instant(truth[ids[0]]["updated_at"], clocked), "updated_at"
    assert first["observed_at"] == start

    emulator.advance_clock(days=10)
    edited_at = emulator.now()
    edit, win, silent = opened[0], opened[1], opened[2]
    emulator.update_opportunity(edit, stage="Negotiation", value=4321.0)  # no event
    emulator.update_opportunity(win, status="won")  # a won event now
    emulator.advance_clock(2 * 3600)
    prospect = emulator.ground_truth()["prospects"][0]["id"]
    emulator.link_prospect(win, prospect)  # a later edit that touches no tracked field
    emulator.override_field(silent, "stage", "Renamed silently")  # updated_at unmoved
    emulator.advance_clock(days=1)
    swept_at = emulator.now()
    second = run(clocked, **SWEEP)
    assert second.rows["opportunity_history"] == 3

    assert version(clocked, edit, 2)["changed_at"] == edited_at, "updated_at of the edit"
    won = version(clocked, win, 2)
    assert (won["change"], won["status"]) == ("updated", "won")
    assert won["changed_at"] == edited_at, "the won event's time, not the later updated_at"
    late = version(clocked, silent, 2)
    assert late["stage"] == "Renamed silently"
    assert late["changed_at"] == late["observed_at"], "no time after the last observation"
    assert swept_at <= late["observed_at"] <= swept_at + timedelta(seconds=30)
    emulator.clear_field_overrides(silent)
    run(clocked, **SWEEP)  # the stage comes back: a third version, then the model agrees
    model.observe(emulator)
    history = clocked.warehouse().query("select count(*) from opportunity_history")[0][0]
    assert history == len(model.rows()) + 2

    # The README's queries, against snapshots of the past: before the edits, and now.
    as_of, days, won_by_month = history_queries()
    warehouse = clocked.warehouse()
    assert README_DATE in as_of
    assert warehouse.query(as_of) == open_pipeline(emulator.ground_truth()["opportunities"])
    earlier = (start + timedelta(days=5)).strftime("%Y-%m-%d %H:%M:%S+00")
    assert warehouse.query(as_of.replace(README_DATE, earlier)) == open_pipeline(before)
    stays = dict(((s, n) for s, n, _ in warehouse.query(days)))
    assert stays == dict(
        Counter([truth[edit]["stage"], truth[silent]["stage"], "Renamed silently"])
    )
    value = emulator.ground_truth()["opportunities"]
    won_value = next(o["value"] for o in value if o["id"] == win)
    month = datetime(edited_at.year, edited_at.month, 1, tzinfo=UTC)
    (row,) = warehouse.query(won_by_month)
    assert (row[0].astimezone(UTC), row[1], row[2]) == (month, 1, pytest.approx(won_value))


def test_a_pipeline_loaded_before_the_history_starts_it_at_its_next_run(
    clocked: Harness,
) -> None:
    emulator = clocked.emulator
    assert run(clocked, history=False).rows["opportunity_history"] == 0
    ids = sorted(o["id"] for o in emulator.ground_truth()["opportunities"] if not o["is_deleted"])
    emulator.update_opportunity(ids[0], status="lost")
    emulator.add_opportunities(3)
    emulator.advance_clock(3600)

    second = run(clocked, **NO_SWEEPS)

    assert second.opportunities == 4, "no reload: the new ones and the one an event named"
    loaded = clocked.warehouse().count("opportunities")
    assert second.rows["opportunity_history"] == loaded
    assert_one_version_each(clocked.warehouse())
    assert run(clocked, **NO_SWEEPS).rows["opportunity_history"] == 0, "started once"

    # Off for a while, then on again: what changed meanwhile is recorded from the warehouse.
    emulator.update_opportunity(ids[1], stage="Off the record")
    emulator.advance_clock(3600)
    assert run(clocked, history=False, **SWEEP).rows["opportunity_history"] == 0
    emulator.advance_clock(3600)
    back = run(clocked, **NO_SWEEPS)
    assert back.rows["opportunity_history"] == 1
    assert version(clocked, ids[1], 2)["stage"] == "Off the record"
    assert_history_matches_after_a_sweep(clocked)


def assert_history_matches_after_a_sweep(harness: Harness) -> None:
    """A full sweep finds nothing the history missed."""
    assert run(harness, **SWEEP).rows["opportunity_history"] == 0


def test_history_false_records_nothing(clocked: Harness) -> None:
    model = HistoryModel()
    run(clocked, history=False)
    clocked.emulator.add_opportunities(5)
    assert run(clocked, history=False).rows.get("opportunity_history", 0) == 0
    assert clocked.warehouse().query(
        "select count(*) from information_schema.tables where table_name = 'opportunity_history'"
    ) == [(0,)]
    run(clocked)
    model.observe(clocked.emulator)
    assert_history_matches(clocked.warehouse(), model)


def test_with_hard_delete_the_history_outlives_the_row(clocked: Harness) -> None:
    model = HistoryModel()
    run(clocked, hard_delete=True)
    model.observe(clocked.emulator)
    ids = sorted(o["id"] for o in clocked.emulator.ground_truth()["opportunities"])
    live = [i for i in ids if i in set(clocked.warehouse().ids())]
    clocked.emulator.delete_opportunity(live[0])
    clocked.emulator.advance_clock(3600)
    removed = run(clocked, hard_delete=True, **NO_SWEEPS)  # the delete check finds it
    assert removed.deleted == 1
    assert live[0] not in clocked.warehouse().ids()
    model.observe(clocked.emulator)
    assert version(clocked, live[0], 2)["change"] == "deleted"
    assert_history_matches(clocked.warehouse(), model)
