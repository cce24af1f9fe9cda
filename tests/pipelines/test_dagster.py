"""The Dagster asset materialised for real against the emulator, into DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dlt
import pytest

from sources.pardot_emulator import EmulatorConfig
from tests.e2e.conftest import Harness, start_harness
from tests.e2e.truth import assert_matches_ground_truth

# Dagster 1.13 still touches pydantic v1 APIs; not this project's warnings to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore::pydantic.warnings.PydanticDeprecatedSince20",
)


@pytest.fixture
def harness(isolated_environment: Path) -> Iterator[Harness]:
    yield from start_harness(isolated_environment, EmulatorConfig(opportunities=150, seed=9))


def assets(harness: Harness, **overrides: object):  # type: ignore[no-untyped-def]
    from pipelines.dagster_defs import build_pardot_assets

    return build_pardot_assets(
        destination=dlt.destinations.duckdb(str(harness.database)),
        pipelines_dir=str(harness.pipelines_dir),
        **{**harness.source_options(), **overrides},
    )


def test_materialising_the_asset_loads_ground_truth_and_views(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    from dagster import materialize

    from pipelines.dagster_defs import RESOURCES

    result = materialize([assets(harness)], resources=RESOURCES)
    assert result.success
    # the step's output shows the source's counters beside dlt's steps (dlt's log collector)
    assert "Pardot opportunities" in capsys.readouterr().out
    keys = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("pardot")}
    assert keys == {"dlt_pardot_opportunities"}
    assert_matches_ground_truth(harness.warehouse(), harness.emulator)
    assert harness.warehouse().count("current_opportunities") == len(harness.warehouse().ids())

    harness.emulator.add_opportunities(10)
    harness.emulator.reset_request_log()
    assert materialize([assets(harness)], resources=RESOURCES).success
    assert harness.emulator.request_count("query") == 2, "the new page, the delete check's count"
    assert_matches_ground_truth(harness.warehouse(), harness.emulator)


def test_a_rejected_token_fails_the_step(harness: Harness) -> None:
    from dagster import materialize

    from pipelines.dagster_defs import RESOURCES

    bad = assets(harness, credentials={"access_token": "revoked"})
    result = materialize([bad], resources=RESOURCES, raise_on_error=False)
    assert not result.success
