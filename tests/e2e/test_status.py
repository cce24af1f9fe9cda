"""``pardot-sync status``: cursors, sweeps, last run and rows, read without any request."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import dlt
import duckdb
import pytest

from pipelines.cli import main
from pipelines.status import pipeline_status, render

from .conftest import Harness


def status_of(harness: Harness) -> dict:
    return pipeline_status(
        destination=dlt.destinations.duckdb(str(harness.database)),
        pipelines_dir=str(harness.pipelines_dir),
    )


def test_status_after_a_run_shows_cursor_sweeps_requests_run_and_rows(harness: Harness) -> None:
    summary = harness.run()
    assert summary.exit_code == 0, summary.message
    harness.emulator.reset_request_log()
    status = status_of(harness)
    assert harness.emulator.request_count() == 0, "status asks Pardot nothing"

    warehouse = harness.warehouse()
    assert status["cursor"]["last_id"] == max(warehouse.ids())
    assert status["cursor"]["last_created_at"] is not None
    assert status["sweeps"]["full"] is not None and status["sweeps"]["recent"] is not None
    assert status["unfinished_sweep"] is None
    assert status["known_live_ids"] == len(warehouse.ids())
    assert status["requests_today"]["count"] == summary.requests
    assert status["last_run"]["outcome"] == "complete"
    assert status["last_run"]["finished_at"] is not None
    contract = ("opportunities", "campaigns", "prospects", "opportunity_prospects")
    assert {t: status["rows"][t] for t in contract} == {t: warehouse.count(t) for t in contract}
    assert status["rows"]["opportunities"] > 0
    assert status["state_restored_from_destination"] is False
    # each change-capture mechanism: where it stands, and what the last run did
    assert status["activity_feed"] == {
        "last_activity_id": max(warehouse.query("select max(id) from visitor_activities")[0]),
        "opportunities_to_reread": 0,
        "prospects_to_reread": 0,
    }
    assert status["last_run"]["changes"] == summary.changes
    assert summary.changes["activity_feed"]["events"] > 0
    text = render(status)
    assert "event feed:" in text and "activity_feed:" in text and "delete_check:" in text


def test_a_failed_run_shows_in_status_and_leaves_the_cursor(harness: Harness) -> None:
    harness.run()
    before = status_of(harness)["cursor"]
    harness.emulator.add_opportunities(5)
    failed = harness.run(credentials={"access_token": "wrong"})
    assert failed.exit_code == 2
    status = status_of(harness)
    assert status["cursor"] == before
    assert status["last_run"]["outcome"] == "config_error"
    assert status["last_run"]["exit_code"] == 2
    assert "access token rejected" in status["last_run"]["message"]


def test_cli_status_restores_state_from_the_destination(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.run()
    expected = status_of(harness)
    # dlt's default working folder is empty: a new machine pointed at the same warehouse.
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(harness.database))
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status["state_restored_from_destination"] is True
    assert status["last_run"] is None
    for key in ("cursor", "sweeps", "known_live_ids", "requests_today", "rows"):
        assert status[key] == expected[key], key

    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert f"id {expected['cursor']['last_id']}" in text
    assert "opportunities" in text and "last full sweep" in text


def test_status_of_the_demo_finds_the_demo_s_own_database_and_shows_the_zone(
    isolated_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo loads its own DuckDB file; status looks there, not in the default file."""
    database = isolated_environment / "elsewhere" / "demo.duckdb"
    database.parent.mkdir()
    assert main(["demo", "--opportunities", "300", "--database", str(database)]) == 0
    capsys.readouterr()

    assert main(["status", "--pipeline-name", "pardot_demo", "--json"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with duckdb.connect(str(database), read_only=True) as con:
        loaded = {
            table: con.execute(f"select count(*) from pardot.{table}").fetchone()[0]  # type: ignore[index]
            for table in ("opportunities", "campaigns", "prospects", "visitor_activities")
        }
    assert loaded["opportunities"] > 0
    with duckdb.connect(str(database), read_only=True) as con:
        (versions,) = con.execute("select count(*) from pardot.opportunity_history").fetchone()  # type: ignore[misc]
    assert versions > loaded["opportunities"], "the demo's weeks of changes are in the history"
    assert {table: status["rows"][table] for table in loaded} == loaded
    assert not (isolated_environment / "pardot_sync.duckdb").exists(), "not the default file"

    cursor = status["cursor"]
    assert cursor["timezone"] == "America/New_York"  # the emulator's API user
    created = datetime.fromisoformat(cursor["last_created_at"])
    assert created.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))

    assert main(["status", "--pipeline-name", "pardot_demo"]) == 0
    text = capsys.readouterr().out
    assert "(America/New_York)" in text
    assert f"{loaded['opportunities']:,}" in text


def test_status_of_a_pipeline_that_never_ran_shows_nothing_and_does_not_crash(
    isolated_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(status["rows"].values()) == {None}
    assert status["cursor"]["last_id"] is None and status["last_run"] is None
