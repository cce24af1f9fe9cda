"""The public contract of the source (settings, tables, keys), checked without a network.

The emulator is mounted in-process through ``httpx.WSGITransport``; dlt only extracts
and normalizes, so what is checked is the schema dlt derives from our hints: table
names, keys, write dispositions, column types, the hard-delete marker, foreign keys.
"""

from __future__ import annotations

import inspect
from typing import Any

import dlt
import httpx
import pytest

from sources.pardot import pardot_source
from sources.pardot.schema import OPPORTUNITY_HISTORY, TABLES, UNLINK_MARKER
from sources.pardot_emulator import EmulatorConfig, PardotEmulator

CONFIG_KEYS = {
    "base_url": "https://pi.pardot.com",
    "api_version": 3,
    "business_unit_id": inspect.Parameter.empty,
    "timezone": "UTC",
    "start_date": None,
    "page_size": 200,
    "max_concurrency": 4,
    "daily_request_budget": None,
    "checkpoint_every": 0,  # pardot-sync run passes 500,000 unless configured
}
CONTRACT_TABLES = {
    "opportunities": (
        ["id"],
        {
            "name",
            "value",
            "probability",
            "type",
            "stage",
            "status",
            "campaign_id",
            "closed_at",
            "created_at",
            "updated_at",
            "is_deleted",
        },
    ),
    "campaigns": (["id"], {"name", "cost"}),
    "prospects": (["id"], {"email", "first_name", "last_name", "company"}),
    "opportunity_prospects": (["opportunity_id", "prospect_id"], set()),
    "visitor_activities": (
        ["id"],
        {
            "opportunity_id",
            "prospect_id",
            "visitor_id",
            "type",
            "type_name",
            "details",
            "campaign_id",
            "created_at",
            "updated_at",
        },
    ),
    "opportunity_history": (
        ["opportunity_id", "version"],
        {
            "change",
            "changed_at",
            "observed_at",
            "name",
            "value",
            "probability",
            "type",
            "stage",
            "status",
            "campaign_id",
            "closed_at",
            "is_deleted",
        },
    ),
}


def test_config_keys_and_defaults_are_the_documented_ones() -> None:
    parameters = inspect.signature(pardot_source).parameters
    for key, default in CONFIG_KEYS.items():
        assert key in parameters, key
        declared = parameters[key].default
        if default is inspect.Parameter.empty:
            continue
        assert declared == default, key
    assert "credentials" in parameters


@pytest.fixture
def extracted_schema(isolated_environment: Any) -> dict[str, Any]:
    emulator = PardotEmulator(EmulatorConfig(opportunities=60, seed=2))
    http = httpx.Client(transport=httpx.WSGITransport(app=emulator))
    source = pardot_source(
        base_url="http://127.0.0.1",
        business_unit_id=emulator.config.business_unit_id,
        credentials={"access_token": emulator.config.default_token},
        timezone=emulator.config.timezone,
        http=http,
    )
    assert list(source.resources) == ["opportunities"]
    assert source.resources["opportunities"].write_disposition == "merge"
    pipeline = dlt.pipeline("contract", destination="duckdb", dataset_name="pardot")
    pipeline.extract(source)
    pipeline.normalize()
    return pipeline.default_schema.tables


def test_tables_keys_and_write_dispositions(extracted_schema: dict[str, Any]) -> None:
    ours = {name for name in extracted_schema if not name.startswith("_dlt")}
    assert ours == set(CONTRACT_TABLES), "exactly the contract tables, no nested __ tables"
    for name, (key, columns) in CONTRACT_TABLES.items():
        table = extracted_schema[name]
        assert table["write_disposition"] == "merge", name
        declared = table["columns"]
        assert [c for c, h in declared.items() if h.get("primary_key")] == key, name
        assert columns <= set(declared), name
        for column in key:
            assert declared[column]["data_type"] == "bigint", (name, column)
            assert declared[column]["nullable"] is False


def test_column_types_follow_the_declared_schema(extracted_schema: dict[str, Any]) -> None:
    for spec in (*TABLES, OPPORTUNITY_HISTORY):
        declared = extracted_schema[spec.name]["columns"]
        for column in spec.columns:
            assert declared[column.name]["data_type"] == column.kind, (spec.name, column.name)
            if column.kind == "timestamp":
                assert declared[column.name].get("timezone") is True


def test_links_are_replaced_per_opportunity(extracted_schema: dict[str, Any]) -> None:
    links = extracted_schema["opportunity_prospects"]["columns"]
    assert links["opportunity_id"].get("merge_key") is True
    assert links[UNLINK_MARKER].get("hard_delete") is True


def test_foreign_keys_are_declared(extracted_schema: dict[str, Any]) -> None:
    references = {
        (table, tuple(ref["columns"]), ref["referenced_table"])
        for table, schema in extracted_schema.items()
        for ref in schema.get("references", [])
    }
    assert ("opportunities", ("campaign_id",), "campaigns") in references
    assert ("opportunity_prospects", ("opportunity_id",), "opportunities") in references
    assert ("opportunity_prospects", ("prospect_id",), "prospects") in references
    assert ("visitor_activities", ("opportunity_id",), "opportunities") in references
