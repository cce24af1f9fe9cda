"""Several business units in one command: isolated, each with its own dataset and state.

Two emulator business units on two ports; one has a bad token. The good one loads and
equals its ground truth, the bad one fails alone, and the command reports both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dlt
import pytest

from pipelines.cli import main
from pipelines.runner import EXIT_CONFIG, EXIT_OK
from pipelines.units import Unit, run_units, worst_exit_code
from sources.pardot_emulator import EmulatorConfig, PardotEmulator, running_server
from tests.e2e.truth import Warehouse, assert_matches_ground_truth


@pytest.fixture
def two_units(isolated_environment: Path) -> Iterator[list[tuple[PardotEmulator, str]]]:
    configs = [
        EmulatorConfig(opportunities=120, seed=5, business_unit_id="0Uv000000000001AAA"),
        EmulatorConfig(opportunities=80, seed=6, business_unit_id="0Uv000000000002AAA"),
    ]
    with ExitStack() as stack:
        yield [(e, stack.enter_context(running_server(e))) for e in map(PardotEmulator, configs)]


def unit(name: str, emulator: PardotEmulator, url: str, token: str | None = None) -> Unit:
    config = emulator.config
    return Unit(
        name,
        {
            "base_url": url,
            "business_unit_id": config.business_unit_id,
            "credentials": {"access_token": token or config.default_token},
            "timezone": config.timezone,
        },
    )


def test_one_failing_unit_neither_stops_nor_corrupts_the_other(
    two_units: list[tuple[PardotEmulator, str]], isolated_environment: Path
) -> None:
    (good, good_url), (bad, bad_url) = two_units
    database = isolated_environment / "units.duckdb"
    # The bad unit runs first: the good one must still run after it.
    units = [unit("east", bad, bad_url, token="revoked"), unit("west", good, good_url)]
    summaries, total = run_units(units, destination=lambda: dlt.destinations.duckdb(str(database)))
    east, west = summaries
    assert (east.exit_code, west.exit_code) == (EXIT_CONFIG, EXIT_OK), west.message
    assert (east.dataset, west.dataset) == ("pardot_east", "pardot_west")
    assert (east.pipeline, west.pipeline) == ("pardot_east", "pardot_west")
    assert total.exit_code == EXIT_CONFIG
    assert total.units == {"east": "config_error", "west": "complete"}
    assert total.failed == ["east"]
    assert total.requests == east.requests + west.requests
    assert total.rows["opportunities"] == west.rows["opportunities"]
    assert_matches_ground_truth(Warehouse(database, "pardot_west"), good)

    # Fixed token: the failed unit now loads in full; the good one costs one request.
    units[0] = unit("east", bad, bad_url)
    good.reset_request_log()
    summaries, total = run_units(units, destination=lambda: dlt.destinations.duckdb(str(database)))
    assert [s.exit_code for s in summaries] == [EXIT_OK, EXIT_OK]
    assert total.exit_code == EXIT_OK and total.failed == []
    assert good.request_count("query") == 2, "the new opportunities, the delete check's count"
    assert_matches_ground_truth(Warehouse(database, "pardot_east"), bad)
    assert_matches_ground_truth(Warehouse(database, "pardot_west"), good)


def test_cli_business_units_print_one_line_each_and_a_total_last(
    two_units: list[tuple[PardotEmulator, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator, url = two_units[0]
    monkeypatch.setenv("SOURCES__PARDOT__BASE_URL", url)
    monkeypatch.setenv("SOURCES__PARDOT__TIMEZONE", emulator.config.timezone)
    monkeypatch.setenv("SOURCES__PARDOT__CREDENTIALS__ACCESS_TOKEN", emulator.config.default_token)
    # the second id is not a unit this emulator knows (Pardot error 201)
    monkeypatch.setenv(
        "SOURCES__PARDOT__BUSINESS_UNIT_IDS", '["0Uv000000000009AAA", "0Uv000000000001AAA"]'
    )
    code = main(["run"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line.get("dataset") for line in lines[:2]] == [
        "pardot_0uv000000000009aaa",
        "pardot_0uv000000000001aaa",
    ]
    assert lines[0]["exit_code"] != 0 and lines[1]["exit_code"] == 0
    assert lines[-1]["total"] is True
    assert lines[-1]["exit_code"] == code == lines[0]["exit_code"]
    assert lines[-1]["failed"] == ["0uv000000000009aaa"]

    # --business-unit given on the command line wins over the configured list
    assert main(["run", "--business-unit", "0Uv000000000001AAA"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    # nothing new for the good unit: event feed, new opportunities, delete check count
    assert len(lines) == 2 and lines[0]["requests"] == 3 and lines[-1]["failed"] == []


def test_worst_exit_code_order() -> None:
    assert worst_exit_code([0, 75, 2]) == 2
    assert worst_exit_code([75, 0]) == 75
    assert worst_exit_code([2, 1, 75]) == 1
    assert worst_exit_code([0, 0]) == 0
