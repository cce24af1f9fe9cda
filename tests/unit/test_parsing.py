"""Parser units: Pardot XML fixtures -> typed Arrow tables, values checked one by one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from lxml import etree

from sources.pardot.envelope import parse_document
from sources.pardot.errors import DataError
from sources.pardot.parsing import OpportunityBatch
from sources.pardot.schema import UNLINK_MARKER

FIXTURES = Path(__file__).parent / "fixtures"


def result_of(xml: str | bytes) -> etree._Element:
    content = xml.encode() if isinstance(xml, str) else xml
    root = parse_document(content, operation="query", http_status=200)
    result = root.find("result")
    assert result is not None
    return result


def fixture(name: str) -> etree._Element:
    return result_of((FIXTURES / name).read_bytes())


def rows(table: pa.Table) -> list[dict[str, object]]:
    return table.to_pylist()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def page(*opportunities: str) -> str:
    body = "".join(f"<opportunity>{o}</opportunity>" for o in opportunities)
    return f'<rsp stat="ok" version="1.0"><result>{body}</result></rsp>'


def test_full_page_fills_the_five_tables_with_typed_values() -> None:
    batch = OpportunityBatch("America/New_York")
    info = batch.add_result(fixture("query_full.xml"))
    assert (info.count, info.ids, info.last_id) == (3, [1, 2, 5], 5)
    assert info.total_results == 3
    assert info.last_created_at == "2024-07-01 08:00:00"
    assert info.carries_activities
    tables = batch.build()
    assert len(batch) == 0, "build resets the batch"

    opportunities = rows(tables["opportunities"])
    first = opportunities[0]
    assert first["id"] == 1
    assert first["name"] == 'Big & "Bold" <deal> — Café'
    assert first["value"] == 5000.5
    assert first["probability"] == 50
    assert first["status"] == "open", "status is lower-cased"
    assert first["closed_at"] is None
    # 01:30 on 2024-11-03 happens twice in New York: the earlier (EDT) reading.
    assert first["created_at"] == utc(2024, 11, 3, 5, 30)
    # 02:30 on 2024-03-10 never happens in New York: the instant of the transition.
    assert first["updated_at"] == utc(2024, 3, 10, 7, 0)
    assert first["campaign_id"] == 3
    assert first["is_deleted"] is False
    assert first["salesforce_id"] == "006xx", "unknown elements are kept as text"
    second = opportunities[1]
    assert (second["type"], second["stage"]) == (None, None), "empty elements are NULL"
    assert second["closed_at"] == utc(2024, 7, 1, 16, 0)
    assert opportunities[2]["closed_at"] is None, "an absent closed_at is NULL too"
    assert opportunities[2]["salesforce_id"] is None

    schema = tables["opportunities"].schema
    assert schema.field("id").type == pa.int64() and not schema.field("id").nullable
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("value").type == pa.float64()

    campaigns = {row["id"]: row for row in rows(tables["campaigns"])}
    assert campaigns[3]["name"] == "Google Buyer's Guide (renamed)", "the last sighting wins"
    assert campaigns[4] == {"id": 4, "name": "Webinar", "cost": 12.5}

    prospects = {row["id"]: row for row in rows(tables["prospects"])}
    assert set(prospects) == {11, 12}
    assert prospects[12]["first_name"] == "Ángel"
    assert prospects[12]["last_name"] is None
    assert prospects[12]["score"] == "40"
    assert prospects[11]["score"] is None

    links = sorted(
        (r["opportunity_id"], r["prospect_id"], r[UNLINK_MARKER])
        for r in rows(tables["opportunity_prospects"])
    )
    assert links == [(1, 11, False), (1, 12, False), (2, 0, True), (5, 11, False)]

    activities = {row["id"]: row for row in rows(tables["visitor_activities"])}
    assert activities[100]["opportunity_id"] == 1
    assert activities[100]["campaign_id"] == 4
    assert activities[100]["form_id"] == 55
    assert activities[100]["type"] == 19
    assert activities[100]["created_at"] == utc(2019, 10, 1, 0, 30, 9)
    assert activities[101]["visitor_id"] is None
    assert activities[101]["campaign_id"] is None
    assert activities[101]["details"] is None


def test_bulk_output_has_scalar_campaign_and_leaves_links_alone() -> None:
    batch = OpportunityBatch("UTC")
    info = batch.add_result(fixture("query_bulk.xml"))
    assert info.total_results is None
    assert not info.carries_activities
    tables = batch.build()
    assert rows(tables["opportunities"])[0]["campaign_id"] == 3
    assert set(tables) == {"opportunities"}, "no <prospects>: links unknown, none replaced"


def test_empty_result() -> None:
    batch = OpportunityBatch("UTC")
    info = batch.add_result(
        result_of('<rsp stat="ok"><result><total_results>0</total_results></result></rsp>')
    )
    assert (info.count, info.last_id, info.total_results) == (0, None, 0)
    assert batch.build() == {}


def test_pages_accumulate_until_built() -> None:
    batch = OpportunityBatch("UTC")
    for opportunity_id in (1, 2):
        batch.add_result(result_of(page(f"<id>{opportunity_id}</id><probability>1</probability>")))
    assert len(batch) == 2
    assert batch.build()["opportunities"].column("id").to_pylist() == [1, 2]


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        pytest.param("<value>abc</value>", "opportunities.value", "not a valid number", id="value"),
        pytest.param(
            "<probability>150</probability>",
            "opportunities.probability",
            "outside 0-100",
            id="probability",
        ),
        pytest.param(
            "<probability>x</probability>",
            "opportunities.probability",
            "not a valid integer",
            id="probability-text",
        ),
        pytest.param(
            "<created_at>2024-02-30 10:00:00</created_at>",
            "opportunities.created_at",
            "not a valid timestamp",
            id="date",
        ),
        pytest.param(
            "<created_at>yesterday</created_at>",
            "opportunities.created_at",
            "not a valid timestamp",
            id="date-word",
        ),
        pytest.param(
            "<prospects><prospect><id>p</id></prospect></prospects>",
            "prospects.id",
            "not an integer",
            id="prospect-id",
        ),
        pytest.param(
            "<opportunity_activities><visitor_activity><id>1</id><type>x</type></visitor_activity></opportunity_activities>",
            "visitor_activities.type",
            "not a valid integer",
            id="activity-type",
        ),
    ],
)
def test_a_value_that_cannot_be_typed_names_the_opportunity_and_field(
    fields: str, field: str, reason: str
) -> None:
    batch = OpportunityBatch("UTC")
    good = "<id>6</id><value>1</value><probability>1</probability>"
    with pytest.raises(DataError) as raised:
        batch.add_result(result_of(page(good, f"<id>7</id>{fields}")))
        batch.build()
    assert raised.value.opportunity_id == 7
    assert raised.value.field == field
    assert reason in raised.value.reason


def test_missing_opportunity_id_is_an_error() -> None:
    batch = OpportunityBatch("UTC")
    with pytest.raises(DataError, match="missing"):
        batch.add_result(result_of(page("<name>no id</name>")))


def test_activities_from_a_read_are_added_alone() -> None:
    batch = OpportunityBatch("UTC")
    root = parse_document(
        b'<rsp stat="ok"><opportunity><id>3</id><opportunity_activities>'
        b"<visitor_activity><id>9</id><type>8</type></visitor_activity>"
        b"</opportunity_activities></opportunity></rsp>",
        operation="read",
        http_status=200,
    )
    element = root.find("opportunity")
    assert element is not None
    assert batch.add_activities(element) == 1
    tables = batch.build()
    assert set(tables) == {"visitor_activities"}
    assert rows(tables["visitor_activities"])[0]["opportunity_id"] == 3


def test_reject_mode_sets_the_opportunity_aside_whole_and_keeps_the_rest() -> None:
    batch = OpportunityBatch("UTC", reject_bad_rows=True)
    good = (
        "<id>6</id><value>1</value><probability>1</probability>"
        "<prospects><prospect><id>1</id></prospect></prospects>"
    )
    bad = (
        "<id>7</id><value>abc</value><probability>1</probability>"
        "<prospects><prospect><id>2</id></prospect></prospects>"
        "<opportunity_activities><visitor_activity><id>70</id></visitor_activity>"
        "</opportunity_activities>"
    )
    unparsable = "<id>x8</id><value>1</value>"
    info = batch.add_result(result_of(page(good, bad, unparsable)))
    assert info.count == 3, "every element counts towards the page size"
    assert info.ids == [6, 7]
    tables = batch.build()
    assert tables["opportunities"].column("id").to_pylist() == [6]
    assert tables["prospects"].column("id").to_pylist() == [1]
    assert tables["opportunity_prospects"].column("opportunity_id").to_pylist() == [6]
    assert "visitor_activities" not in tables, "nothing of the rejected opportunity is kept"
    rejected = sorted(rows(tables["rejected_rows"]), key=lambda r: str(r["field"]))
    assert [(r["opportunity_id"], r["field"], r["value"]) for r in rejected] == [
        (None, "opportunities.id", "x8"),
        (7, "opportunities.value", "abc"),
    ]
    assert all(r["reason"] and r["rejected_at"] for r in rejected)


def test_a_bad_child_never_leaves_half_an_opportunity() -> None:
    batch = OpportunityBatch("UTC", reject_bad_rows=True)
    bad_child = (
        "<id>9</id><campaign><id>3</id><name>c</name></campaign>"
        "<prospects><prospect><id>1</id></prospect><prospect><id>oops</id></prospect></prospects>"
    )
    batch.add_result(result_of(page(bad_child)))
    tables = batch.build()
    assert set(tables) == {"rejected_rows"}


def test_a_later_page_showing_a_campaign_renamed_wins() -> None:
    batch = OpportunityBatch("UTC")
    for opportunity_id, name in ((1, "Old"), (2, "New")):
        batch.add_result(
            result_of(
                page(f"<id>{opportunity_id}</id><campaign><id>3</id><name>{name}</name></campaign>")
            )
        )
    assert rows(batch.build()["campaigns"]) == [{"id": 3, "name": "New", "cost": None}]


def test_unknown_nested_elements_are_kept_as_their_xml() -> None:
    batch = OpportunityBatch("UTC")
    batch.add_result(
        result_of(page("<id>4</id><custom><a>1</a><!-- c --><b/></custom><name>n</name>"))
    )
    row = rows(batch.build()["opportunities"])[0]
    assert row["custom"] == "<custom><a>1</a><!-- c --><b/></custom>"
    assert row["name"] == "n"
